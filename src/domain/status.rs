//! Invoice statuses, overdue-by-date, and the other closed vocabularies of the domain.

use chrono::NaiveDate;

use super::DomainError;

/// The status of an invoice as clients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvoiceStatus {
    Open,
    Paid,
    Cancelled,
    Overdue,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 4] = [
        InvoiceStatus::Open,
        InvoiceStatus::Paid,
        InvoiceStatus::Cancelled,
        InvoiceStatus::Overdue,
    ];

    /// The form stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "OPEN",
            InvoiceStatus::Paid => "PAID",
            InvoiceStatus::Cancelled => "CANCELLED",
            InvoiceStatus::Overdue => "OVERDUE",
        }
    }

    pub fn parse(text: &str) -> Result<InvoiceStatus, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| DomainError::UnknownValue {
                kind: "invoice status",
                value: text.to_owned(),
            })
    }

    /// Reads a status as people and other systems write it: English (`Open`, `Opened`,
    /// `Paid`, `Cancelled`, `Canceled`, `Overdue`, `Expired`), Spanish (`Abierto`,
    /// `Pagado`, `Cancelado`, `Vencido`) or Portuguese (`Aberto`, `Em aberto`, `Pago`,
    /// `Cancelado`, `Vencido`), masculine or feminine (an invoice is a *factura*, a
    /// *fatura*: `Pagada`, `Paga`, `Cancelada`, `Vencida`, `Abierta`, `Aberta`), in any
    /// case, surrounding spaces ignored.
    pub fn parse_loose(text: &str) -> Result<InvoiceStatus, DomainError> {
        match text.trim().to_lowercase().as_str() {
            "open" | "opened" | "abierto" | "abierta" | "aberto" | "aberta" | "em aberto" => {
                Ok(InvoiceStatus::Open)
            }
            "paid" | "pagado" | "pagada" | "pago" | "paga" => Ok(InvoiceStatus::Paid),
            "cancelled" | "canceled" | "cancelado" | "cancelada" => Ok(InvoiceStatus::Cancelled),
            "overdue" | "expired" | "vencido" | "vencida" => Ok(InvoiceStatus::Overdue),
            _ => Err(DomainError::UnknownValue {
                kind: "invoice status",
                value: text.to_owned(),
            }),
        }
    }

    /// The form the Customer Credit API writes.
    pub fn customer_credit_name(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "Opened",
            InvoiceStatus::Paid => "Paid",
            InvoiceStatus::Cancelled => "Cancelled",
            InvoiceStatus::Overdue => "Overdue",
        }
    }

    /// Overdue is a fact of time: an `OPEN` invoice whose due date is before `today` (in
    /// the store's time zone) *is* `OVERDUE`, whether or not the sweeper has persisted it.
    pub fn effective(self, due_date: NaiveDate, today: NaiveDate) -> InvoiceStatus {
        if self == InvoiceStatus::Open && due_date < today {
            InvoiceStatus::Overdue
        } else {
            self
        }
    }

    /// Open and Overdue invoices count toward an account's open balance.
    pub fn is_unpaid(self) -> bool {
        matches!(self, InvoiceStatus::Open | InvoiceStatus::Overdue)
    }
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Result<$name, DomainError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(DomainError::UnknownValue { kind: $kind, value: text.to_owned() }),
                }
            }
        }
    };
}

vocabulary!(
    /// Whether a credit account may still buy on credit.
    AccountStatus, "account status", { Open => "OPEN", Closed => "CLOSED" }
);

vocabulary!(
    /// The kind of tax document that identifies an account holder.
    DocumentType, "document type", { Cpf => "CPF", Cnpj => "CNPJ", Other => "OTHER" }
);

vocabulary!(
    /// Which path an invoice change came through.
    ChangeSource, "change source", {
        Graphql => "GRAPHQL",
        CsvImport => "CSV_IMPORT",
        Rest => "REST",
        Sweeper => "SWEEPER",
        Seed => "SEED",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn an_open_invoice_past_its_due_date_is_overdue() {
        let today = day("2026-11-24");
        let open = InvoiceStatus::Open;
        assert_eq!(
            open.effective(day("2026-11-23"), today),
            InvoiceStatus::Overdue
        );
        assert_eq!(
            open.effective(day("2026-11-24"), today),
            InvoiceStatus::Open
        );
        assert_eq!(
            InvoiceStatus::Paid.effective(day("2020-01-01"), today),
            InvoiceStatus::Paid
        );
    }

    #[test]
    fn loose_statuses_read_three_languages_in_any_case() {
        for (text, status) in [
            ("Opened", InvoiceStatus::Open),
            (" aberto ", InvoiceStatus::Open),
            ("ABIERTO", InvoiceStatus::Open),
            ("paid", InvoiceStatus::Paid),
            ("Pago", InvoiceStatus::Paid),
            ("PAGADO", InvoiceStatus::Paid),
            ("Canceled", InvoiceStatus::Cancelled),
            ("cancelado", InvoiceStatus::Cancelled),
            ("Expired", InvoiceStatus::Overdue),
            ("Vencido", InvoiceStatus::Overdue),
        ] {
            assert_eq!(InvoiceStatus::parse_loose(text), Ok(status), "{text}");
        }
        assert!(InvoiceStatus::parse_loose("settled").is_err());
    }

    #[test]
    fn statuses_parse_only_their_stored_form() {
        for status in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(status.as_str()), Ok(status));
        }
        assert!(InvoiceStatus::parse("open").is_err());
        assert_eq!(
            ChangeSource::parse("CSV_IMPORT"),
            Ok(ChangeSource::CsvImport)
        );
    }
}
