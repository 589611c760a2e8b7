//! Pure rules of the invoice domain: money, statuses, overdue-by-date, filters and
//! cursors. Nothing here knows HTTP, GraphQL or the database; every function can be
//! tested on plain values.

mod aging;
mod api_key;
mod change;
mod code;
mod draft;
mod error;
mod feed;
#[cfg(test)]
mod fixtures;
mod id;
mod import;
mod model;
mod money;
mod page;
mod seal;
mod status;
mod webhook;

/// Whether both backends can store and compare this date: years 0001 to 9999 (SQLite
/// compares dates as text, PostgreSQL refuses years beyond its range).
pub fn is_storable_date(date: chrono::NaiveDate) -> bool {
    use chrono::Datelike;
    (1..=9999).contains(&date.year())
}

/// `YYYY-MM-DD` exactly, years 0001 to 9999: chrono alone would also take signed and
/// five-digit years, which SQLite compares as text and PostgreSQL refuses.
pub fn parse_date(text: &str) -> Option<chrono::NaiveDate> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    (shaped && is_storable_date(date)).then_some(date)
}

pub use aging::{AgingBucket, AgingTotal, OverdueAccount, ReceivablesAging};
pub use api_key::{ApiKey, ApiKeyRole, MAX_KEY_NAME};
pub use change::{
    Applied, ChangeRequest, LinkPolicy, MAX_OBSERVATION_CHARS, Origin, Outcome, Refusal,
    RefusalCode, check_no_control, decide, parse_payment_link,
};
pub use code::Code;
pub use draft::{InvoiceDraft, check_account, check_currency};
pub use error::DomainError;
pub use feed::{FeedEvent, FeedFilter, FeedPosition, Snapshot, SnapshotDiff};
pub use id::{Id, MAX_ID_CHARS};
pub use import::{
    BatchClaims, ImportCounts, ImportRow, ImportState, InvoiceImport, RowError, RowVerdict,
    check_not_stale, decide_row, settle_stale_row,
};
pub use model::{
    Account, FilterText, Invoice, InvoiceEvent, InvoiceFilter, Order, StatusTotal, new_friendly_id,
};
pub use money::{Money, sum_from_units};
pub use page::{
    Cursor, InvoiceOrder, PageDirection, PageRequest, SortDirection, SortField, SortKey,
};
pub use seal::Seal;
pub use status::{AccountStatus, ChangeSource, DocumentType, InvoiceStatus};
pub use webhook::{
    AllowList, DeliveryState, EventType, GIVE_UP_AFTER, MAX_RESPONSE_EXCERPT, SigningSecret,
    WebhookAttempt, WebhookDelivery, WebhookEndpoint, check_url, is_public, retry_delay,
    signature_header,
};
