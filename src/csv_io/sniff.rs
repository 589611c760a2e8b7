//! A first look at an imported file, from its first bytes: whether it is CSV text at all
//! (not a workbook, not UTF-16), where its header starts (after a byte-order mark, blank
//! lines and Excel's `sep=` line) and which delimiter it uses.

use super::FileProblem;
use super::encoding::{UTF8_BOM, has_utf8_bom, is_utf16};

/// How much of the file's start is looked at to recognise its kind and delimiter.
pub(super) const SNIFF_BYTES: usize = 64 * 1024;

/// Where a file's header starts, and how its cells are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Start {
    /// Bytes before the header: a byte-order mark, blank lines and Excel's `sep=` line.
    pub(super) skip: u64,
    /// Lines before the header.
    pub(super) lines_skipped: u64,
    pub(super) delimiter: u8,
}

/// Recognises the file's kind from its first bytes, and finds where the header starts
/// and which delimiter it uses.
pub(super) fn sniff(start: &[u8]) -> Result<Start, FileProblem> {
    if start.is_empty() {
        return Err(FileProblem::Empty);
    }
    if start.starts_with(b"PK\x03\x04") || start.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(FileProblem::Spreadsheet);
    }
    if is_utf16(start) {
        return Err(FileProblem::Utf16);
    }
    let mut skip = if has_utf8_bom(start) {
        UTF8_BOM.len()
    } else {
        0
    };
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
        return Ok(Start {
            skip: skip as u64,
            lines_skipped: blank_lines + 1,
            delimiter: first_line[4],
        });
    }
    Ok(Start {
        skip: skip as u64,
        lines_skipped: blank_lines,
        delimiter: delimiter_of(first_line),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(delimiter_of(b"a,b,c"), b',');
        assert_eq!(delimiter_of(b"a;b;c"), b';');
        assert_eq!(delimiter_of(b"\"a;b\",c"), b',');
        assert_eq!(delimiter_of(b"a\tb"), b'\t');
        assert_eq!(delimiter_of(b"a"), b',');
    }

    #[test]
    fn the_header_starts_after_a_bom_blank_lines_and_a_sep_line() {
        let start = sniff(b"\xef\xbb\xbf\r\n\nsep=;\r\nInvoice ID;Status\r\n").unwrap();
        assert_eq!(
            start,
            Start {
                skip: 3 + 3 + 7,
                lines_skipped: 3,
                delimiter: b';'
            }
        );
        let plain = sniff(b"Invoice ID\tStatus\n").unwrap();
        assert_eq!(
            (plain.skip, plain.lines_skipped, plain.delimiter),
            (0, 0, b'\t')
        );
    }

    #[test]
    fn workbooks_and_utf16_are_not_csv() {
        assert_eq!(sniff(b""), Err(FileProblem::Empty));
        assert_eq!(sniff(b"PK\x03\x04rest"), Err(FileProblem::Spreadsheet));
        assert_eq!(sniff(b"\xd0\xcf\x11\xe0"), Err(FileProblem::Spreadsheet));
        assert_eq!(sniff(b"\xfe\xff\0I"), Err(FileProblem::Utf16));
    }
}
