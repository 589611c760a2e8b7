//! The streaming side: invoices in, CSV bytes out, a chunk at a time, so that an export
//! of any size holds one chunk in memory.

use chrono::NaiveDate;

use super::template::{Column, neutralise, status_label};
use crate::domain::Invoice;

/// Excel reads a CSV without a byte-order mark in the machine's legacy code page, which
/// garbles every accent; with it, Excel, LibreOffice and our importer all read UTF-8.
const UTF8_BOM: &[u8] = "\u{feff}".as_bytes();

/// Writes invoices in the template's columns (RFC 4180: comma, CRLF, quotes as needed).
pub struct InvoiceCsvWriter {
    csv: csv::Writer<Vec<u8>>,
    delimiter: u8,
}

/// Every text cell quoted (numbers are left bare for spreadsheets to read as numbers): a
/// delimiter inside a text never splits it, in any reader that honours quotes.
fn csv_writer(delimiter: u8, start: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .delimiter(delimiter)
        .quote_style(csv::QuoteStyle::NonNumeric)
        .terminator(csv::Terminator::CRLF)
        .from_writer(start)
}

impl InvoiceCsvWriter {
    /// A writer whose first chunk holds the byte-order mark and the header.
    pub fn new(delimiter: u8) -> InvoiceCsvWriter {
        let mut csv = csv_writer(delimiter, UTF8_BOM.to_vec());
        csv.write_record(Column::ALL.map(Column::header))
            .expect("writing to memory cannot fail");
        InvoiceCsvWriter { csv, delimiter }
    }

    /// Adds one invoice, with the status it shows on `today`. Text that other systems or
    /// people chose (ids, observation) is neutralised against spreadsheet formulas; money
    /// is written with its exact decimals.
    pub fn write(&mut self, invoice: &Invoice, today: NaiveDate) {
        let installment = invoice.installment.to_string();
        let value = invoice.value.to_string();
        let due_date = invoice.due_date.to_string();
        let version = invoice.version.to_string();
        let record: [&str; 12] = [
            &neutralise(&invoice.id),
            &neutralise(&invoice.friendly_id),
            &neutralise(&invoice.account_id),
            &neutralise(&invoice.order_id),
            &installment,
            &value,
            &neutralise(&invoice.currency),
            &due_date,
            status_label(invoice.status_on(today)),
            &neutralise(invoice.payment_link.as_deref().unwrap_or_default()),
            &neutralise(invoice.observation.as_deref().unwrap_or_default()),
            &version,
        ];
        self.csv
            .write_record(record)
            .expect("writing to memory cannot fail");
    }

    /// Bytes written so far (give or take the last few records, still buffered).
    pub fn buffered(&self) -> usize {
        self.csv.get_ref().len()
    }

    /// Takes the bytes written so far, leaving the writer empty.
    pub fn take(&mut self) -> Vec<u8> {
        let full = std::mem::replace(&mut self.csv, csv_writer(self.delimiter, Vec::new()));
        full.into_inner()
            .map_err(|e| e.into_error())
            .expect("writing to memory cannot fail")
    }
}
