//! The invoice CSV template and both directions over it: the streaming writer behind
//! exports, and the reader behind imports, which takes files as spreadsheets really write
//! them (UTF-8 with or without BOM, or Windows-1252; comma, semicolon or tab; CRLF or LF;
//! columns in any order). It turns bytes into typed rows and says what is wrong with a
//! file or a row; what a row *means* for an invoice is `domain::import`'s business, and
//! nothing here touches the database.

mod reader;
mod records;
mod template;
mod writer;

pub use reader::{FileProblem, ImportFile, Limits, RowReader};
pub use template::Column;
pub use writer::InvoiceCsvWriter;
