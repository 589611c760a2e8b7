//! `MutationRoot`: changing invoices. Every mutation goes through the service's one
//! change path; business refusals come back as `userErrors` with a code, and the invoice
//! is returned as it is after the call (unchanged when there was nothing to do).

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::error::GqlResult;
use super::principal;
use super::scalars::Date;
use super::types::{Invoice, InvoiceStatus};
use crate::domain::{ChangeRequest, ChangeSource, Refusal};
use crate::service::Gateway;
use crate::store::Applied;

pub struct MutationRoot;

/// Why a mutation was refused; the invoice is unchanged.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::RefusalCode")]
pub enum UserErrorCode {
    /// No invoice has this id (or it is not yours).
    NotFound,
    /// The id is malformed.
    InvalidId,
    /// The status rules do not allow this change.
    InvalidTransition,
    /// Reopening a paid invoice needs a `reason`.
    ReasonRequired,
    /// The invoice changed since the `expectedVersion` you sent: reload it.
    VersionConflict,
    /// The payment link is not an absolute https URL.
    InvalidPaymentLink,
    /// A text is longer than allowed.
    TooLong,
    /// The due date does not allow this status.
    InvalidDueDate,
}

/// A refusal of a mutation, the caller's to fix.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// The path to the input field at fault, e.g. `["input", "paymentLink"]`.
    field: Option<Vec<String>>,
    /// What is wrong, for people.
    message: String,
    /// What is wrong, for programs.
    code: UserErrorCode,
}

impl From<Refusal> for UserError {
    fn from(refusal: Refusal) -> UserError {
        UserError {
            field: refusal
                .field
                .map(|f| vec!["input".to_owned(), f.to_owned()]),
            message: refusal.message,
            code: refusal.code.into(),
        }
    }
}

macro_rules! payload {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(SimpleObject)]
        pub struct $name {
            /// The invoice after the mutation; null when it was refused.
            invoice: Option<Invoice>,
            /// Why the mutation was refused; empty when it succeeded.
            user_errors: Vec<UserError>,
        }

        impl From<Result<Applied, Refusal>> for $name {
            fn from(result: Result<Applied, Refusal>) -> $name {
                match result {
                    Ok(applied) => $name { invoice: Some(Invoice(applied.invoice)), user_errors: vec![] },
                    Err(refusal) => $name { invoice: None, user_errors: vec![refusal.into()] },
                }
            }
        }
    };
}

payload!(
    /// The result of `markInvoicePaid`.
    MarkInvoicePaidPayload
);
payload!(
    /// The result of `setPaymentLink`.
    SetPaymentLinkPayload
);
payload!(
    /// The result of `cancelInvoice`.
    CancelInvoicePayload
);
payload!(
    /// The result of `changeInvoice`.
    ChangeInvoicePayload
);

/// Marks an invoice paid.
#[derive(InputObject)]
pub struct MarkInvoicePaidInput {
    /// The invoice.
    id: ID,
    /// Refuse if the invoice is no longer at this version.
    expected_version: Option<i32>,
}

/// Sets or clears the link behind the customer's PAY button.
#[derive(InputObject)]
pub struct SetPaymentLinkInput {
    /// The invoice.
    id: ID,
    /// An absolute `https://` URL; null or empty clears the link.
    payment_link: Option<String>,
    /// Refuse if the invoice is no longer at this version.
    expected_version: Option<i32>,
}

/// Cancels an invoice.
#[derive(InputObject)]
pub struct CancelInvoiceInput {
    /// The invoice.
    id: ID,
    /// Why, recorded in the history.
    reason: Option<String>,
    /// Refuse if the invoice is no longer at this version.
    expected_version: Option<i32>,
}

/// Changes several things of an invoice at once: the GraphQL twin of the Customer Credit
/// API's "Change invoice". Omitted fields stay as they are.
#[derive(InputObject)]
pub struct ChangeInvoiceInput {
    /// The invoice.
    id: ID,
    /// The new status. `OPEN` reopens a paid invoice (with a `reason`) or an overdue one
    /// whose due date moves to today or later; `OVERDUE` happens by time only.
    status: Option<InvoiceStatus>,
    /// The new observation; null clears it.
    observation: MaybeUndefined<String>,
    /// The new payment link (absolute https URL); null clears it.
    payment_link: MaybeUndefined<String>,
    /// A new due date (postponement). Moving an overdue invoice's due date to today or
    /// later makes it open again.
    due_date: Option<Date>,
    /// Why, recorded in the history; required to reopen a paid invoice.
    reason: Option<String>,
    /// Refuse if the invoice is no longer at this version.
    expected_version: Option<i32>,
}

fn maybe(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

async fn change(
    ctx: &Context<'_>,
    id: &ID,
    request: ChangeRequest,
) -> GqlResult<Result<Applied, Refusal>> {
    let who = principal(ctx)?;
    ctx.data_unchecked::<Gateway>()
        .change_invoice(who, id, request, ChangeSource::Graphql)
        .await
}

/// Changes to invoices. Administrators only.
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Marks an invoice paid. Paying a paid invoice succeeds and records nothing new; a
    /// cancelled invoice cannot be paid.
    async fn mark_invoice_paid(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice to mark paid.")] input: MarkInvoicePaidInput,
    ) -> GqlResult<MarkInvoicePaidPayload> {
        let request = ChangeRequest {
            status: Some(crate::domain::InvoiceStatus::Paid),
            expected_version: input.expected_version,
            ..Default::default()
        };
        Ok(change(ctx, &input.id, request).await?.into())
    }

    /// Sets or clears the payment link, which the customer sees as a PAY button.
    async fn set_payment_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice and its new link.")] input: SetPaymentLinkInput,
    ) -> GqlResult<SetPaymentLinkPayload> {
        let request = ChangeRequest {
            payment_link: Some(input.payment_link),
            expected_version: input.expected_version,
            ..Default::default()
        };
        Ok(change(ctx, &input.id, request).await?.into())
    }

    /// Cancels an invoice. Cancelling a cancelled invoice succeeds and records nothing
    /// new; a paid invoice cannot be cancelled.
    async fn cancel_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice to cancel.")] input: CancelInvoiceInput,
    ) -> GqlResult<CancelInvoicePayload> {
        let request = ChangeRequest {
            status: Some(crate::domain::InvoiceStatus::Cancelled),
            reason: input.reason,
            expected_version: input.expected_version,
            ..Default::default()
        };
        Ok(change(ctx, &input.id, request).await?.into())
    }

    /// Changes status, observation, payment link and due date in one call, all or
    /// nothing.
    async fn change_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice and what to change.")] input: ChangeInvoiceInput,
    ) -> GqlResult<ChangeInvoicePayload> {
        let request = ChangeRequest {
            status: input.status.map(Into::into),
            observation: maybe(input.observation),
            payment_link: maybe(input.payment_link),
            due_date: input.due_date.map(|d| d.0),
            reason: input.reason,
            expected_version: input.expected_version,
        };
        Ok(change(ctx, &input.id, request).await?.into())
    }
}
