//! The invoice template as a workbook (`.xlsx`), both ways: exports written a row at a
//! time in constant memory (`writer`), and imports that turn a workbook's sheet into the
//! CSV the import reads (`reader`), so that a workbook goes through every rule a CSV file
//! does. The template itself (columns, their names, status labels) is `csv_io`'s. Also
//! the aging report's files, CSV and workbook (`aging`).

mod aging;
mod reader;
mod writer;

pub use aging::{aging_csv, aging_workbook};
pub use reader::{as_template_csv, column_letter};
pub use writer::{InvoiceWorkbook, SHEET};
