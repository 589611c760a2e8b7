//! The import side. A file is read twice, both times streaming: [`ImportFile::open`]
//! checks it as a whole (size, encoding, delimiter, header, row count) before any work,
//! so that a file-level problem is one clear error; then [`RowReader`] yields typed rows
//! one at a time. Neither holds more than a record in memory. The first look at the
//! file's start is `sniff`'s, telling its encoding is `encoding`'s, and the file-level
//! problems are `problem`'s; here are the two passes and the typing of a row's cells.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use super::FileProblem;
use super::encoding::{Encoding, Utf8Check, decode, has_utf8_bom};
use super::records::{Record, Records};
use super::sniff::{SNIFF_BYTES, Start, sniff};
use super::template::{Column, restore};
use crate::domain::{Code, Id, ImportRow, InvoiceStatus, RowError};

/// The longest row accepted. No template row comes close (an observation is at most
/// 2,000 characters); a longer one is almost always a quote that is never closed, which
/// would otherwise swallow the rest of the file into one cell.
pub(super) const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Bounds on an imported file, refused before any work.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_rows: u64,
}

/// Where each template column sits in the file's rows.
#[derive(Clone, Debug)]
struct Layout {
    positions: Vec<Option<Column>>,
}

impl Layout {
    fn from_header(cells: &[String]) -> Result<Layout, FileProblem> {
        let mut positions = Vec::with_capacity(cells.len());
        for cell in cells {
            let column = Column::named(cell);
            if let Some(column) = column
                && positions.contains(&Some(column))
            {
                return Err(FileProblem::DuplicateColumn(column.header()));
            }
            positions.push(column);
        }
        let layout = Layout { positions };
        if !layout.has(Column::InvoiceId) {
            return Err(FileProblem::MissingColumn(Column::InvoiceId.header()));
        }
        if !Column::APPLIED.into_iter().any(|c| layout.has(c)) {
            return Err(FileProblem::NothingToApply);
        }
        Ok(layout)
    }

    fn has(&self, column: Column) -> bool {
        self.positions.contains(&Some(column))
    }
}

/// A checked file, ready to be read row by row.
pub struct ImportFile {
    file: File,
    encoding: Encoding,
    delimiter: u8,
    /// Bytes before the header: a byte-order mark and Excel's `sep=` line.
    skip: u64,
    /// Lines before the header (1 after a `sep=` line).
    lines_skipped: u64,
    layout: Layout,
    rows: u64,
}

impl ImportFile {
    /// Checks the whole file in one streaming pass: its size, its kind, its encoding
    /// (UTF-8 when every byte is valid UTF-8, else Windows-1252), its delimiter, its
    /// header and its row count.
    pub fn open(mut file: File, limits: Limits) -> Result<ImportFile, FileProblem> {
        let unreadable = |e: io::Error| FileProblem::Unreadable(e.to_string());
        let bytes = file.metadata().map_err(unreadable)?.len();
        if bytes > limits.max_bytes {
            return Err(FileProblem::TooLarge {
                bytes,
                max: limits.max_bytes,
            });
        }
        file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
        let mut start = Vec::with_capacity(SNIFF_BYTES.min(bytes as usize));
        (&mut file)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut start)
            .map_err(unreadable)?;
        let Start {
            skip,
            lines_skipped,
            delimiter,
        } = sniff(&start)?;

        file.seek(SeekFrom::Start(skip)).map_err(unreadable)?;
        let checker = Utf8Check::new(&mut file);
        let input = BufReader::with_capacity(256 * 1024, checker);
        let mut records = Records::new(input, delimiter, MAX_RECORD_BYTES);
        let mut record = Record::default();
        let mut header: Option<Vec<Vec<u8>>> = None;
        let mut rows = 0_u64;
        while records
            .read(&mut record)
            .map_err(|e| FileProblem::of_record(e, lines_skipped, header.is_none()))?
        {
            if header.is_none() {
                header = Some(record.iter().map(<[u8]>::to_vec).collect());
            } else if !record.is_blank() {
                rows += 1;
                if rows > limits.max_rows {
                    return Err(FileProblem::TooManyRows {
                        max: limits.max_rows,
                    });
                }
            }
        }
        let checker = records.into_inner().into_inner();
        if checker.binary {
            return Err(FileProblem::Binary);
        }
        let encoding = checker.encoding(has_utf8_bom(&start))?;
        let header = header.ok_or(FileProblem::Empty)?;
        let cells: Vec<String> = header.iter().map(|c| decode(c, encoding)).collect();
        let layout = Layout::from_header(&cells)?;
        Ok(ImportFile {
            file,
            encoding,
            delimiter,
            skip,
            lines_skipped,
            layout,
            rows,
        })
    }

    /// Data rows in the file (blank rows not counted).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Where `column` sits in the file's rows (its index from 0), if the file has it.
    pub fn position(&self, column: Column) -> Option<usize> {
        self.layout
            .positions
            .iter()
            .position(|c| *c == Some(column))
    }

    /// Reads the rows, after the header.
    pub fn into_rows(mut self) -> Result<RowReader, FileProblem> {
        let lines_skipped = self.lines_skipped;
        self.file
            .seek(SeekFrom::Start(self.skip))
            .map_err(|e| FileProblem::Unreadable(e.to_string()))?;
        let input = BufReader::with_capacity(256 * 1024, self.file);
        let mut records = Records::new(input, self.delimiter, MAX_RECORD_BYTES);
        let mut record = Record::default();
        // The header was read once already: a failure now is a fault of the disk.
        records
            .read(&mut record)
            .map_err(|e| FileProblem::of_record(e, lines_skipped, true))?;
        Ok(RowReader {
            records,
            record,
            encoding: self.encoding,
            delimiter: self.delimiter,
            lines_skipped,
            layout: self.layout,
        })
    }
}

/// The rows of a checked file, typed, in file order. Blank rows are skipped.
pub struct RowReader {
    records: Records<BufReader<File>>,
    record: Record,
    encoding: Encoding,
    delimiter: u8,
    lines_skipped: u64,
    layout: Layout,
}

impl RowReader {
    /// The next row, or why it is refused; `None` at the end of the file.
    pub fn next_row(&mut self) -> Option<Result<Result<ImportRow, RowError>, FileProblem>> {
        loop {
            match self.records.read(&mut self.record) {
                Ok(false) => return None,
                Ok(true) if self.record.is_blank() => continue,
                Ok(true) => return Some(Ok(self.parse())),
                Err(e) => return Some(Err(FileProblem::of_record(e, self.lines_skipped, false))),
            }
        }
    }

    /// The record just read, typed: each cell is checked in turn, and the first fault
    /// refuses the row.
    fn parse(&self) -> Result<ImportRow, RowError> {
        let line = self.lines_skipped + self.record.line;
        self.check_width(line)?;
        let invoice_id = self.invoice_id(line)?;
        let status = self.status(line)?;
        let version = self.version(line)?;
        let optional = |text: String| (!text.is_empty()).then_some(text);
        Ok(ImportRow {
            line,
            invoice_id,
            status,
            payment_link: self.cell(Column::PaymentLink).map(optional),
            observation: self.cell(Column::Observation).map(optional),
            version,
        })
    }

    /// Refuses a row with fewer cells than the header (a missing cell would clear its
    /// column), or with more that hold anything (most likely a delimiter in a value).
    fn check_width(&self, line: u64) -> Result<(), RowError> {
        let fields = self.layout.positions.len();
        if self.record.len() < fields {
            return Err(RowError::new(
                line,
                None,
                Code::MalformedRow,
                format!(
                    "the row has {} cells but the header has {fields}: a missing cell would \
                     clear its column",
                    self.record.len()
                ),
            ));
        }
        let mut extra = self.record.iter().skip(fields);
        if extra.any(|cell| !cell.iter().all(u8::is_ascii_whitespace)) {
            return Err(RowError::new(
                line,
                None,
                Code::MalformedRow,
                format!(
                    "the row has {} cells but the header has {fields}: quote any value that \
                     contains `{}`",
                    self.record.len(),
                    char::from(self.delimiter).escape_default()
                ),
            ));
        }
        Ok(())
    }

    /// The text of `column`'s cell, decoded, restored and trimmed; `None` when the file
    /// has no such column.
    fn cell(&self, column: Column) -> Option<String> {
        let position = self
            .layout
            .positions
            .iter()
            .position(|c| *c == Some(column))?;
        let bytes = self.record.get(position).unwrap_or_default();
        Some(restore(&decode(bytes, self.encoding)).trim().to_owned())
    }

    /// The row's invoice id: required, and shaped as every id is.
    fn invoice_id(&self, line: u64) -> Result<Id, RowError> {
        let invoice_column = Column::InvoiceId.header();
        let invoice_id = self.cell(Column::InvoiceId).unwrap_or_default();
        if invoice_id.is_empty() {
            return Err(RowError::new(
                line,
                Some(invoice_column),
                Code::MissingValue,
                "the Invoice ID is empty",
            ));
        }
        Id::parse(invoice_id)
            .map_err(|e| RowError::new(line, Some(invoice_column), e.code(), e.to_string()))
    }

    /// The status the row asks for, in any language a status is read in; `None` when the
    /// file has no Status column. A Status column's cell may not be empty.
    fn status(&self, line: u64) -> Result<Option<InvoiceStatus>, RowError> {
        let Some(text) = self.cell(Column::Status) else {
            return Ok(None);
        };
        if text.is_empty() {
            return Err(RowError::new(
                line,
                Some(Column::Status.header()),
                Code::MissingValue,
                "the Status is empty: write Open, Paid, Cancelled or Overdue",
            ));
        }
        InvoiceStatus::parse_loose(&text).map(Some).map_err(|_| {
            RowError::new(
                line,
                Some(Column::Status.header()),
                Code::InvalidStatus,
                format!(
                    "`{}` is not a status: write Open, Paid, Cancelled or Overdue \
                     (Spanish and Portuguese names work too)",
                    text.chars().take(40).collect::<String>()
                ),
            )
        })
    }

    /// The invoice's version when the file was exported; `None` when the file has no
    /// Version column. A Version column's cell may not be empty.
    fn version(&self, line: u64) -> Result<Option<i32>, RowError> {
        let Some(text) = self.cell(Column::Version) else {
            return Ok(None);
        };
        if text.is_empty() {
            return Err(RowError::new(
                line,
                Some(Column::Version.header()),
                Code::MissingValue,
                "the Version is empty: keep the exported number (it guards against \
                 undoing later changes), or leave the whole column out",
            ));
        }
        parse_version(&text).map(Some).ok_or_else(|| {
            RowError::new(
                line,
                Some(Column::Version.header()),
                Code::InvalidVersion,
                format!(
                    "`{}` is not a version: leave the exported number as it is",
                    text.chars().take(40).collect::<String>()
                ),
            )
        })
    }
}

/// A version as exported, or as a spreadsheet may rewrite it (`3.0`).
fn parse_version(text: &str) -> Option<i32> {
    let digits = text.strip_suffix(".0").unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|v| *v >= 1)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::domain::RefusalCode;

    const LIMITS: Limits = Limits {
        max_bytes: 1 << 20,
        max_rows: 100,
    };

    fn file(bytes: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        file
    }

    fn read(bytes: &[u8]) -> Result<Vec<Result<ImportRow, RowError>>, FileProblem> {
        let checked = ImportFile::open(file(bytes), LIMITS)?;
        let rows = checked.rows();
        let mut reader = checked.into_rows()?;
        let mut all = vec![];
        while let Some(row) = reader.next_row() {
            all.push(row.unwrap());
        }
        assert_eq!(all.len() as u64, rows, "the check and the read count alike");
        Ok(all)
    }

    fn good_rows(bytes: &[u8]) -> Vec<ImportRow> {
        read(bytes)
            .unwrap()
            .into_iter()
            .map(|row| row.unwrap())
            .collect()
    }

    #[test]
    fn excel_semicolons_with_bom_crlf_and_windows_1252() {
        let mut bytes =
            b"Invoice ID;Status;Observation\r\nI-1;Pago;Cobran\xe7a \x80 ok\r\n".to_vec();
        let rows = good_rows(&bytes);
        assert_eq!(rows[0].status, Some(InvoiceStatus::Paid));
        assert_eq!(rows[0].observation, Some(Some("Cobrança € ok".into())));

        bytes = "\u{feff}Invoice ID,Status,Observation\nI-1,paid,\"a, b\nc\"\nI-2,Vencido,\n"
            .as_bytes()
            .to_vec();
        let rows = good_rows(&bytes);
        assert_eq!(rows[0].observation, Some(Some("a, b\nc".into())));
        assert_eq!(rows[1].line, 4, "the quoted newline counts as a line");
        assert_eq!(rows[1].status, Some(InvoiceStatus::Overdue));
        assert_eq!(rows[1].observation, Some(None));
    }

    #[test]
    fn columns_in_any_order_extra_ones_ignored_and_a_sep_line() {
        let rows = good_rows(b"sep=;\r\nNotes;STATUS;invoice_id;Version\r\nx;Open;I-9;3.0\r\n");
        assert_eq!(rows[0].invoice_id, "I-9");
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[0].version, Some(3));
        assert_eq!(
            rows[0].payment_link, None,
            "no Payment Link column: left alone"
        );
    }

    #[test]
    fn neutralised_cells_come_back_as_written() {
        let rows = good_rows(b"Invoice ID,Observation\nI-1,'=1+1\n");
        assert_eq!(rows[0].observation, Some(Some("=1+1".into())));
    }

    #[test]
    fn file_level_problems_are_one_error_each() {
        let problem = |bytes: &[u8]| read(bytes).err().unwrap();
        assert_eq!(problem(b""), FileProblem::Empty);
        assert_eq!(problem(b"PK\x03\x04rest"), FileProblem::Spreadsheet);
        assert_eq!(problem(b"\xff\xfeI\0"), FileProblem::Utf16);
        assert_eq!(
            problem(b"Invoice ID,Status\nI\0,Paid\n"),
            FileProblem::Binary
        );
        assert_eq!(
            problem(b"Id,Status\nI-1,Paid\n"),
            FileProblem::MissingColumn("Invoice ID")
        );
        assert_eq!(
            problem(b"Invoice ID,Value\nI-1,10\n"),
            FileProblem::NothingToApply
        );
        assert_eq!(
            problem(b"Invoice ID,Status,status\n"),
            FileProblem::DuplicateColumn("Status")
        );
        let many = format!("Invoice ID,Status\n{}", "I,Paid\n".repeat(101));
        assert_eq!(
            problem(many.as_bytes()),
            FileProblem::TooManyRows { max: 100 }
        );
        let open_quote = format!("Invoice ID,Observation\nI-1,\"{}\n", "x".repeat(70_000));
        assert!(matches!(
            problem(open_quote.as_bytes()),
            FileProblem::Malformed { line: 2, .. }
        ));
        // Millions of empty cells, a byte each: refused at a spreadsheet's width.
        let wide_header = format!("Invoice ID,Status{}\nI-1,Paid\n", ",".repeat(100_000));
        let wide_header = problem(wide_header.as_bytes());
        assert_eq!(
            wide_header,
            FileProblem::TooManyCells {
                line: 1,
                header: true
            }
        );
        assert_eq!(wide_header.code(), RefusalCode::InvalidHeader);
        let wide_row = format!(
            "sep=;\nInvoice ID;Status\nI-1;Paid\nI-2;Paid{}\n",
            ";".repeat(20_000)
        );
        let wide_row = problem(wide_row.as_bytes());
        assert_eq!(
            wide_row,
            FileProblem::TooManyCells {
                line: 4,
                header: false
            }
        );
        assert_eq!(wide_row.code(), RefusalCode::MalformedRow);
        let big = ImportFile::open(
            file(&[b'a'; 2000]),
            Limits {
                max_bytes: 1000,
                max_rows: 1,
            },
        );
        assert!(matches!(
            big.err(),
            Some(FileProblem::TooLarge { bytes: 2000, .. })
        ));
    }

    #[test]
    fn bad_rows_are_refused_with_line_and_column() {
        let all = read(
            b"Invoice ID,Status,Version\n,Paid,1\nI-2,Payed,1\nI-3,,1\nI-4,Paid,x\nI-5,Paid,1,extra\nI-6,Paid,1,\n\n,,\n",
        )
        .unwrap();
        let errors: Vec<(u64, Option<&str>, Code)> = all
            .iter()
            .filter_map(|row| row.as_ref().err())
            .map(|e| (e.line, e.column.as_deref(), e.code))
            .collect();
        assert_eq!(
            errors,
            vec![
                (2, Some("Invoice ID"), Code::MissingValue),
                (3, Some("Status"), Code::InvalidStatus),
                (4, Some("Status"), Code::MissingValue),
                (5, Some("Version"), Code::InvalidVersion),
                (6, None, Code::MalformedRow),
            ]
        );
        assert_eq!(
            all.len(),
            6,
            "an empty trailing cell is fine; blank rows are skipped"
        );
    }

    #[test]
    fn mixed_encodings_are_refused_rather_than_garbled() {
        // UTF-8 accents and a Windows-1252 byte in one file; a BOM with a stray byte.
        let mixed = b"Invoice ID,Observation\nI-1,Cobran\xc3\xa7a\nI-2,caf\xe9\n";
        assert_eq!(read(mixed).err(), Some(FileProblem::MixedEncoding));
        let bom = b"\xef\xbb\xbfInvoice ID,Observation\nI-1,S\xe3o\n";
        assert_eq!(read(bom).err(), Some(FileProblem::MixedEncoding));
        // Only Windows-1252 bytes: Windows-1252.
        let legacy = good_rows(b"Invoice ID,Observation\nI-1,S\xe3o\n");
        assert_eq!(legacy[0].observation, Some(Some("São".into())));
    }

    #[test]
    fn short_rows_and_empty_versions_are_refused_and_blank_lines_lead_nowhere() {
        let all = read(
            b"\r\n\nInvoice ID;Status;Payment Link;Version\nI-1;Paid\nI-2;Paid;;\nI-3;Pagada;;2\n",
        )
        .unwrap();
        let codes: Vec<(u64, Option<&str>, Option<Code>)> = all
            .iter()
            .map(|row| match row {
                Ok(row) => (row.line, None, None),
                Err(e) => (e.line, e.column.as_deref(), Some(e.code)),
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                (4, None, Some(Code::MalformedRow)),
                (5, Some("Version"), Some(Code::MissingValue)),
                (6, None, None),
            ]
        );
    }
}
