//! What can be wrong with an imported file as a whole, said once for people (its
//! message) and for programs (its code). A row's own faults are `RowError`s instead.

use std::fmt;

use super::reader::MAX_RECORD_BYTES;
use super::records::{MAX_CELLS, RecordError};
use super::template::Column;
use crate::domain::RefusalCode;

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
    /// A workbook that cannot be imported: what it is, and what to do instead.
    Workbook(String),
}

impl FileProblem {
    /// The record of the file that could not be read (`header` when it is the first).
    pub(super) fn of_record(error: RecordError, lines_skipped: u64, header: bool) -> FileProblem {
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

    /// The line at fault, or 0 when the fault is the file's as a whole.
    pub fn line(&self) -> u64 {
        match self {
            FileProblem::Malformed { line, .. } | FileProblem::TooManyCells { line, .. } => *line,
            _ => 0,
        }
    }

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
            | FileProblem::Unreadable(_)
            | FileProblem::Workbook(_) => RefusalCode::InvalidFile,
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
            FileProblem::Workbook(what) => write!(f, "{what}"),
        }
    }
}
