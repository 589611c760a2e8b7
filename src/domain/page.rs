//! Keyset pagination: the sort orders, the cursors that mark a position in them, and the
//! checks on `first / after / last / before`.
//!
//! A cursor is the sort key and id of the row it points at, so a page is a range scan of
//! an index (`(key, id) > cursor`), never an offset that shifts when rows are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{DomainError, Invoice};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortField {
    #[default]
    DueDate,
    CreatedAt,
    Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

/// How a listing of invoices is ordered; the invoice id always breaks ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InvoiceOrder {
    pub field: SortField,
    pub direction: SortDirection,
}

/// The value of the sort field at one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    DueDate(NaiveDate),
    /// Microseconds since the epoch: the precision both backends store.
    CreatedAt(i64),
    /// Money in store units.
    Value(i64),
}

impl SortKey {
    pub fn of(field: SortField, invoice: &Invoice) -> SortKey {
        match field {
            SortField::DueDate => SortKey::DueDate(invoice.due_date),
            SortField::CreatedAt => SortKey::CreatedAt(invoice.created_at.timestamp_micros()),
            SortField::Value => SortKey::Value(invoice.value.units()),
        }
    }

    fn field(&self) -> SortField {
        match self {
            SortKey::DueDate(_) => SortField::DueDate,
            SortKey::CreatedAt(_) => SortField::CreatedAt,
            SortKey::Value(_) => SortField::Value,
        }
    }

    pub fn created_at(micros: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(micros)
    }
}

/// A position in a listing: the sort key and id of one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub key: SortKey,
    pub id: String,
}

impl Cursor {
    pub fn of(field: SortField, invoice: &Invoice) -> Cursor {
        Cursor {
            key: SortKey::of(field, invoice),
            id: invoice.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        // Serializing plain enums and strings cannot fail.
        let json = serde_json::to_vec(self).expect("cursor serializes");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a cursor and checks that it belongs to a listing sorted by `field`.
    pub fn decode(text: &str, field: SortField) -> Result<Cursor, DomainError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| DomainError::InvalidCursor)?;
        let cursor: Cursor =
            serde_json::from_slice(&bytes).map_err(|_| DomainError::InvalidCursor)?;
        // A cursor is client input: every value in it must be one the database can bind.
        let valid = cursor.key.field() == field
            && super::Id::parse(cursor.id.as_str()).is_ok()
            && match cursor.key {
                SortKey::CreatedAt(micros) => SortKey::created_at(micros)
                    .is_some_and(|t| super::is_storable_date(t.date_naive())),
                SortKey::DueDate(date) => super::is_storable_date(date),
                SortKey::Value(units) => units.unsigned_abs() <= super::Money::MAX_UNITS as u64,
            };
        if valid {
            Ok(cursor)
        } else {
            Err(DomainError::InvalidCursor)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageDirection {
    /// `first` (and `after`): rows after the cursor, in the listing's order.
    Forward,
    /// `last` (and `before`): rows before the cursor, read backwards, returned in order.
    Backward,
}

/// A validated page request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u64,
    pub direction: PageDirection,
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    /// Checks Relay's arguments against the page cap. Without `first` or `last`, the page
    /// is `default_size` rows from the start.
    pub fn parse(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
        field: SortField,
        default_size: u64,
        max_size: u64,
    ) -> Result<PageRequest, DomainError> {
        let bad = |msg: String| Err(DomainError::InvalidPage(msg));
        let size = |name: &str, n: i32| -> Result<u64, DomainError> {
            match u64::try_from(n) {
                Ok(n) if n <= max_size => Ok(n),
                Ok(_) => Err(DomainError::InvalidPage(format!(
                    "`{name}` is {n}, past the maximum page size of {max_size}"
                ))),
                Err(_) => Err(DomainError::InvalidPage(format!(
                    "`{name}` must not be negative"
                ))),
            }
        };
        match (first, after, last, before) {
            (Some(_), _, Some(_), _) => bad("give `first` or `last`, not both".into()),
            (_, Some(_), _, Some(_)) => bad("give `after` or `before`, not both".into()),
            (Some(_), _, _, Some(_)) => bad("`first` pages forward: use it with `after`".into()),
            (_, Some(_), Some(_), _) => bad("`last` pages backward: use it with `before`".into()),
            (None, None, Some(n), before) => Ok(PageRequest {
                size: size("last", n)?,
                direction: PageDirection::Backward,
                cursor: before.map(|c| Cursor::decode(c, field)).transpose()?,
            }),
            (None, None, None, Some(before)) => Ok(PageRequest {
                size: default_size.min(max_size),
                direction: PageDirection::Backward,
                cursor: Some(Cursor::decode(before, field)?),
            }),
            (first, after, None, None) => Ok(PageRequest {
                size: match first {
                    Some(n) => size("first", n)?,
                    None => default_size.min(max_size),
                },
                direction: PageDirection::Forward,
                cursor: after.map(|c| Cursor::decode(c, field)).transpose()?,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> Result<PageRequest, DomainError> {
        PageRequest::parse(first, after, last, before, SortField::DueDate, 20, 100)
    }

    #[test]
    fn a_cursor_decodes_to_what_was_encoded() {
        let cursor = Cursor {
            key: SortKey::DueDate("2026-01-31".parse().unwrap()),
            id: "A-01".into(),
        };
        assert_eq!(
            Cursor::decode(&cursor.encode(), SortField::DueDate),
            Ok(cursor)
        );
    }

    #[test]
    fn malformed_and_foreign_cursors_are_refused() {
        let by_value = Cursor {
            key: SortKey::Value(10),
            id: "A-01".into(),
        }
        .encode();
        assert_eq!(
            Cursor::decode(&by_value, SortField::DueDate),
            Err(DomainError::InvalidCursor)
        );
        let crafted = [
            r#"{"key":{"CreatedAt":-8000000000000000000},"id":"x"}"#,
            r#"{"key":{"DueDate":"-100000-01-01"},"id":"x"}"#,
            r#"{"key":{"DueDate":"2026-01-01"},"id":"a\u0000b"}"#,
            r#"{"key":{"DueDate":"2026-01-01"},"id":""}"#,
            r#"{"key":{"Value":-9223372036854775808},"id":"x"}"#,
            r#"{"key":{"Value":1000000000000000000},"id":"x"}"#,
        ];
        for json in crafted {
            let field = if json.contains("CreatedAt") {
                SortField::CreatedAt
            } else if json.contains("Value") {
                SortField::Value
            } else {
                SortField::DueDate
            };
            assert_eq!(
                Cursor::decode(&URL_SAFE_NO_PAD.encode(json), field),
                Err(DomainError::InvalidCursor),
                "{json}"
            );
        }
        for text in ["", "!!", "bm90IGpzb24", "eyJrZXkiOjF9"] {
            assert_eq!(
                Cursor::decode(text, SortField::DueDate),
                Err(DomainError::InvalidCursor),
                "{text}"
            );
        }
    }

    #[test]
    fn page_sizes_past_the_cap_or_negative_are_refused() {
        assert!(parse(Some(101), None, None, None).is_err());
        assert!(parse(Some(-1), None, None, None).is_err());
        assert!(parse(None, None, Some(101), None).is_err());
        assert_eq!(parse(Some(100), None, None, None).unwrap().size, 100);
        assert_eq!(parse(None, None, None, None).unwrap().size, 20);
    }

    #[test]
    fn contradictory_page_arguments_are_refused() {
        assert!(parse(Some(1), None, Some(1), None).is_err());
        let c = Cursor {
            key: SortKey::DueDate("2026-01-31".parse().unwrap()),
            id: "x".into(),
        }
        .encode();
        assert!(parse(None, Some(&c), None, Some(&c)).is_err());
        assert!(parse(Some(1), None, None, Some(&c)).is_err());
        let back = parse(None, None, Some(5), Some(&c)).unwrap();
        assert_eq!(back.direction, PageDirection::Backward);
    }
}
