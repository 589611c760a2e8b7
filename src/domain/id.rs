//! Ids given by clients (of invoices, orders, accounts, imports and API keys), parsed once
//! where they arrive: a function that takes an [`Id`] knows its form is sound and checks
//! nothing again.

use std::fmt;
use std::ops::Deref;

use super::DomainError;

/// The most characters an id may have.
pub const MAX_ID_CHARS: usize = 128;

/// An id of the form every id takes: 1 to [`MAX_ID_CHARS`] characters, none of them a
/// space or a control character. Only [`Id::parse`] makes one, so holding one is proof
/// of the form; whether anything has that id is the store's question. It serializes as
/// its text, and deserializes through nothing but [`Id::parse`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    /// The text as an id, or why it cannot be one (shown with its first 40 characters,
    /// escaped, so that the refusal is safe to print).
    pub fn parse(text: impl Into<String>) -> Result<Id, DomainError> {
        let text = text.into();
        let valid = !text.is_empty()
            && text.chars().count() <= MAX_ID_CHARS
            && text.chars().all(|c| !c.is_control() && !c.is_whitespace());
        if valid {
            Ok(Id(text))
        } else {
            let shown: String = text.chars().take(40).collect();
            Err(DomainError::InvalidId(shown.escape_debug().to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Id {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Id {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_of_an_id() {
        for good in [
            "A424887D0F2D45028FE5C96E9B0E1A2D-01",
            "x",
            "ação_1",
            &"a".repeat(128),
        ] {
            assert_eq!(Id::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "a b", "a\tb", "a\u{0}b", "\u{7f}", &"a".repeat(129)] {
            assert!(
                matches!(Id::parse(bad), Err(DomainError::InvalidId(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_refusal_shows_the_start_of_the_text_escaped() {
        let refused = Id::parse(format!("bad\n{}", "x".repeat(100))).unwrap_err();
        let shown = refused.to_string();
        assert!(shown.starts_with("`bad\\nxxx"), "{shown}");
        assert!(!shown.contains(&"x".repeat(40)), "{shown}");
    }
}
