//! The invoice template as a workbook (`.xlsx`): one sheet, `Invoices`, written a row at a
//! time in constant memory (rows go to a temporary file, not to memory), so that an export
//! of a million rows holds a row. The header row is frozen and filtered; ids and other
//! text are text cells (Excel never turns `00123` into `123`); due dates are dates; the
//! status column offers its four values as a list; money is a number when a spreadsheet's
//! float keeps it exactly (15 significant digits), else text with every digit.

use std::collections::HashMap;
use std::io::Write;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_xlsxwriter::{DataValidation, Format, Workbook, XlsxError};

use crate::csv_io::{Column, status_label};
use crate::domain::{Invoice, InvoiceStatus};

/// The sheet's name (the importer looks for it first).
pub const SHEET: &str = "Invoices";

/// Significant digits a spreadsheet's number keeps (IEEE double, as Excel shows them).
const EXACT_DIGITS: u32 = 15;

/// Writes invoices in the template's columns into a workbook.
pub struct InvoiceWorkbook {
    workbook: Workbook,
    /// Rows written, the header included.
    rows: u32,
    text: Format,
    date: Format,
    whole: Format,
    /// Number formats for money, by decimal places (`0.00`, `0.0000`).
    money: HashMap<u32, Format>,
}

impl InvoiceWorkbook {
    /// A workbook with its header row.
    pub fn new() -> Result<InvoiceWorkbook, XlsxError> {
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(SHEET)?;
        let header = Format::new().set_bold();
        for (at, column) in Column::ALL.into_iter().enumerate() {
            sheet.write_string_with_format(0, col(at), column.header(), &header)?;
            sheet.set_column_width(col(at), width(column))?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(InvoiceWorkbook {
            workbook,
            rows: 1,
            text: Format::new().set_num_format("@"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            whole: Format::new().set_num_format("0"),
            money: HashMap::new(),
        })
    }

    /// Adds one invoice, with the status it shows on `today`.
    pub fn write(&mut self, invoice: &Invoice, today: NaiveDate) -> Result<(), XlsxError> {
        let row = self.rows;
        let money = self.money_format(invoice.value.amount());
        let sheet = self.workbook.worksheet_from_index(0)?;
        let text = |sheet: &mut rust_xlsxwriter::Worksheet, column: Column, value: &str| {
            sheet
                .write_string_with_format(row, at(column), value, &self.text)
                .map(|_| ())
        };
        text(sheet, Column::InvoiceId, &invoice.id)?;
        text(sheet, Column::FriendlyId, &invoice.friendly_id)?;
        text(sheet, Column::AccountId, &invoice.account_id)?;
        text(sheet, Column::OrderId, &invoice.order_id)?;
        sheet.write_number_with_format(
            row,
            at(Column::Installment),
            f64::from(invoice.installment),
            &self.whole,
        )?;
        match money {
            Some((number, format)) => {
                sheet.write_number_with_format(row, at(Column::Value), number, &format)?;
            }
            None => text(sheet, Column::Value, &invoice.value.amount().to_string())?,
        }
        text(sheet, Column::Currency, &invoice.currency)?;
        sheet.write_date_with_format(row, at(Column::DueDate), invoice.due_date, &self.date)?;
        text(
            sheet,
            Column::Status,
            status_label(invoice.status_on(today)),
        )?;
        text(
            sheet,
            Column::PaymentLink,
            invoice.payment_link.as_deref().unwrap_or_default(),
        )?;
        text(
            sheet,
            Column::Observation,
            invoice.observation.as_deref().unwrap_or_default(),
        )?;
        sheet.write_number_with_format(
            row,
            at(Column::Version),
            invoice.version as f64,
            &self.whole,
        )?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far, the header included.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// The filter over every row, the status list, and the workbook's bytes into `out`.
    pub fn finish(mut self, out: impl Write + Send) -> Result<(), XlsxError> {
        let last = self.rows - 1;
        let sheet = self.workbook.worksheet_from_index(0)?;
        sheet.autofilter(0, 0, last, col(Column::ALL.len() - 1))?;
        if last > 0 {
            let statuses = [
                InvoiceStatus::Open,
                InvoiceStatus::Paid,
                InvoiceStatus::Cancelled,
                InvoiceStatus::Overdue,
            ]
            .map(status_label);
            let list = DataValidation::new()
                .allow_list_strings(&statuses)?
                .set_error_title("Status")?
                .set_error_message("Open, Paid, Cancelled or Overdue")?;
            sheet.add_data_validation(1, at(Column::Status), last, at(Column::Status), &list)?;
        }
        self.workbook.save_to_writer(out)
    }

    /// The number and its format when a spreadsheet keeps `value` exactly; `None` when it
    /// must be text.
    fn money_format(&mut self, value: Decimal) -> Option<(f64, Format)> {
        let (number, places) = exact_number(value)?;
        let format = self
            .money
            .entry(places as u32)
            .or_insert_with(|| Format::new().set_num_format(format!("0.{}", "0".repeat(places))))
            .clone();
        Some((number, format))
    }
}

/// `value` as a spreadsheet number, with the decimals to show (at least two), when a
/// spreadsheet's float keeps it exactly: at most [`EXACT_DIGITS`] significant digits.
pub(super) fn exact_number(value: Decimal) -> Option<(f64, usize)> {
    let digits = value.mantissa().unsigned_abs().to_string().len() as u32;
    if digits > EXACT_DIGITS {
        return None;
    }
    let number = rust_decimal::prelude::ToPrimitive::to_f64(&value)?;
    Some((number, value.scale().max(2) as usize))
}

fn col(index: usize) -> u16 {
    u16::try_from(index).expect("a dozen columns")
}

/// A column's place in the sheet.
fn at(column: Column) -> u16 {
    col(Column::ALL
        .iter()
        .position(|c| *c == column)
        .expect("every column is in ALL"))
}

/// A width that shows a column's usual content.
fn width(column: Column) -> f64 {
    match column {
        Column::InvoiceId | Column::PaymentLink | Column::Observation => 36.0,
        Column::AccountId | Column::OrderId => 24.0,
        Column::DueDate | Column::Value | Column::FriendlyId => 14.0,
        _ => 11.0,
    }
}
