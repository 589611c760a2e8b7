//! Workbooks in. A file is a workbook by its content, never its name: an `.xlsx` (a zip)
//! becomes the CSV of the same rows and cells, which the CSV import then reads with every
//! rule it has (header, rows, dry run, all or nothing, history), its line numbers the
//! sheet's row numbers. An old `.xls` or a password-protected workbook (both OLE files)
//! and a macro-enabled one are refused with what to do instead.
//!
//! The sheet is the one named like the template (`Invoices`), else the first. Cells are
//! read as spreadsheets store them: shared and inline strings, numbers (a whole float such
//! as a `Version` of `3.0` or an id Excel turned into `12345.0` is read as `3`, `12345`),
//! booleans (`TRUE`, `FALSE`), dates (`2026-12-31`), errors (`#N/A`, refused by the rules
//! of its column). A formula is never evaluated: its cell's value as the spreadsheet last
//! saved it is used (no saved value reads as an empty cell).
//!
//! Bounded: the zip's entries are checked before anything is unpacked (a workbook that
//! would unpack to more than [`MAX_UNPACKED`], a shared-string table over
//! [`MAX_SHARED_STRINGS`], an entry packed more than [`MAX_RATIO`] times: a zip bomb);
//! the sheet is read a cell at a time and written as it goes (a million empty styled rows
//! cost time, not memory), and reading stops at the row limit, so memory holds one row
//! and the workbook's shared strings.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use calamine::{DataRef, Reader, Xlsx};

use crate::csv_io::{FileProblem, Limits, neutralise};

/// Most bytes a workbook may unpack to, all entries together. Our own export of the row
/// limit (a million rows) unpacks to about 600 MB.
pub const MAX_UNPACKED: u64 = 2 * 1024 * 1024 * 1024;
/// Most bytes the shared-string table may unpack to: it is the one part read whole (the
/// sheet streams). A million distinct ids and notes take about 60 MB.
pub const MAX_SHARED_STRINGS: u64 = 256 * 1024 * 1024;
/// The most an entry may be compressed (unpacked size over packed size, for entries over
/// a megabyte). Spreadsheet XML packs 10 to 30 times; zip bombs thousands of times.
pub const MAX_RATIO: u64 = 200;
/// The most columns a row may have (a spreadsheet's widest sheet).
const MAX_COLUMNS: u32 = 16_384;
/// The most rows a sheet has (a spreadsheet's longest sheet).
const MAX_ROWS: u32 = 1_048_576;
/// The most text a row may hold: the CSV reader's bound on a record.
const MAX_ROW_BYTES: usize = 64 * 1024;

const ZIP: &[u8] = b"PK\x03\x04";
const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

fn refused(message: &str) -> FileProblem {
    FileProblem::Workbook(message.to_owned())
}

/// A sheet's column letter (`A`, …, `Z`, `AA`, …) for a column index from 0.
pub fn column_letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// The file to import: `file` itself when it is not a workbook (`None`), else the CSV of
/// its sheet in a temporary file, with the sheet rows above its header (blank ones): the
/// CSV's line `n` is the sheet's row `n` plus that many.
pub fn as_template_csv(file: File, limits: Limits) -> Result<(File, Option<u32>), FileProblem> {
    // A reader's panic on a hostile file is that file's refusal, not the gateway's fault.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_workbook(file, limits)))
        .unwrap_or_else(|_| {
            Err(refused(
                "this workbook cannot be read: save it again as .xlsx",
            ))
        })
}

fn read_workbook(mut file: File, limits: Limits) -> Result<(File, Option<u32>), FileProblem> {
    let unreadable = |e: std::io::Error| FileProblem::Unreadable(e.to_string());
    let mut start = [0_u8; 8];
    let read = file.read(&mut start).map_err(unreadable)?;
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let start = &start[..read];
    if start.starts_with(OLE) {
        return Err(ole_problem(&mut file));
    }
    if !start.starts_with(ZIP) {
        return Ok((file, None));
    }
    let bytes = file.metadata().map_err(unreadable)?.len();
    if bytes > limits.max_bytes {
        return Err(FileProblem::TooLarge {
            bytes,
            max: limits.max_bytes,
        });
    }
    check_entries(&file)?;
    let mut workbook = Xlsx::new(std::io::BufReader::new(file)).map_err(|e| {
        refused(&format!(
            "this zip is not a workbook Excel or LibreOffice could open ({e})"
        ))
    })?;
    let names = workbook.sheet_names();
    let sheet = names
        .iter()
        .find(|n| n.trim().eq_ignore_ascii_case(super::SHEET))
        .or(names.first())
        .cloned()
        .ok_or_else(|| refused("the workbook has no sheet"))?;
    let csv = tempfile::tempfile().map_err(unreadable)?;
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(BufWriter::new(csv));
    let mut cells = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(|e| refused(&format!("the sheet `{sheet}` cannot be read ({e})")))?;
    let mut row: Vec<String> = Vec::new();
    // The sheet row being gathered (from 0), and rows written so far.
    let mut at_row = 0_u32;
    let mut written = 0_u32;
    // Blank rows above the header: not written (the CSV's first line is its header).
    let mut above: Option<u32> = None;
    let mut data_rows = 0_u64;
    // The header's width: every row is written that wide (a sheet leaves a row's empty
    // trailing cells out; cells right of the header belong to no column).
    let mut width: Option<usize> = None;
    // Text in the row being gathered (a shared string repeated in every cell of a row
    // would otherwise grow it without bound).
    let mut row_bytes = 0_usize;
    let write_err = |e: csv::Error| FileProblem::Unreadable(e.to_string());
    loop {
        let cell = cells
            .next_cell()
            .map_err(|e| refused(&format!("the sheet `{sheet}` cannot be read ({e})")))?;
        let Some(cell) = cell else { break };
        let (r, c) = cell.get_position();
        if r >= MAX_ROWS {
            return Err(refused(&format!(
                "the sheet has a cell on row {}, beyond a spreadsheet's last row",
                u64::from(r) + 1
            )));
        }
        if r < at_row {
            return Err(refused(
                "the sheet's rows are out of order: save it again as .xlsx",
            ));
        }
        if width.is_some_and(|w| c as usize >= w) {
            continue; // Right of the header: no column's.
        }
        let text = text_of(cell.get_value());
        if text.is_empty() {
            continue;
        }
        if c >= MAX_COLUMNS {
            return Err(FileProblem::TooManyCells {
                line: u64::from(r) + 1,
                header: r == 0,
            });
        }
        row_bytes += text.len();
        if row_bytes > MAX_ROW_BYTES {
            return Err(FileProblem::Malformed {
                line: u64::from(r) + 1,
                message: format!("a row of more than {MAX_ROW_BYTES} bytes of text"),
            });
        }
        if r != at_row {
            if !row.is_empty() {
                width = width.or(Some(row.len()));
                if above.is_none() {
                    above = Some(at_row);
                    written = at_row;
                } else {
                    data_rows += 1;
                }
                flush(&mut out, &mut row, width, at_row, &mut written).map_err(write_err)?;
            }
            at_row = r;
            row_bytes = text.len();
            if data_rows + 1 > limits.max_rows {
                return Err(FileProblem::TooManyRows {
                    max: limits.max_rows,
                });
            }
        }
        let c = c as usize;
        if row.len() <= c {
            row.resize(c + 1, String::new());
        }
        row[c] = text;
    }
    if !row.is_empty() {
        width = width.or(Some(row.len()));
        if above.is_none() {
            above = Some(at_row);
            written = at_row;
        }
        flush(&mut out, &mut row, width, at_row, &mut written).map_err(write_err)?;
    }
    let above = above.unwrap_or(0);
    let mut csv = out
        .into_inner()
        .map_err(|e| FileProblem::Unreadable(e.to_string()))?
        .into_inner()
        .map_err(|e| FileProblem::Unreadable(e.to_string()))?;
    csv.flush().map_err(unreadable)?;
    csv.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    Ok((csv, Some(above)))
}

/// Writes the row gathered for sheet row `at` (from 0), `width` cells wide, after blank
/// lines for the rows skipped since the last, so that line numbers stay the sheet's.
fn flush(
    out: &mut csv::Writer<BufWriter<File>>,
    row: &mut Vec<String>,
    width: Option<usize>,
    at: u32,
    written: &mut u32,
) -> Result<(), csv::Error> {
    while *written < at {
        // An empty line (no cell at all), which the CSV reader skips: a record of one
        // empty cell would be taken for the header when the sheet starts with blank rows.
        out.write_record(std::iter::empty::<&[u8]>())?;
        *written += 1;
    }
    if let Some(width) = width {
        row.resize(width, String::new());
    }
    out.write_record(row.iter().map(|cell| neutralise(cell).into_owned()))?;
    *written += 1;
    row.clear();
    Ok(())
}

/// A cell's text, as the CSV import reads it.
fn text_of(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(n) => n.to_string(),
        DataRef::Float(f) => number(*f),
        DataRef::Bool(true) => "TRUE".into(),
        DataRef::Bool(false) => "FALSE".into(),
        // Only serials of years 1 to 9999 are dates (chrono panics far outside them);
        // durations (`[h]:mm`) are numbers.
        DataRef::DateTime(date)
            if date.is_duration() || !(-693_594.0..=2_958_465.0).contains(&date.as_f64()) =>
        {
            number(date.as_f64())
        }
        DataRef::DateTime(date) => match date.as_datetime() {
            Some(at) if at.time() == chrono::NaiveTime::MIN => at.date().to_string(),
            Some(at) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => number(date.as_f64()),
        },
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => e.to_string(),
    }
}

/// A spreadsheet number as text: whole ones without a decimal point (`3`, not `3.0`),
/// others in the shortest form that reads back as the same number.
fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    // As a spreadsheet shows it: 15 significant digits (a formula's 0.1 + 0.2 is 0.3).
    rust_decimal::Decimal::from_scientific(&format!("{f:.14e}"))
        .map(|d| d.normalize().to_string())
        .unwrap_or_else(|_| format!("{f}"))
}

/// An OLE file: an old `.xls`, or a workbook saved with a password (Excel keeps those
/// encrypted in an OLE container whatever their extension).
fn ole_problem(file: &mut File) -> FileProblem {
    // The container's directory names its streams in UTF-16.
    let marker: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut head = Vec::new();
    let _ = file.take(1 << 20).read_to_end(&mut head);
    if head.windows(marker.len()).any(|w| w == marker.as_slice()) {
        refused(
            "this workbook is protected with a password: open it, remove the password \
             (File > Info > Protect Workbook), and save it as .xlsx",
        )
    } else {
        refused(
            "this is an old Excel workbook (.xls): save it as an Excel Workbook (.xlsx) or \
             as CSV, and import that",
        )
    }
}

/// Refuses, from the zip's directory and before unpacking anything, a macro-enabled
/// workbook and one that would unpack too large or is packed like a zip bomb.
fn check_entries(file: &File) -> Result<(), FileProblem> {
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| refused(&format!("this zip cannot be read ({e})")))?;
    let mut total = 0_u64;
    let (mut excel, mut open_document) = (false, false);
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|e| refused(&format!("this zip cannot be read ({e})")))?;
        let shown = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| "an entry".to_owned());
        let name = shown.to_ascii_lowercase();
        excel |= name == "xl/workbook.xml";
        open_document |= name == "content.xml";
        if name.ends_with("vbaproject.bin") {
            return Err(refused(
                "this workbook has macros (.xlsm): save it as an Excel Workbook (.xlsx) \
                 without them, and import that",
            ));
        }
        let (unpacked, packed) = (entry.size(), entry.compressed_size());
        total = total.saturating_add(unpacked);
        if name.ends_with("sharedstrings.xml") && unpacked > MAX_SHARED_STRINGS {
            return Err(refused(&format!(
                "the workbook's table of texts would unpack to {} MB, more than the {} MB \
                 accepted: split the sheet",
                unpacked >> 20,
                MAX_SHARED_STRINGS >> 20
            )));
        }
        if unpacked > 1 << 20 && unpacked / packed.max(1) > MAX_RATIO {
            return Err(refused(&format!(
                "`{}` would unpack {} times its size: refused as a zip bomb",
                shown,
                unpacked / packed.max(1)
            )));
        }
    }
    check_string_count(&mut zip)?;
    if !excel {
        return Err(refused(if open_document {
            "this is an OpenDocument spreadsheet (.ods): save it as an Excel Workbook (.xlsx) \
             or as CSV, and import that"
        } else {
            "this zip is not an Excel workbook (.xlsx): save the sheet as .xlsx or CSV"
        }));
    }
    if total > MAX_UNPACKED {
        return Err(refused(&format!(
            "this workbook would unpack to {} MB, more than the {} MB accepted",
            total >> 20,
            MAX_UNPACKED >> 20
        )));
    }
    Ok(())
}

/// The shared-string table's declared count (which the reader reserves room for at once)
/// must fit its size: an `<si>` takes at least 7 bytes. A count of trillions in a tiny file
/// would otherwise ask for more memory than there is, and abort the process.
fn check_string_count(zip: &mut zip::ZipArchive<&File>) -> Result<(), FileProblem> {
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| n.to_ascii_lowercase().ends_with("sharedstrings.xml"))
        .collect();
    for name in names {
        let mut entry = zip
            .by_name(&name)
            .map_err(|e| refused(&format!("this zip cannot be read ({e})")))?;
        let size = entry.size();
        let mut head = Vec::new();
        let _ = (&mut entry).take(4096).read_to_end(&mut head);
        let head = String::from_utf8_lossy(&head);
        let declared = ["uniqueCount=\"", "count=\""].iter().filter_map(|attr| {
            let at = head.find(attr)? + attr.len();
            head[at..].split('"').next()?.parse::<u64>().ok()
        });
        if declared.into_iter().any(|n| n > size / 7 + 1) {
            return Err(refused(
                "the workbook's table of texts declares more entries than it holds: \
                 save it again as .xlsx",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_run_like_a_spreadsheet_s() {
        let letters: Vec<String> = [0, 1, 25, 26, 27, 51, 52, 701, 702, 16_383]
            .into_iter()
            .map(column_letter)
            .collect();
        assert_eq!(
            letters,
            ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA", "XFD"]
        );
    }

    #[test]
    fn numbers_read_as_people_typed_them() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(12345.0), "12345");
        assert_eq!(number(-7.0), "-7");
        assert_eq!(number(120.5), "120.5");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(1e16), "10000000000000000");
        assert_eq!(number(0.1 + 0.2), "0.3", "as a spreadsheet shows it");
        assert_eq!(number(110.00000000000001), "110");
    }
}
