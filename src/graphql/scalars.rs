//! The `Decimal` and `Date` scalars of the contract.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

use crate::domain::Money;

/// An exact decimal (see the scalar's description below).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

/// An exact decimal number, written as a string (`"1250.50"`) so that no client parses it
/// as a float. Money amounts have at most four decimal places and fourteen integer
/// digits. On input, only strings are accepted: a JSON number may already have been
/// rounded by the client.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Money::parse(text)
                .map(|m| Decimal(m.amount()))
                .map_err(|e| InputValueError::custom(e.to_string())),
            _ => Err(InputValueError::custom(
                "a Decimal is written as a string, such as \"1250.50\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        let mut shown = self.0;
        if shown.scale() < 2 {
            shown.rescale(2);
        }
        Value::String(shown.to_string())
    }
}

impl From<Money> for Decimal {
    fn from(money: Money) -> Decimal {
        Decimal(money.amount())
    }
}

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar date, written `YYYY-MM-DD`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => crate::domain::parse_date(text).map(Date).ok_or_else(|| {
                InputValueError::custom(format!(
                    "`{text}` is not a date: use YYYY-MM-DD, years 0001 to 9999"
                ))
            }),
            _ => Err(InputValueError::custom(
                "a Date is written as a string, YYYY-MM-DD",
            )),
        }
    }

    fn to_value(&self) -> Value {
        // chrono's `Display` writes `%Y-%m-%d` without parsing a format string for each
        // date (a test holds the two to the same text).
        Value::String(self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_written_yyyy_mm_dd() {
        for (y, m, d) in [(2026, 12, 6), (1, 1, 1), (999, 3, 9), (9999, 12, 31)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(
                Date(date).to_value(),
                Value::String(date.format("%Y-%m-%d").to_string())
            );
        }
        let date = NaiveDate::from_ymd_opt(987, 6, 5).unwrap();
        assert_eq!(Date(date).to_value(), Value::String("0987-06-05".into()));
    }
}
