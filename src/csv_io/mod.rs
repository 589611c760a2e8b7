//! The invoice CSV template and both directions over it: the streaming writer behind
//! exports, and the reader behind imports, which takes files as spreadsheets really write
//! them (UTF-8 with or without BOM, or Windows-1252; comma, semicolon or tab; CRLF or LF;
//! columns in any order). It turns bytes into typed rows and says what is wrong with a
//! file or a row; what a row *means* for an invoice is `domain::import`'s business, and
//! nothing here touches the database.

mod encoding;
mod problem;
mod reader;
mod records;
mod sniff;
mod template;
mod writer;

pub use problem::FileProblem;
pub use reader::{ImportFile, Limits, RowReader};
pub use template::{Column, neutralise, status_label};
pub use writer::InvoiceCsvWriter;

/// Property tests over generated input (a deterministic generator, so a failure
/// reproduces): the reader never panics on any bytes, and whatever text an invoice holds
/// survives a trip through the writer and the reader.
#[cfg(test)]
mod properties {
    use std::io::{Seek, SeekFrom, Write};

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::{Invoice, InvoiceStatus, Money};

    /// xorshift64*: enough variety for generated input, no dependency.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// Text biased towards what breaks CSV: quotes, delimiters, line breaks,
        /// formula starts, spaces, accents and other non-ASCII characters.
        fn text(&mut self, max: u64) -> String {
            const PIECES: [&str; 16] = [
                "\"", ",", ";", "\n", "\r\n", "\r", "=", "+", "-", "@", "\t", " ", "'", "ç", "€",
                "a",
            ];
            (0..self.below(max))
                .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
                .collect()
        }
    }

    fn file(bytes: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        file
    }

    const LIMITS: Limits = Limits {
        max_bytes: 1 << 20,
        max_rows: 10_000,
    };

    #[test]
    fn the_reader_never_panics_and_lines_only_grow() {
        let mut generate = Gen(0x5EED_CAFE);
        for _ in 0..3000 {
            let mut bytes = b"Invoice ID,Status,Observation\n".to_vec();
            for _ in 0..generate.below(200) {
                bytes.push(match generate.below(8) {
                    0 => b'"',
                    1 => b',',
                    2 => b'\n',
                    3 => b'\r',
                    4 => 0xE9,
                    5 => b'P',
                    6 => b';',
                    _ => generate.next() as u8,
                });
            }
            let Ok(checked) = ImportFile::open(file(&bytes), LIMITS) else {
                continue;
            };
            let mut rows = checked.into_rows().unwrap();
            let mut last = 1;
            while let Some(row) = rows.next_row() {
                let Ok(row) = row else { break };
                let line = match row {
                    Ok(row) => row.line,
                    Err(e) => e.line,
                };
                assert!(line > last, "line {line} after {last} in {bytes:?}");
                last = line;
            }
        }
    }

    #[test]
    fn any_observation_and_link_survive_export_then_import() {
        let mut generate = Gen(0xC0FF_EE00);
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let today = at.date_naive();
        for round in 0..500 {
            let delimiter = if round % 2 == 0 { b',' } else { b';' };
            let mut writer = InvoiceCsvWriter::new(delimiter);
            let observations: Vec<String> = (0..20).map(|_| generate.text(30)).collect();
            for (n, observation) in observations.iter().enumerate() {
                writer.write(
                    &Invoice {
                        id: format!("I-{n}"),
                        friendly_id: generate.text(5),
                        account_id: "A".into(),
                        order_id: generate.text(5),
                        installment: 1,
                        number_of_installments: 1,
                        value: Money::from_units(generate.below(1 << 40) as i64),
                        currency: "BRL".into(),
                        original_due_date: today,
                        due_date: today,
                        stored_status: InvoiceStatus::Open,
                        payment_link: None,
                        observation: Some(observation.clone()),
                        created_at: at,
                        updated_at: at,
                        resolved_at: None,
                        version: 1,
                    },
                    today,
                );
            }
            let bytes = writer.take();
            let mut rows = ImportFile::open(file(&bytes), LIMITS)
                .unwrap_or_else(|e| panic!("round {round}: {e}"))
                .into_rows()
                .unwrap();
            for (n, observation) in observations.iter().enumerate() {
                let row = rows.next_row().unwrap().unwrap().unwrap();
                assert_eq!(row.invoice_id, format!("I-{n}"));
                let read = row.observation.unwrap().unwrap_or_default();
                // The import trims what it reads, as every change does.
                assert_eq!(read.trim(), observation.trim(), "round {round}, row {n}");
            }
            assert!(rows.next_row().is_none());
        }
    }
}
