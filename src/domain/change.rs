//! The status rules (DESIGN section 3) and the other rules of changing an invoice, as a
//! pure function: given an invoice, a requested change and today, either the invoice's
//! new state with the event that records it, nothing to do, or a refusal with a code.

use chrono::NaiveDate;

use super::{ChangeSource, Invoice, InvoiceStatus};

/// Longest accepted payment link and observation, in characters.
pub const MAX_LINK_CHARS: usize = 2048;
pub const MAX_OBSERVATION_CHARS: usize = 2000;
pub const MAX_REASON_CHARS: usize = 500;

/// What a caller asks to change. `None` leaves a field as it is; for the link and the
/// observation, `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeRequest {
    pub status: Option<InvoiceStatus>,
    pub payment_link: Option<Option<String>>,
    pub observation: Option<Option<String>>,
    pub due_date: Option<NaiveDate>,
    /// Move the due date this many days later (REST postponement), decided on the row as
    /// it is when the change is applied. Ignored when `due_date` is given.
    pub postpone_days: Option<i64>,
    /// Why; required to reopen a paid invoice.
    pub reason: Option<String>,
    /// Refuse the change unless the invoice is still at this version.
    pub expected_version: Option<i32>,
}

/// Who and what path a change comes from, recorded on its event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub actor: String,
    pub source: ChangeSource,
    pub import_id: Option<String>,
}

/// Whether `http://` links are accepted (development only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkPolicy {
    pub allow_http: bool,
}

/// An invoice after a change, and whether anything was written (a repeat of what is
/// already so writes nothing).
#[derive(Clone, Debug)]
pub struct Applied {
    pub invoice: super::Invoice,
    pub changed: bool,
}

/// Why a change was refused: the caller's fault, with a stable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: RefusalCode,
    /// The input field at fault, as the client named it.
    pub field: Option<&'static str>,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalCode {
    NotFound,
    InvalidId,
    InvalidTransition,
    ReasonRequired,
    VersionConflict,
    InvalidPaymentLink,
    TooLong,
    InvalidDueDate,
    InvalidInput,
    AlreadyExists,
    InvalidFile,
    InvalidHeader,
    FileTooLarge,
    TooManyRows,
    MalformedRow,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        super::Code::from(self).as_str()
    }
}

impl From<RefusalCode> for super::Code {
    fn from(code: RefusalCode) -> super::Code {
        use super::Code;
        match code {
            RefusalCode::NotFound => Code::NotFound,
            RefusalCode::InvalidId => Code::InvalidId,
            RefusalCode::InvalidTransition => Code::InvalidTransition,
            RefusalCode::ReasonRequired => Code::ReasonRequired,
            RefusalCode::VersionConflict => Code::VersionConflict,
            RefusalCode::InvalidPaymentLink => Code::InvalidPaymentLink,
            RefusalCode::TooLong => Code::TooLong,
            RefusalCode::InvalidDueDate => Code::InvalidDueDate,
            RefusalCode::InvalidInput => Code::InvalidInput,
            RefusalCode::AlreadyExists => Code::AlreadyExists,
            RefusalCode::InvalidFile => Code::InvalidFile,
            RefusalCode::InvalidHeader => Code::InvalidHeader,
            RefusalCode::FileTooLarge => Code::FileTooLarge,
            RefusalCode::TooManyRows => Code::TooManyRows,
            RefusalCode::MalformedRow => Code::MalformedRow,
        }
    }
}

fn refuse(code: RefusalCode, field: Option<&'static str>, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        field,
        message: message.into(),
    }
}

impl Refusal {
    /// A refusal of `field`'s value.
    pub fn of(code: RefusalCode, field: &'static str, message: impl Into<String>) -> Refusal {
        refuse(code, Some(field), message)
    }

    pub fn not_found(id: &str) -> Refusal {
        refuse(
            RefusalCode::NotFound,
            Some("id"),
            format!("no invoice `{id}`"),
        )
    }

    pub fn invalid_id(error: super::DomainError) -> Refusal {
        refuse(RefusalCode::InvalidId, Some("id"), error.to_string())
    }
}

/// The new state of a changed invoice and what its event records. Status fields hold the
/// status as clients see it (overdue-by-date included); `stored_status` is what to persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stored_status: InvoiceStatus,
    pub status_change: Option<(InvoiceStatus, InvoiceStatus)>,
    pub payment_link: Option<String>,
    pub link_change: Option<(Option<String>, Option<String>)>,
    pub observation: Option<String>,
    pub observation_change: Option<(Option<String>, Option<String>)>,
    pub due_date: NaiveDate,
    pub due_date_change: Option<(NaiveDate, NaiveDate)>,
    /// The invoice became Paid or Cancelled.
    pub resolves: bool,
    /// A paid invoice was reopened: it is no longer resolved.
    pub reopens: bool,
    pub reason: Option<String>,
}

impl Outcome {
    pub fn is_noop(&self) -> bool {
        self.status_change.is_none()
            && self.link_change.is_none()
            && self.observation_change.is_none()
            && self.due_date_change.is_none()
    }
}

/// Reads a payment link and returns the form to store. It becomes a PAY button in the
/// customer's browser, so it must mean one thing to every reader: an absolute `https://`
/// URL (or `http://` where the policy allows), parsed by the WHATWG URL rules browsers
/// follow, with no userinfo (`https://pay.bank.com@evil.example/` goes to
/// `evil.example`), no backslash (which browsers read as `/`: `https://evil.example\@pay.bank.com/`
/// goes to `evil.example` too), no quote, backtick, angle bracket, space, control or
/// bidirectional formatting character (which make a link read differently than it goes).
/// The stored form is the parser's serialisation (lowercase host, punycode, escapes).
pub fn parse_payment_link(link: &str, policy: LinkPolicy) -> Result<String, Refusal> {
    let bad = |why: &str| refuse(RefusalCode::InvalidPaymentLink, Some("paymentLink"), why);
    if link.chars().count() > MAX_LINK_CHARS {
        return Err(bad(&format!(
            "the payment link is longer than {MAX_LINK_CHARS} characters"
        )));
    }
    if let Some(c) = link.chars().find(|&c| misleading(c)) {
        return Err(bad(&format!(
            "the payment link contains {}, which browsers or people read differently: \
             percent-encode it or remove it",
            describe(c)
        )));
    }
    let Ok(url) = url::Url::parse(link) else {
        return Err(bad("the payment link is not a valid URL"));
    };
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        _ => return Err(bad("the payment link must be an absolute https:// URL")),
    }
    // Written as `https://host…`: WHATWG parsers forgive `https:host` and `https:///host`,
    // which a person reads as having no host.
    let authority = link
        .get(url.scheme().len()..)
        .and_then(|rest| rest.strip_prefix("://"));
    if url.host_str().is_none_or(str::is_empty)
        || authority.is_none_or(|rest| rest.starts_with('/'))
    {
        return Err(bad(
            "the payment link has no host: write it as https://host/…",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "the payment link has a user name before `@`: the browser would go to the host \
             after it",
        ));
    }
    let stored: String = url.into();
    if stored.chars().count() > MAX_LINK_CHARS {
        return Err(bad(&format!(
            "the payment link is longer than {MAX_LINK_CHARS} characters once escaped"
        )));
    }
    Ok(stored)
}

/// Characters a payment link never holds unescaped.
fn misleading(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || "\\\"'`<>".contains(c)
        // Bidirectional marks, embeddings, overrides and isolates: they reorder how the
        // link is displayed without changing where it goes.
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        // Zero-width characters and the byte-order mark: invisible.
        || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn describe(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("`{c}`")
    } else {
        format!("the character U+{:04X}", u32::from(c))
    }
}

fn check_text(text: &Option<String>, field: &'static str, max: usize) -> Result<(), Refusal> {
    text.as_deref()
        .map_or(Ok(()), |text| check_length(text, field, max))
}

/// A text of at most `max` characters, else `TOO_LONG` (every text field, wherever it is
/// written).
pub(super) fn check_length(text: &str, field: &'static str, max: usize) -> Result<(), Refusal> {
    if text.chars().count() > max {
        Err(refuse(
            RefusalCode::TooLong,
            Some(field),
            format!("{field} is longer than {max} characters"),
        ))
    } else {
        Ok(())
    }
}

/// Empty text means "none".
fn normalize(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Decides a change. `source` matters for one rule: only the sweeper may make an invoice
/// `OVERDUE` (by time), and only once its due date has passed.
pub fn decide(
    invoice: &Invoice,
    request: ChangeRequest,
    today: NaiveDate,
    source: ChangeSource,
    links: LinkPolicy,
) -> Result<Outcome, Refusal> {
    match request.expected_version {
        // A retry of a change that already happened is a success, not a conflict.
        Some(expected) if expected != invoice.version => {
            let unversioned = ChangeRequest {
                expected_version: None,
                ..request
            };
            match decide_unversioned(invoice, unversioned, today, source, links) {
                Ok(outcome) if outcome.is_noop() => Ok(outcome),
                _ => Err(refuse(
                    RefusalCode::VersionConflict,
                    Some("expectedVersion"),
                    format!(
                        "the invoice is at version {}, not {expected}: reload it and try again",
                        invoice.version
                    ),
                )),
            }
        }
        _ => decide_unversioned(invoice, request, today, source, links),
    }
}

/// Text a person typed: tabs and line breaks are fine, other control characters (NUL
/// above all, which PostgreSQL refuses) are not.
pub fn check_no_control(text: &str, field: &'static str) -> Result<(), Refusal> {
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        Err(refuse(
            RefusalCode::InvalidInput,
            Some(field),
            format!("{field} contains control characters"),
        ))
    } else {
        Ok(())
    }
}

fn decide_unversioned(
    invoice: &Invoice,
    request: ChangeRequest,
    today: NaiveDate,
    source: ChangeSource,
    links: LinkPolicy,
) -> Result<Outcome, Refusal> {
    use InvoiceStatus::*;

    let reason = normalize(request.reason);
    check_text(&reason, "reason", MAX_REASON_CHARS)?;
    if let Some(reason) = &reason {
        check_no_control(reason, "reason")?;
    }

    let current = invoice.status_on(today);
    let postponed = request.postpone_days.and_then(|days| {
        invoice
            .due_date
            .checked_add_signed(chrono::Duration::try_days(days)?)
    });
    let due_date = request.due_date.or(postponed).unwrap_or(invoice.due_date);
    if !super::is_storable_date(due_date) {
        return Err(refuse(
            RefusalCode::InvalidDueDate,
            Some("dueDate"),
            "the due date must fall in the years 0001 to 9999",
        ));
    }
    // Overdue happens by time only: a due date may move later, or earlier while it stays
    // today or after, never into the past.
    if due_date != invoice.due_date && due_date < today {
        return Err(refuse(
            RefusalCode::InvalidDueDate,
            Some("dueDate"),
            "a due date cannot move into the past",
        ));
    }
    let due_date_change = (due_date != invoice.due_date).then_some((invoice.due_date, due_date));
    if due_date_change.is_some() && matches!(current, Paid | Cancelled) {
        return Err(refuse(
            RefusalCode::InvalidTransition,
            Some("dueDate"),
            format!(
                "the due date of a {} invoice cannot change",
                current.as_str().to_lowercase()
            ),
        ));
    }
    // The status the invoice has after the due-date change alone.
    let shown_after_due_change = match current {
        Overdue | Open if due_date >= today => Open,
        Overdue | Open => Overdue,
        other => other,
    };

    let target = request.status.unwrap_or(shown_after_due_change);
    let refused = |why: &str| Err(refuse(RefusalCode::InvalidTransition, Some("status"), why));
    let stored_status = match (current, target) {
        (Paid, Paid) | (Cancelled, Cancelled) => invoice.stored_status,
        (Open | Overdue, Paid | Cancelled) => target,
        (Paid, Cancelled) => return refused("a paid invoice cannot be cancelled"),
        (Cancelled, _) => return refused("a cancelled invoice cannot change status"),
        (Paid, Overdue) => return refused("a paid invoice cannot become overdue"),
        (Paid, Open) => {
            if reason.is_none() {
                return Err(refuse(
                    RefusalCode::ReasonRequired,
                    Some("reason"),
                    "reopening a paid invoice needs a reason",
                ));
            }
            Open
        }
        (Open | Overdue, Overdue) if due_date >= today => {
            return refused(
                "an invoice becomes overdue by time only, once its due date has passed",
            );
        }
        // Persisting overdue-by-date is the sweeper's job; for anyone else the stored
        // status stays (the invoice reads as overdue either way).
        (Open | Overdue, Overdue) if source == ChangeSource::Sweeper => Overdue,
        (Open | Overdue, Overdue) => invoice.stored_status,
        (Open | Overdue, Open) if due_date < today => {
            return Err(refuse(
                RefusalCode::InvalidDueDate,
                Some("status"),
                "an invoice past its due date is overdue: move the due date to today or later to reopen it",
            ));
        }
        (Open | Overdue, Open) => Open,
    };
    let shown = stored_status.effective(due_date, today);
    // Clients see `current` become `shown`; when only the stored form changes (the
    // sweeper persisting overdue), the event records the stored transition.
    let status_change = if shown != current {
        Some((current, shown))
    } else if stored_status != invoice.stored_status {
        Some((invoice.stored_status, stored_status))
    } else {
        None
    };
    let resolves =
        matches!(stored_status, Paid | Cancelled) && !matches!(current, Paid | Cancelled);
    let reopens = current == Paid && stored_status == Open;

    let resolved = matches!(stored_status, Paid | Cancelled);
    let payment_link = match request.payment_link {
        None => invoice.payment_link.clone(),
        Some(link) => {
            let link = normalize(link)
                .map(|link| parse_payment_link(&link, links))
                .transpose()?;
            if let Some(link) = &link
                && resolved
                && invoice.payment_link.as_ref() != Some(link)
            {
                return Err(refuse(
                    RefusalCode::InvalidTransition,
                    Some("paymentLink"),
                    format!(
                        "a {} invoice takes no new payment link",
                        stored_status.as_str().to_lowercase()
                    ),
                ));
            }
            link
        }
    };
    let observation = match request.observation {
        None => invoice.observation.clone(),
        Some(text) => normalize(text),
    };
    check_text(&observation, "observation", MAX_OBSERVATION_CHARS)?;
    if let Some(observation) = &observation {
        check_no_control(observation, "observation")?;
    }

    let changed = |old: &Option<String>, new: &Option<String>| {
        (old != new).then(|| (old.clone(), new.clone()))
    };
    Ok(Outcome {
        stored_status,
        status_change,
        link_change: changed(&invoice.payment_link, &payment_link),
        payment_link,
        observation_change: changed(&invoice.observation, &observation),
        observation,
        due_date,
        due_date_change,
        resolves,
        reopens,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    use crate::domain::fixtures::today;

    fn invoice(stored: InvoiceStatus, due_in: i64) -> Invoice {
        crate::domain::fixtures::invoice(stored, due_in, 3)
    }

    fn to(status: InvoiceStatus) -> ChangeRequest {
        ChangeRequest {
            status: Some(status),
            ..Default::default()
        }
    }

    fn decide_as(
        source: ChangeSource,
        invoice: &Invoice,
        request: ChangeRequest,
    ) -> Result<Outcome, Refusal> {
        decide(invoice, request, today(), source, LinkPolicy::default())
    }

    fn run(invoice: &Invoice, request: ChangeRequest) -> Result<Outcome, Refusal> {
        decide_as(ChangeSource::Graphql, invoice, request)
    }

    use InvoiceStatus::*;

    type Expected = Result<Option<(InvoiceStatus, InvoiceStatus)>, RefusalCode>;

    #[test]
    fn the_status_table_holds() {
        // (stored, due in days, requested, expected: Ok(event transition or None) or Err(code))
        let cases: Vec<(InvoiceStatus, i64, InvoiceStatus, Expected)> = vec![
            (Open, 5, Paid, Ok(Some((Open, Paid)))),
            (Open, 5, Cancelled, Ok(Some((Open, Cancelled)))),
            (Open, 5, Open, Ok(None)),
            (Open, 5, Overdue, Err(RefusalCode::InvalidTransition)),
            (Open, -1, Paid, Ok(Some((Overdue, Paid)))),
            (Overdue, -1, Paid, Ok(Some((Overdue, Paid)))),
            (Overdue, -1, Cancelled, Ok(Some((Overdue, Cancelled)))),
            (Overdue, -1, Open, Err(RefusalCode::InvalidDueDate)),
            (Overdue, -1, Overdue, Ok(None)),
            (Paid, 5, Paid, Ok(None)),
            (Paid, 5, Cancelled, Err(RefusalCode::InvalidTransition)),
            (Paid, 5, Open, Err(RefusalCode::ReasonRequired)),
            (Paid, 5, Overdue, Err(RefusalCode::InvalidTransition)),
            (Cancelled, 5, Cancelled, Ok(None)),
            (Cancelled, 5, Paid, Err(RefusalCode::InvalidTransition)),
            (Cancelled, 5, Open, Err(RefusalCode::InvalidTransition)),
            (Cancelled, -5, Overdue, Err(RefusalCode::InvalidTransition)),
        ];
        for (stored, due_in, requested, expected) in cases {
            let result = run(&invoice(stored, due_in), to(requested));
            let got = result.map(|o| o.status_change).map_err(|r| r.code);
            assert_eq!(got, expected, "{stored:?} due in {due_in} → {requested:?}");
        }
    }

    #[test]
    fn paying_sets_resolution_and_repeating_it_is_a_noop() {
        let paid = run(&invoice(Open, 1), to(Paid)).unwrap();
        assert!(paid.resolves && paid.stored_status == Paid);
        let again = run(&invoice(Paid, 1), to(Paid)).unwrap();
        assert!(again.is_noop() && !again.resolves);
    }

    #[test]
    fn reopening_a_paid_invoice_needs_a_reason_and_shows_overdue_when_past_due() {
        let request = ChangeRequest {
            status: Some(Open),
            reason: Some("chargeback".into()),
            ..Default::default()
        };
        let outcome = run(&invoice(Paid, -3), request.clone()).unwrap();
        assert_eq!(outcome.status_change, Some((Paid, Overdue)));
        assert!(outcome.reopens);
        assert_eq!(outcome.reason.as_deref(), Some("chargeback"));
        let blank = ChangeRequest {
            reason: Some("   ".into()),
            ..request
        };
        assert_eq!(
            run(&invoice(Paid, 3), blank).unwrap_err().code,
            RefusalCode::ReasonRequired
        );
    }

    #[test]
    fn postponing_an_overdue_invoice_reopens_it() {
        let later = ChangeRequest {
            due_date: Some(today() + Duration::days(10)),
            ..Default::default()
        };
        for stored in [Open, Overdue] {
            let outcome = run(&invoice(stored, -2), later.clone()).unwrap();
            assert_eq!(outcome.status_change, Some((Overdue, Open)), "{stored:?}");
            assert_eq!(outcome.stored_status, Open);
            assert!(outcome.due_date_change.is_some());
        }
        let paid = run(&invoice(Paid, -2), later).unwrap_err();
        assert_eq!(paid.field, Some("dueDate"));
    }

    #[test]
    fn only_the_sweeper_persists_overdue_and_only_once() {
        let swept = decide_as(ChangeSource::Sweeper, &invoice(Open, -1), to(Overdue)).unwrap();
        assert_eq!(
            (swept.stored_status, swept.status_change),
            (Overdue, Some((Open, Overdue)))
        );
        let again = decide_as(ChangeSource::Sweeper, &invoice(Overdue, -1), to(Overdue)).unwrap();
        assert!(again.is_noop());
        let by_hand = run(&invoice(Open, -1), to(Overdue)).unwrap();
        assert!(by_hand.is_noop() && by_hand.stored_status == Open);
    }

    #[test]
    fn a_stale_version_is_a_conflict() {
        let request = ChangeRequest {
            status: Some(Paid),
            expected_version: Some(2),
            ..Default::default()
        };
        assert_eq!(
            run(&invoice(Open, 1), request).unwrap_err().code,
            RefusalCode::VersionConflict
        );
        let current = ChangeRequest {
            status: Some(Paid),
            expected_version: Some(3),
            ..Default::default()
        };
        assert!(run(&invoice(Open, 1), current).is_ok());
    }

    #[test]
    fn only_absolute_https_links_are_accepted() {
        let strict = LinkPolicy::default();
        for (good, stored) in [
            (
                "https://pay.example.com/i/123?x=1",
                "https://pay.example.com/i/123?x=1",
            ),
            ("HTTPS://PAY.EXAMPLE.COM", "https://pay.example.com/"),
            ("https://[::1]:8443/p", "https://[::1]:8443/p"),
            (
                "https://pagó.example.com/ç",
                "https://xn--pag-ina.example.com/%C3%A7",
            ),
        ] {
            assert_eq!(
                parse_payment_link(good, strict).as_deref(),
                Ok(stored),
                "{good}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_LINK_CHARS));
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "/relative",
            "pay.example.com",
            "http://pay.example.com",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://x.com/\"><script>",
            "ftp://x.com",
            &long,
            // Read one way by a person or a lax parser, followed another by browsers.
            "https://evil.example\\@pay.bank.com/",
            "https://pay.bank.com@evil.example/",
            "https://user:pw@pay.bank.com/",
            "https://pay.bank.com/\u{202E}fdp.exe",
            "https://pay.bank.com/a\u{200B}b",
            "https://pay.bank.com/'onmouseover='x",
            "https://pay.bank.com/`x`",
            "https://pay.bank.com/\tx",
            "https:pay.bank.com/x",
        ] {
            assert!(parse_payment_link(bad, strict).is_err(), "{bad}");
        }
        assert!(
            parse_payment_link("http://localhost:3000/pay", LinkPolicy { allow_http: true })
                .is_ok()
        );
    }

    #[test]
    fn links_clear_and_resolved_invoices_take_no_new_link() {
        let mut with_link = invoice(Open, 3);
        with_link.payment_link = Some("https://pay.example.com/1".into());
        let cleared = run(
            &with_link,
            ChangeRequest {
                payment_link: Some(None),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            cleared.link_change,
            Some((Some("https://pay.example.com/1".into()), None))
        );
        let set = ChangeRequest {
            payment_link: Some(Some("https://pay.example.com/2".into())),
            ..Default::default()
        };
        assert_eq!(
            run(&invoice(Paid, 3), set).unwrap_err().field,
            Some("paymentLink")
        );
    }

    #[test]
    fn a_due_date_never_moves_into_the_past() {
        for stored in [Open, Overdue] {
            let back = ChangeRequest {
                due_date: Some(today() - Duration::days(1)),
                ..Default::default()
            };
            assert_eq!(
                run(&invoice(stored, 3), back).unwrap_err().code,
                RefusalCode::InvalidDueDate,
                "{stored:?}"
            );
        }
        let earlier = ChangeRequest {
            due_date: Some(today()),
            ..Default::default()
        };
        assert_eq!(run(&invoice(Open, 3), earlier).unwrap().status_change, None);
    }

    #[test]
    fn a_retried_change_with_its_old_version_succeeds_as_a_noop() {
        let retry = ChangeRequest {
            status: Some(Paid),
            expected_version: Some(2),
            ..Default::default()
        };
        assert!(run(&invoice(Paid, 1), retry).unwrap().is_noop());
    }

    #[test]
    fn postponement_counts_from_the_current_due_date() {
        let later = ChangeRequest {
            postpone_days: Some(10),
            ..Default::default()
        };
        let outcome = run(&invoice(Overdue, -2), later).unwrap();
        assert_eq!(outcome.due_date, today() + Duration::days(8));
        assert_eq!(outcome.status_change, Some((Overdue, Open)));
    }

    #[test]
    fn control_characters_are_refused_in_text() {
        let nul = ChangeRequest {
            observation: Some(Some("a\u{0}b".into())),
            ..Default::default()
        };
        assert_eq!(
            run(&invoice(Open, 3), nul).unwrap_err().code,
            RefusalCode::InvalidInput
        );
        let lines = ChangeRequest {
            observation: Some(Some("line 1\nline 2".into())),
            ..Default::default()
        };
        assert!(run(&invoice(Open, 3), lines).is_ok());
    }

    #[test]
    fn a_due_date_beyond_year_9999_is_refused() {
        let far = ChangeRequest {
            due_date: "9999-12-31"
                .parse::<NaiveDate>()
                .ok()
                .map(|d| d + Duration::days(1)),
            ..Default::default()
        };
        assert_eq!(
            run(&invoice(Open, 3), far).unwrap_err().code,
            RefusalCode::InvalidDueDate
        );
    }

    #[test]
    fn oversized_text_is_refused() {
        let long = ChangeRequest {
            observation: Some(Some("x".repeat(MAX_OBSERVATION_CHARS + 1))),
            ..Default::default()
        };
        assert_eq!(
            run(&invoice(Open, 3), long).unwrap_err().code,
            RefusalCode::TooLong
        );
    }
}
