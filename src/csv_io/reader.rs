//! The import side. A file is read twice, both times streaming: [`ImportFile::open`]
//! checks it as a whole (size, encoding, delimiter, header, row count) before any work,
//! so that a file-level problem is one clear error; then [`RowReader`] yields typed rows
//! one at a time. Neither holds more than a record in memory.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use super::records::{MAX_CELLS, Record, RecordError, Records};
use super::template::{Column, restore};
use crate::domain::{Code, ImportRow, InvoiceStatus, RefusalCode, RowError, check_id};

/// The longest row accepted. No template row comes close (an observation is at most
/// 2,000 characters); a longer one is almost always a quote that is never closed, which
/// would otherwise swallow the rest of the file into one cell.
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// How much of the file's start is looked at to recognise its kind and delimiter.
const SNIFF_BYTES: usize = 64 * 1024;

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Bounds on an imported file, refused before any work.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_rows: u64,
}

/// What is wrong with a file as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileProblem {
    TooLarge {
        bytes: u64,
        max: u64,
    },
    TooManyRows {
        max: u64,
    },
    Empty,
    Spreadsheet,
    Utf16,
    Binary,
    MixedEncoding,
    MissingColumn(&'static str),
    DuplicateColumn(&'static str),
    NothingToApply,
    Malformed {
        line: u64,
        message: String,
    },
    /// A record wider than any spreadsheet: the header (`INVALID_HEADER`) or a data row
    /// (`MALFORMED_ROW`).
    TooManyCells {
        line: u64,
        header: bool,
    },
    Unreadable(String),
}

impl FileProblem {
    pub fn code(&self) -> RefusalCode {
        match self {
            FileProblem::TooLarge { .. } => RefusalCode::FileTooLarge,
            FileProblem::TooManyRows { .. } => RefusalCode::TooManyRows,
            FileProblem::MissingColumn(_)
            | FileProblem::DuplicateColumn(_)
            | FileProblem::NothingToApply
            | FileProblem::TooManyCells { header: true, .. } => RefusalCode::InvalidHeader,
            FileProblem::TooManyCells { header: false, .. } => RefusalCode::MalformedRow,
            FileProblem::Empty
            | FileProblem::Spreadsheet
            | FileProblem::Utf16
            | FileProblem::Binary
            | FileProblem::MixedEncoding
            | FileProblem::Malformed { .. }
            | FileProblem::Unreadable(_) => RefusalCode::InvalidFile,
        }
    }
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = Column::ALL.map(Column::header).join(", ");
        match self {
            FileProblem::TooLarge { bytes, max } => {
                write!(f, "the file has {bytes} bytes; the limit is {max}")
            }
            FileProblem::TooManyRows { max } => {
                write!(f, "the file has more than {max} rows: split it")
            }
            FileProblem::Empty => write!(f, "the file is empty: it needs a header row ({columns})"),
            FileProblem::Spreadsheet => write!(
                f,
                "this is a spreadsheet workbook, not CSV: use \"Save as\" → CSV (UTF-8)"
            ),
            FileProblem::Utf16 => write!(
                f,
                "the file is UTF-16 (Excel's \"Unicode Text\"): save it as \"CSV UTF-8\" instead"
            ),
            FileProblem::Binary => write!(f, "the file is binary, not CSV text"),
            FileProblem::MixedEncoding => write!(
                f,
                "the file is not valid UTF-8: it mixes UTF-8 with another encoding, or has a \
                 UTF-8 byte-order mark with other bytes; save it again as \"CSV UTF-8\""
            ),
            FileProblem::MissingColumn(column) => write!(
                f,
                "the header has no `{column}` column; expected the template's columns: {columns}"
            ),
            FileProblem::DuplicateColumn(column) => {
                write!(f, "the header names `{column}` twice")
            }
            FileProblem::NothingToApply => write!(
                f,
                "the header has none of the columns an import applies (Status, Payment Link, \
                 Observation); expected the template's columns: {columns}"
            ),
            FileProblem::Malformed { line, message } => write!(f, "line {line}: {message}"),
            FileProblem::TooManyCells { line, header } => write!(
                f,
                "line {line}: the {} has more than {MAX_CELLS} cells, more than a spreadsheet \
                 holds; the template has {}",
                if *header { "header" } else { "row" },
                Column::ALL.len()
            ),
            FileProblem::Unreadable(why) => write!(f, "the file cannot be read: {why}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Windows1252,
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
        let (skip, lines_skipped, delimiter) = sniff(&start)?;

        file.seek(SeekFrom::Start(skip)).map_err(unreadable)?;
        let checker = Utf8Check::new(&mut file);
        let input = BufReader::with_capacity(256 * 1024, checker);
        let mut records = Records::new(input, delimiter, MAX_RECORD_BYTES);
        let mut record = Record::default();
        let mut header: Option<Vec<Vec<u8>>> = None;
        let mut rows = 0_u64;
        while records
            .read(&mut record)
            .map_err(|e| problem(e, lines_skipped, header.is_none()))?
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
        let encoding = checker.encoding(start.starts_with(UTF8_BOM))?;
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
            .map_err(|e| problem(e, lines_skipped, true))?;
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

/// The file problem of a record that could not be read; `header` when it is the first.
fn problem(error: RecordError, lines_skipped: u64, header: bool) -> FileProblem {
    match error {
        RecordError::TooManyCells { line } => FileProblem::TooManyCells {
            line: line + lines_skipped,
            header,
        },
        RecordError::Io(e) => FileProblem::Unreadable(e.to_string()),
        RecordError::Unclosed { line } => FileProblem::Malformed {
            line: line + lines_skipped,
            message: "a quote (\") opened here is never closed, so the rest of the file \
                      would be one cell: close it, or remove it"
                .into(),
        },
        RecordError::TooLong { line } => FileProblem::Malformed {
            line: line + lines_skipped,
            message: format!(
                "a row of more than {MAX_RECORD_BYTES} bytes: most likely a quote (\") \
                 that is never closed"
            ),
        },
    }
}

/// Recognises the file's kind from its first bytes, and finds where the header starts
/// and which delimiter it uses.
fn sniff(start: &[u8]) -> Result<(u64, u64, u8), FileProblem> {
    if start.is_empty() {
        return Err(FileProblem::Empty);
    }
    if start.starts_with(b"PK\x03\x04") || start.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(FileProblem::Spreadsheet);
    }
    if start.starts_with(&[0xFF, 0xFE]) || start.starts_with(&[0xFE, 0xFF]) {
        return Err(FileProblem::Utf16);
    }
    let mut skip = if start.starts_with(UTF8_BOM) { 3 } else { 0 };
    // Blank lines before the header: the parser skips them; so does the sniffing.
    let mut blank_lines = 0;
    while let Some(byte @ (b'\r' | b'\n')) = start.get(skip) {
        blank_lines += u64::from(*byte == b'\n');
        skip += 1;
    }
    // Excel writes `sep=;` as a first line to name the delimiter.
    let rest = &start[skip..];
    let newline = rest.iter().position(|b| *b == b'\n');
    let first_line = &rest[..newline.unwrap_or(rest.len())];
    let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    if first_line.len() == 5 && first_line[..4].eq_ignore_ascii_case(b"sep=") {
        skip += newline.map_or(rest.len(), |at| at + 1);
        return Ok((skip as u64, blank_lines + 1, first_line[4]));
    }
    Ok((skip as u64, blank_lines, delimiter_of(first_line)))
}

/// The delimiter of a header line: whichever of comma, semicolon and tab occurs most
/// outside quotes (a comma when none does).
fn delimiter_of(line: &[u8]) -> u8 {
    let mut counts = [0_usize; 3];
    let mut quoted = false;
    for byte in line {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let best = (0..3).max_by_key(|i| (counts[*i], 3 - i)).unwrap_or(0);
    candidates[best]
}

/// Passes bytes through while checking that they are valid UTF-8 and free of NUL.
struct Utf8Check<R> {
    inner: R,
    /// Some bytes are not UTF-8.
    invalid: bool,
    /// Some characters are UTF-8 beyond ASCII.
    multibyte: bool,
    binary: bool,
    /// The start of a character split across two reads.
    pending: Vec<u8>,
}

impl<R: Read> Utf8Check<R> {
    fn new(inner: R) -> Utf8Check<R> {
        Utf8Check {
            inner,
            invalid: false,
            multibyte: false,
            binary: false,
            pending: Vec::new(),
        }
    }

    fn check(&mut self, bytes: &[u8]) {
        if bytes.contains(&0) {
            self.binary = true;
        }
        let joined;
        let mut bytes = if self.pending.is_empty() {
            bytes
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(bytes);
            joined = pending;
            &joined[..]
        };
        loop {
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    self.multibyte |= !text.is_ascii();
                    return;
                }
                Err(e) => {
                    self.multibyte |= !bytes[..e.valid_up_to()].is_ascii();
                    match e.error_len() {
                        None => {
                            self.pending = bytes[e.valid_up_to()..].to_vec();
                            return;
                        }
                        Some(n) => {
                            self.invalid = true;
                            bytes = &bytes[e.valid_up_to() + n..];
                        }
                    }
                }
            }
        }
    }

    /// The file's encoding: UTF-8 when every byte is; Windows-1252 when no byte is
    /// UTF-8 beyond ASCII (Excel's plain "CSV"); and neither when both kinds occur, or
    /// when a UTF-8 byte-order mark comes with bytes that are not UTF-8: decoding such a
    /// file either way would garble some of its text.
    fn encoding(&self, bom: bool) -> Result<Encoding, FileProblem> {
        let invalid = self.invalid || !self.pending.is_empty();
        match (invalid, bom || self.multibyte) {
            (false, _) => Ok(Encoding::Utf8),
            (true, false) => Ok(Encoding::Windows1252),
            (true, true) => Err(FileProblem::MixedEncoding),
        }
    }
}

impl<R: Read> Read for Utf8Check<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.check(&buf[..n]);
        Ok(n)
    }
}

fn decode(bytes: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Encoding::Windows1252 => bytes.iter().map(|b| windows_1252(*b)).collect(),
    }
}

/// Windows-1252 is Latin-1 except for 0x80 to 0x9F, where it has typography (€, curly
/// quotes, dashes) instead of control codes; the five unassigned bytes map to the control
/// codes, as browsers do.
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9F => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
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
                Err(e) => return Some(Err(problem(e, self.lines_skipped, false))),
            }
        }
    }

    fn parse(&self) -> Result<ImportRow, RowError> {
        let line = self.lines_skipped + self.record.line;
        let fields = self.layout.positions.len();
        let extra = self.record.iter().skip(fields);
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
        if extra
            .clone()
            .any(|cell| !cell.iter().all(u8::is_ascii_whitespace))
        {
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
        let cell = |column: Column| -> Option<String> {
            let position = self
                .layout
                .positions
                .iter()
                .position(|c| *c == Some(column))?;
            let bytes = self.record.get(position).unwrap_or_default();
            Some(restore(&decode(bytes, self.encoding)).trim().to_owned())
        };
        let invoice_column = Column::InvoiceId.header();
        let invoice_id = cell(Column::InvoiceId).unwrap_or_default();
        if invoice_id.is_empty() {
            return Err(RowError::new(
                line,
                Some(invoice_column),
                Code::MissingValue,
                "the Invoice ID is empty",
            ));
        }
        if let Err(e) = check_id(&invoice_id) {
            return Err(RowError::new(
                line,
                Some(invoice_column),
                e.code(),
                e.to_string(),
            ));
        }
        let status = match cell(Column::Status) {
            None => None,
            Some(text) if text.is_empty() => {
                return Err(RowError::new(
                    line,
                    Some(Column::Status.header()),
                    Code::MissingValue,
                    "the Status is empty: write Open, Paid, Cancelled or Overdue",
                ));
            }
            Some(text) => Some(InvoiceStatus::parse_loose(&text).map_err(|_| {
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
            })?),
        };
        let optional = |text: String| (!text.is_empty()).then_some(text);
        let version = match cell(Column::Version) {
            Some(text) if text.is_empty() => {
                return Err(RowError::new(
                    line,
                    Some(Column::Version.header()),
                    Code::MissingValue,
                    "the Version is empty: keep the exported number (it guards against \
                     undoing later changes), or leave the whole column out",
                ));
            }
            Some(text) => Some(parse_version(&text).ok_or_else(|| {
                RowError::new(
                    line,
                    Some(Column::Version.header()),
                    Code::InvalidVersion,
                    format!(
                        "`{}` is not a version: leave the exported number as it is",
                        text.chars().take(40).collect::<String>()
                    ),
                )
            })?),
            _ => None,
        };
        Ok(ImportRow {
            line,
            invoice_id,
            status,
            payment_link: cell(Column::PaymentLink).map(optional),
            observation: cell(Column::Observation).map(optional),
            version,
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

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(delimiter_of(b"a,b,c"), b',');
        assert_eq!(delimiter_of(b"a;b;c"), b';');
        assert_eq!(delimiter_of(b"\"a;b\",c"), b',');
        assert_eq!(delimiter_of(b"a\tb"), b'\t');
        assert_eq!(delimiter_of(b"a"), b',');
    }
}
