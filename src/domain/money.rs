//! Exact money: a decimal with at most four decimal places and fourteen integer digits.
//!
//! The store keeps money as an integer count of ten-thousandths ("units"), the one form
//! that both SQLite and PostgreSQL round-trip exactly; this module owns that conversion.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::DomainError;

/// An exact amount of money, without its currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    /// Decimal places kept; the store's unit is `10^-SCALE`.
    pub const SCALE: u32 = 4;
    /// The largest amount, in units: 99,999,999,999,999.9999.
    pub const MAX_UNITS: i64 = 999_999_999_999_999_999;

    /// Parses a decimal string such as `"1250.50"`. Numbers in other forms (exponents,
    /// thousands separators, more than four decimal places) are refused, never rounded.
    pub fn parse(text: &str) -> Result<Money, DomainError> {
        let text = text.trim();
        let bad = || DomainError::InvalidMoney(format!("`{text}` is not a decimal amount"));
        let plain = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+');
        if !plain {
            return Err(bad());
        }
        let value = Decimal::from_str(text).map_err(|_| bad())?;
        Money::from_decimal(value)
    }

    /// Checks a decimal against the scale and range limits.
    pub fn from_decimal(value: Decimal) -> Result<Money, DomainError> {
        let value = value.normalize();
        if value.scale() > Self::SCALE {
            return Err(DomainError::InvalidMoney(format!(
                "{value} has more than {} decimal places",
                Self::SCALE
            )));
        }
        let units = value.checked_mul(Decimal::from(10_i64.pow(Self::SCALE)));
        let in_range = units.is_some_and(|u| u.abs() <= Decimal::from(Self::MAX_UNITS));
        if !in_range {
            return Err(DomainError::InvalidMoney(format!(
                "{value} is beyond the limit of 99999999999999.9999"
            )));
        }
        Ok(Money(value))
    }

    /// The amount from the store's integer units. Cannot fail: every `i64` fits a
    /// `Decimal` exactly.
    pub fn from_units(units: i64) -> Money {
        Money(Decimal::new(units, Self::SCALE).normalize())
    }

    /// The amount in the store's integer units.
    pub fn units(&self) -> i64 {
        let scaled = self.0 * Decimal::from(10_i64.pow(Self::SCALE));
        // Construction guarantees at most SCALE places and |units| <= MAX_UNITS.
        i64::try_from(scaled.trunc().mantissa()).expect("money is range-checked")
    }

    pub fn amount(&self) -> Decimal {
        self.0
    }

    /// At least two decimal places, as money is usually shown (`19.9` is `"19.90"`).
    pub fn to_display_string(&self) -> String {
        let mut value = self.0;
        if value.scale() < 2 {
            value.rescale(2);
        }
        value.to_string()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_display_string())
    }
}

/// A sum of store units (an integer that may exceed one `Money`), as an exact decimal.
pub fn sum_from_units(text: &str) -> Option<Decimal> {
    let units = i128::from_str(text.trim()).ok()?;
    Decimal::try_from_i128_with_scale(units, Money::SCALE)
        .ok()
        .map(|d| d.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_through_units_exactly() {
        for text in [
            "0.10",
            "19.99",
            "12345678901234.5678",
            "99999999999999.9999",
            "-3.5",
            "0",
        ] {
            let money = Money::parse(text).unwrap();
            let back = Money::from_units(money.units());
            assert_eq!(back, money, "{text}");
            assert_eq!(back.amount(), Decimal::from_str(text).unwrap().normalize());
        }
    }

    #[test]
    fn amounts_are_shown_with_at_least_two_places() {
        assert_eq!(Money::parse("0.10").unwrap().to_string(), "0.10");
        assert_eq!(Money::parse("7").unwrap().to_string(), "7.00");
        assert_eq!(Money::parse("1.2345").unwrap().to_string(), "1.2345");
    }

    #[test]
    fn amounts_past_the_limits_are_refused_not_rounded() {
        for text in [
            "0.00001",
            "100000000000000",
            "1e5",
            "1,000.00",
            "",
            "abc",
            "NaN",
        ] {
            assert!(Money::parse(text).is_err(), "{text} should be refused");
        }
    }

    #[test]
    fn sums_of_units_may_exceed_one_amount() {
        let sum = sum_from_units("99999999999999999999").unwrap();
        assert_eq!(sum.to_string(), "9999999999999999.9999");
        assert_eq!(sum_from_units("x"), None);
    }
}
