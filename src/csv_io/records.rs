//! CSV records with the line each starts on, over any buffered reader.
//!
//! The `csv` crate reports a record's position as the end of the record before it, so
//! blank lines and CRLF endings put its line numbers off; an import's errors must point
//! at the right line of a million. This parser runs `csv_core` itself and counts every
//! newline it consumes. It also bounds a record's size, so that a quote never closed
//! cannot make it buffer the rest of a file, and its number of cells, so that a row of
//! millions of empty cells (a few bytes each) cannot grow memory without bound.

use std::io::{self, BufRead};

use csv_core::ReadRecordResult;

/// The most cells a record may have: a spreadsheet's widest sheet (Excel and LibreOffice
/// stop at 16,384 columns). A template row needs a dozen.
pub const MAX_CELLS: usize = 16_384;

/// One record: its fields, as bytes in the file's encoding.
#[derive(Default)]
pub struct Record {
    /// The line of the file where the record starts (the first line is 1).
    pub line: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    fields: usize,
}

impl Record {
    pub fn len(&self) -> usize {
        self.fields
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.fields {
            return None;
        }
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        Some(&self.bytes[start..self.ends[index]])
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone {
        (0..self.fields).filter_map(|i| self.get(i))
    }

    /// Whether every cell is empty or spaces (a spreadsheet's leftover row).
    pub fn is_blank(&self) -> bool {
        self.bytes[..self
            .ends
            .get(self.fields.wrapping_sub(1))
            .copied()
            .unwrap_or(0)]
            .iter()
            .all(u8::is_ascii_whitespace)
    }
}

/// Why a record could not be read.
#[derive(Debug)]
pub enum RecordError {
    Io(io::Error),
    /// A record beyond the size bound, starting on this line.
    TooLong {
        line: u64,
    },
    /// A record of more than [`MAX_CELLS`] cells, starting on this line.
    TooManyCells {
        line: u64,
    },
    /// A quote opened on this line is never closed: the record ran to the end of the
    /// file, swallowing every line after it.
    Unclosed {
        line: u64,
    },
}

/// Reads records one at a time (RFC 4180 quoting; `\r\n`, `\n` or `\r` ending lines).
pub struct Records<R> {
    input: R,
    parser: csv_core::Reader,
    /// Line endings consumed so far, plus one: the line the parser is on.
    line: u64,
    /// The last byte consumed was a CR (so an LF after it ends no further line).
    after_cr: bool,
    max_record_bytes: usize,
}

impl<R: BufRead> Records<R> {
    pub fn new(input: R, delimiter: u8, max_record_bytes: usize) -> Records<R> {
        Records {
            input,
            parser: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            line: 1,
            after_cr: false,
            max_record_bytes,
        }
    }

    pub fn into_inner(self) -> R {
        self.input
    }

    /// Reads the next record into `record`; `false` at the end of the input.
    pub fn read(&mut self, record: &mut Record) -> Result<bool, RecordError> {
        record.bytes.resize(record.bytes.len().max(1024), 0);
        record.ends.resize(record.ends.len().max(16), 0);
        let (mut written, mut fields) = (0, 0);
        let mut started = None;
        let (mut quotes, mut lines) = (0_usize, 0_u64);
        loop {
            let input = self.input.fill_buf().map_err(RecordError::Io)?;
            let at_end = input.is_empty();
            let (result, read, out, ends) = self.parser.read_record(
                input,
                &mut record.bytes[written..],
                &mut record.ends[fields..],
            );
            // Line endings before the record's first byte are blank lines; the parser
            // skips them, and the record starts on the line after them.
            for byte in &input[..read] {
                if started.is_none() && *byte != b'\n' && *byte != b'\r' {
                    started = Some(self.line);
                }
                // A line ends at LF, CR LF or a lone CR (old Mac files), the parser's
                // three record endings.
                let breaks = *byte == b'\r' || (*byte == b'\n' && !self.after_cr);
                self.after_cr = *byte == b'\r';
                if breaks {
                    self.line += 1;
                    lines += u64::from(started.is_some());
                }
                quotes += usize::from(*byte == b'"');
            }
            self.input.consume(read);
            // The parser counts field ends from the start of the record, across calls.
            written += out;
            fields += ends;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    if record.bytes.len() >= self.max_record_bytes {
                        return Err(RecordError::TooLong {
                            line: started.unwrap_or(self.line),
                        });
                    }
                    record.bytes.resize(record.bytes.len() * 2, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    if record.ends.len() >= MAX_CELLS {
                        return Err(RecordError::TooManyCells {
                            line: started.unwrap_or(self.line),
                        });
                    }
                    record
                        .ends
                        .resize((record.ends.len() * 2).min(MAX_CELLS), 0);
                }
                // A record the end of the file closed, spanning lines, with an odd
                // number of quotes: a quote that is never closed (a stray quote inside
                // an unquoted cell stays on its line).
                ReadRecordResult::Record if at_end && lines > 0 && quotes % 2 == 1 => {
                    return Err(RecordError::Unclosed {
                        line: started.unwrap_or(self.line),
                    });
                }
                ReadRecordResult::Record => {
                    record.line = started.unwrap_or(self.line);
                    record.fields = fields;
                    return Ok(true);
                }
                ReadRecordResult::End => return Ok(false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str) -> Vec<(u64, Vec<String>)> {
        let whole = read_all(Records::new(input.as_bytes(), b',', 1 << 16));
        // Three bytes a read: every record and field is split across calls.
        let split = std::io::BufReader::with_capacity(3, input.as_bytes());
        assert_eq!(read_all(Records::new(split, b',', 1 << 16)), whole);
        whole
    }

    fn read_all(mut records: Records<impl BufRead>) -> Vec<(u64, Vec<String>)> {
        let mut record = Record::default();
        let mut all = vec![];
        while records.read(&mut record).unwrap() {
            let cells = record
                .iter()
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            all.push((record.line, cells));
        }
        all
    }

    #[test]
    fn records_know_their_line_whatever_the_line_endings() {
        let expected = |a: u64, b: u64, c: u64| {
            vec![
                (a, vec!["h".to_owned(), "x".to_owned()]),
                (b, vec!["1".to_owned(), "a\nb".to_owned()]),
                (c, vec!["2".to_owned(), String::new()]),
            ]
        };
        assert_eq!(lines("h,x\n1,\"a\nb\"\n2,\n"), expected(1, 2, 4));
        assert_eq!(lines("h,x\r\n1,\"a\nb\"\r\n\r\n\r\n2,"), expected(1, 2, 6));
        assert_eq!(lines("\n\nh,x\n\n1,\"a\nb\"\n2,"), expected(3, 5, 7));
    }

    #[test]
    fn a_quote_never_closed_is_an_error_not_a_swallowed_file() {
        let input = "h,x\n1,\"paid by wire\n2,paid\n3,paid\n";
        let mut records = Records::new(input.as_bytes(), b',', 1 << 16);
        let mut record = Record::default();
        assert!(records.read(&mut record).unwrap());
        assert!(matches!(
            records.read(&mut record),
            Err(RecordError::Unclosed { line: 2 })
        ));
        // A stray quote inside an unquoted cell, and a closed multi-line cell, are fine.
        let cells = |rows: Vec<(u64, Vec<String>)>| {
            rows.into_iter()
                .map(|(_, c)| c.join("|"))
                .collect::<Vec<_>>()
        };
        assert_eq!(cells(lines("h\n5\" screen\n")), vec!["h", "5\" screen"]);
        assert_eq!(cells(lines("h\n\"a\nb\"")), vec!["h", "a\nb"]);
    }

    #[test]
    fn a_record_beyond_the_bound_is_an_error_not_a_buffer() {
        let input = format!("h\n\"{}", "x".repeat(10_000));
        let mut records = Records::new(input.as_bytes(), b',', 4096);
        let mut record = Record::default();
        assert!(records.read(&mut record).unwrap());
        assert!(matches!(
            records.read(&mut record),
            Err(RecordError::TooLong { line: 2 })
        ));
    }

    #[test]
    fn a_record_of_more_cells_than_a_spreadsheet_has_is_an_error_not_a_buffer() {
        let wide = |cells: usize| format!("h\n{}\nnext\n", ",".repeat(cells - 1));
        let mut record = Record::default();
        let input = wide(MAX_CELLS);
        let mut records = Records::new(input.as_bytes(), b',', 1 << 16);
        assert!(records.read(&mut record).unwrap());
        assert!(
            records.read(&mut record).unwrap(),
            "the widest sheet is read"
        );
        assert_eq!(record.len(), MAX_CELLS);
        // Millions of empty cells: a few bytes of file each, refused at the bound.
        let input = wide(3_000_000);
        let mut records = Records::new(input.as_bytes(), b',', 1 << 16);
        assert!(records.read(&mut record).unwrap());
        assert!(matches!(
            records.read(&mut record),
            Err(RecordError::TooManyCells { line: 2 })
        ));
        assert!(record.ends.len() <= MAX_CELLS, "{}", record.ends.len());
    }
}
