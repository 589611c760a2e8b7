//! The rules for creating invoices and writing accounts: what a well-formed new invoice
//! or account looks like, checked before anything is stored.

use super::change::{MAX_OBSERVATION_CHARS, parse_payment_link};
use super::{Account, Id, LinkPolicy, Money, Refusal, RefusalCode};

fn invalid(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code: RefusalCode::InvalidInput,
        field: Some(field),
        message: message.into(),
    }
}

/// An ISO 4217 code: three capital letters.
pub fn check_currency(currency: &str) -> Result<(), Refusal> {
    if currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(invalid(
            "currency",
            format!("`{currency}` is not an ISO 4217 code such as BRL"),
        ))
    }
}

fn check_positive(value: Money, field: &'static str) -> Result<(), Refusal> {
    if value.units() > 0 {
        Ok(())
    } else {
        Err(invalid(field, format!("{field} must be greater than zero")))
    }
}

fn check_field_id(id: &str, field: &'static str) -> Result<(), Refusal> {
    Id::parse(id).map(|_| ()).map_err(|e| Refusal {
        code: RefusalCode::InvalidId,
        field: Some(field),
        message: e.to_string(),
    })
}

fn check_text(text: &str, field: &'static str, max: usize) -> Result<(), Refusal> {
    super::check_no_control(text, field)?;
    if text.trim().is_empty() {
        Err(invalid(field, format!("{field} must not be empty")))
    } else {
        super::change::check_length(text, field, max)
    }
}

/// A new installment of an order. The order is registered with its first invoice, so
/// `order_value` is needed when the order is new.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceDraft {
    pub id: String,
    pub account_id: String,
    pub order_id: String,
    pub order_value: Option<Money>,
    pub installment: i32,
    pub number_of_installments: i32,
    pub value: Money,
    pub currency: String,
    pub due_date: chrono::NaiveDate,
    pub payment_link: Option<String>,
    pub observation: Option<String>,
}

impl InvoiceDraft {
    /// The draft if it may be created, its payment link in the form to store.
    pub fn checked(mut self, links: LinkPolicy) -> Result<InvoiceDraft, Refusal> {
        check_field_id(&self.id, "id")?;
        check_field_id(&self.account_id, "accountId")?;
        check_field_id(&self.order_id, "orderId")?;
        if !(1..=999).contains(&self.number_of_installments) {
            return Err(invalid(
                "numberOfInstallments",
                "numberOfInstallments must be between 1 and 999",
            ));
        }
        if !(1..=self.number_of_installments).contains(&self.installment) {
            return Err(invalid(
                "installment",
                "installment must be between 1 and numberOfInstallments",
            ));
        }
        check_positive(self.value, "value")?;
        if let Some(order_value) = self.order_value {
            check_positive(order_value, "orderValue")?;
        }
        check_currency(&self.currency)?;
        if let Some(link) = &self.payment_link {
            self.payment_link = Some(parse_payment_link(link, links)?);
        }
        if let Some(observation) = &self.observation {
            check_text(observation, "observation", MAX_OBSERVATION_CHARS)?;
        }
        Ok(self)
    }
}

/// Checks an account before it is written.
pub fn check_account(account: &Account) -> Result<(), Refusal> {
    check_field_id(&account.id, "id")?;
    check_text(&account.name, "name", 200)?;
    check_text(&account.document, "document", 64)?;
    super::check_no_control(&account.email, "email")?;
    let email = account.email.trim();
    let at = email.find('@');
    let email_ok = email.len() <= 254
        && at.is_some_and(|at| at > 0 && email[at + 1..].contains('.') && !email.ends_with('.'))
        && !email.contains(char::is_whitespace);
    if !email_ok {
        return Err(invalid(
            "email",
            format!("`{email}` is not an e-mail address"),
        ));
    }
    check_currency(&account.currency)?;
    if account.credit_limit.units() < 0 {
        return Err(invalid("creditLimit", "creditLimit must not be negative"));
    }
    let tolerance = account.tolerance.amount();
    if tolerance < rust_decimal::Decimal::ZERO || tolerance > rust_decimal::Decimal::from(10) {
        return Err(invalid(
            "tolerance",
            "tolerance is a fraction between 0 and 10 (0.30 is 30 %)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> InvoiceDraft {
        InvoiceDraft {
            id: "T-01".into(),
            account_id: "A".into(),
            order_id: "O".into(),
            order_value: None,
            installment: 1,
            number_of_installments: 2,
            value: Money::parse("10.00").unwrap(),
            currency: "BRL".into(),
            due_date: "2026-12-01".parse().unwrap(),
            payment_link: None,
            observation: None,
        }
    }

    #[test]
    fn a_well_formed_draft_passes_and_each_fault_names_its_field() {
        assert!(draft().checked(LinkPolicy::default()).is_ok());
        let faults: Vec<(InvoiceDraft, &str)> = vec![
            (
                InvoiceDraft {
                    installment: 3,
                    ..draft()
                },
                "installment",
            ),
            (
                InvoiceDraft {
                    number_of_installments: 0,
                    ..draft()
                },
                "numberOfInstallments",
            ),
            (
                InvoiceDraft {
                    value: Money::parse("0").unwrap(),
                    ..draft()
                },
                "value",
            ),
            (
                InvoiceDraft {
                    currency: "real".into(),
                    ..draft()
                },
                "currency",
            ),
            (
                InvoiceDraft {
                    id: "".into(),
                    ..draft()
                },
                "id",
            ),
            (
                InvoiceDraft {
                    payment_link: Some("javascript:x".into()),
                    ..draft()
                },
                "paymentLink",
            ),
        ];
        for (draft, field) in faults {
            assert_eq!(
                draft.checked(LinkPolicy::default()).unwrap_err().field,
                Some(field)
            );
        }
    }
}
