//! Which text encoding an imported file is in, and decoding its cells. Spreadsheets write
//! UTF-8 (with or without a byte-order mark), Windows-1252 (Excel's plain "CSV") or
//! UTF-16 (Excel's "Unicode Text", refused); the file never says which, so the bytes
//! tell: a file is UTF-8 when every byte is, Windows-1252 when no byte is UTF-8 beyond
//! ASCII, and refused when both kinds occur. Detection runs alongside the check's one
//! streaming pass ([`Utf8Check`]), so it never holds more than a read's worth of bytes.
//! Nothing here knows CSV.

use std::io::{self, Read};

use super::FileProblem;

/// The byte-order mark some programs write at the start of a UTF-8 file.
pub(super) const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// The encodings an imported file may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    Utf8,
    Windows1252,
}

/// Whether a file starting with `start` opens with a UTF-8 byte-order mark.
pub(super) fn has_utf8_bom(start: &[u8]) -> bool {
    start.starts_with(UTF8_BOM)
}

/// Whether a file starting with `start` is UTF-16 (a byte-order mark of either order).
pub(super) fn is_utf16(start: &[u8]) -> bool {
    start.starts_with(&[0xFF, 0xFE]) || start.starts_with(&[0xFE, 0xFF])
}

/// Passes bytes through while checking that they are valid UTF-8 and free of NUL.
pub(super) struct Utf8Check<R> {
    inner: R,
    /// Some bytes are not UTF-8.
    invalid: bool,
    /// Some characters are UTF-8 beyond ASCII.
    multibyte: bool,
    /// Some byte is NUL: no text file has one.
    pub(super) binary: bool,
    /// The start of a character split across two reads.
    pending: Vec<u8>,
}

impl<R: Read> Utf8Check<R> {
    pub(super) fn new(inner: R) -> Utf8Check<R> {
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
    pub(super) fn encoding(&self, bom: bool) -> Result<Encoding, FileProblem> {
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

/// A cell's bytes as text, in the file's encoding. Windows-1252 is decoded by
/// `encoding_rs`, the browsers' own tables (the five unassigned bytes become the control
/// codes, as the WHATWG Encoding Standard says).
pub(super) fn decode(bytes: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Encoding::Windows1252 => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the check makes of `bytes` read in pieces of `size`.
    fn detect(bytes: &[u8], size: usize, bom: bool) -> Result<Encoding, FileProblem> {
        let mut check = Utf8Check::new(bytes);
        let mut buf = vec![0; size];
        while check.read(&mut buf).unwrap() > 0 {}
        check.encoding(bom)
    }

    #[test]
    fn utf8_is_recognised_even_when_a_character_is_split_across_reads() {
        let text = "Cobrança São Paulo €".as_bytes();
        for size in 1..5 {
            assert_eq!(
                detect(text, size, false),
                Ok(Encoding::Utf8),
                "reads of {size}"
            );
        }
        assert_eq!(detect(b"plain ascii", 3, true), Ok(Encoding::Utf8));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_windows_1252_unless_utf8_is_there_too() {
        assert_eq!(detect(b"caf\xe9", 2, false), Ok(Encoding::Windows1252));
        assert_eq!(
            detect(b"Cobran\xc3\xa7a caf\xe9", 4, false),
            Err(FileProblem::MixedEncoding)
        );
        assert_eq!(detect(b"S\xe3o", 8, true), Err(FileProblem::MixedEncoding));
        assert_eq!(
            detect(b"cut short \xc3", 8, false),
            Ok(Encoding::Windows1252),
            "a character cut off at the end is not UTF-8"
        );
    }

    #[test]
    fn a_nul_byte_marks_the_file_binary() {
        let mut check = Utf8Check::new(&b"Invoice ID\0"[..]);
        io::copy(&mut check, &mut io::sink()).unwrap();
        assert!(check.binary);
    }

    #[test]
    fn byte_order_marks_are_told_apart() {
        assert!(has_utf8_bom(b"\xef\xbb\xbfInvoice ID"));
        assert!(!has_utf8_bom(b"Invoice ID"));
        assert!(is_utf16(b"\xff\xfeI\0"));
        assert!(is_utf16(b"\xfe\xff\0I"));
        assert!(!is_utf16(b"\xef\xbb\xbf"));
    }

    #[test]
    fn windows_1252_has_typography_where_latin_1_has_control_codes() {
        assert_eq!(
            decode(b"\x80 \x93ok\x94 \xe7", Encoding::Windows1252),
            "€ “ok” ç"
        );
        assert_eq!(decode(b"\x81\x9d", Encoding::Windows1252), "\u{81}\u{9d}");
        assert_eq!(decode("ç €".as_bytes(), Encoding::Utf8), "ç €");
    }
}
