//! The receivables aging report as files: CSV (the buckets of each currency) and a
//! workbook (the same on a sheet `Aging`, and the accounts most past due on a sheet
//! `Most past due`). Small: written in memory.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::writer::exact_number;
use crate::domain::{AgingBucket, ReceivablesAging};

/// A bucket as the files name it.
fn label(bucket: AgingBucket) -> &'static str {
    match bucket {
        AgingBucket::NotDue => "Not yet due",
        AgingBucket::Days1To30 => "1-30",
        AgingBucket::Days31To60 => "31-60",
        AgingBucket::Days61To90 => "61-90",
        AgingBucket::Over90 => "Over 90",
    }
}

const HEADER: [&str; 5] = ["As of", "Currency", "Days past due", "Invoices", "Value"];

/// Each currency's rows: its five buckets, then its total.
fn rows(report: &ReceivablesAging) -> Vec<(String, &'static str, i64, rust_decimal::Decimal)> {
    let mut currencies: Vec<&str> = report.totals.iter().map(|t| t.currency.as_str()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    let mut rows = Vec::new();
    for currency in currencies {
        let of = |pick: &dyn Fn(AgingBucket) -> bool| {
            report
                .totals
                .iter()
                .filter(|t| t.currency == currency && pick(t.bucket))
                .fold((0, rust_decimal::Decimal::ZERO), |(n, v), t| {
                    (n + t.count, v + t.value)
                })
        };
        for bucket in AgingBucket::ALL {
            let (count, value) = of(&|b| b == bucket);
            rows.push((currency.to_owned(), label(bucket), count, value));
        }
        let (count, value) = of(&|_| true);
        rows.push((currency.to_owned(), "Total", count, value));
    }
    rows
}

/// The buckets as CSV (UTF-8, CRLF, money exact).
pub fn aging_csv(report: &ReceivablesAging) -> Vec<u8> {
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let as_of = report.as_of.to_string();
    let mut write = |record: &[&str]| csv.write_record(record).expect("writing to memory");
    write(&HEADER);
    for (currency, bucket, count, value) in rows(report) {
        write(&[
            &as_of,
            &currency,
            bucket,
            &count.to_string(),
            &money_text(value),
        ]);
    }
    csv.into_inner().expect("writing to memory")
}

/// The report as a workbook.
pub fn aging_workbook(report: &ReceivablesAging) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let whole = Format::new().set_num_format("0");
    let sheet = book.add_worksheet();
    sheet.set_name("Aging")?;
    for (at, title) in HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, at as u16, *title, &bold)?;
    }
    for (i, (currency, bucket, count, value)) in rows(report).into_iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_date_with_format(row, 0, report.as_of, &date)?;
        sheet.write_string(row, 1, &currency)?;
        sheet.write_string(row, 2, bucket)?;
        sheet.write_number_with_format(row, 3, count as f64, &whole)?;
        money(sheet, row, 4, value)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.set_column_width(2, 14)?;
    sheet.set_column_width(4, 18)?;

    let most = book.add_worksheet();
    most.set_name("Most past due")?;
    for (at, title) in [
        "Currency",
        "Account ID",
        "Invoices past due",
        "Value past due",
    ]
    .iter()
    .enumerate()
    {
        most.write_string_with_format(0, at as u16, *title, &bold)?;
    }
    for (i, account) in report.most_overdue.iter().enumerate() {
        let row = i as u32 + 1;
        most.write_string(row, 0, &account.currency)?;
        most.write_string(row, 1, &account.account_id)?;
        most.write_number_with_format(row, 2, account.count as f64, &whole)?;
        money(most, row, 3, account.value)?;
    }
    most.set_column_width(1, 28)?;
    most.set_column_width(3, 18)?;
    book.save_to_buffer()
}

/// Money exact: a number when a spreadsheet keeps it, else its text.
fn money(
    sheet: &mut rust_xlsxwriter::Worksheet,
    row: u32,
    column: u16,
    value: rust_decimal::Decimal,
) -> Result<(), XlsxError> {
    match exact_number(value) {
        Some((number, places)) => {
            let format = Format::new().set_num_format(format!("0.{}", "0".repeat(places)));
            sheet.write_number_with_format(row, column, number, &format)?;
        }
        None => {
            sheet.write_string(row, column, money_text(value))?;
        }
    }
    Ok(())
}

/// Money as text, exact, with at least two decimals (`101.00`), as the API writes it.
fn money_text(mut value: rust_decimal::Decimal) -> String {
    if value.scale() < 2 {
        value.rescale(2);
    }
    value.to_string()
}
