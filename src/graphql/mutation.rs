//! `MutationRoot`: changing invoices. Every mutation goes through the service's one
//! change path; business refusals come back as `userErrors` with a code, and the invoice
//! is returned as it is after the call (unchanged when there was nothing to do).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::error::{GqlResult, UserError};
use super::principal;
use super::scalars::{Date, Decimal};
use super::types::{Account, AccountStatus, DocumentType, Invoice, InvoiceStatus};
use crate::domain::{
    Applied, ChangeRequest, ChangeSource, Id, InvoiceDraft, Money, Refusal, RefusalCode,
};
use crate::service::{AccountDraft, UseCases};

#[derive(Default)]
pub struct InvoiceMutation;

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
                    Ok(applied) => $name { invoice: Some(Invoice::new(applied.invoice)), user_errors: vec![] },
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

/// Creates one installment of an order. The order is registered with its first invoice.
#[derive(InputObject)]
pub struct CreateInvoiceInput {
    /// The invoice id: transaction id and two-digit installment, e.g. `A424…1A2D-01`.
    id: ID,
    /// The credit account that owes it (must exist: see `upsertAccount`).
    account_id: ID,
    /// The order it bills.
    order_id: String,
    /// The order's total value: required when the order is new, ignored otherwise.
    order_value: Option<Decimal>,
    /// This installment's number, from 1.
    installment: i32,
    /// How many installments the order is split into.
    number_of_installments: i32,
    /// The installment's amount.
    value: Decimal,
    /// ISO 4217 currency code, e.g. `BRL`.
    currency: String,
    /// When payment is due.
    due_date: Date,
    /// Where the customer pays (absolute https URL).
    payment_link: Option<String>,
    /// A free-text note.
    observation: Option<String>,
}

/// Creates a credit account, or replaces the fields of an existing one.
#[derive(InputObject)]
pub struct UpsertAccountInput {
    /// The account id, e.g. `11111111111_CPF` or a UUID.
    id: ID,
    /// The holder's document number.
    document: String,
    /// The kind of document.
    document_type: DocumentType,
    /// The holder's name.
    name: String,
    /// The holder's e-mail address.
    email: String,
    /// Currency of the credit limit.
    #[graphql(default_with = "\"BRL\".to_string()")]
    currency: String,
    /// How much the account may owe at once.
    credit_limit: Decimal,
    /// How far over the limit it may go, as a fraction (`0.30` is 30 %).
    #[graphql(default_with = "Decimal(rust_decimal::Decimal::ZERO)")]
    tolerance: Decimal,
    /// Whether the account may buy on credit.
    #[graphql(default_with = "AccountStatus::Open")]
    status: AccountStatus,
    /// Refuse unless the account exists at this version.
    expected_version: Option<i32>,
}

/// The result of `createInvoice`.
#[derive(SimpleObject)]
pub struct CreateInvoicePayload {
    /// The new invoice; null when it was refused.
    invoice: Option<Invoice>,
    /// Why it was refused; empty when it succeeded.
    user_errors: Vec<UserError>,
}

/// The result of `upsertAccount`.
#[derive(SimpleObject)]
pub struct UpsertAccountPayload {
    /// The account as stored; null when it was refused.
    account: Option<Account>,
    /// Why it was refused; empty when it succeeded.
    user_errors: Vec<UserError>,
}

fn money(value: Decimal, field: &'static str) -> Result<Money, Refusal> {
    Money::from_decimal(value.0).map_err(|e| Refusal {
        code: RefusalCode::InvalidInput,
        field: Some(field),
        message: e.to_string(),
    })
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
    let id = match Id::parse(id.as_str()) {
        Ok(id) => id,
        Err(e) => return Ok(Err(Refusal::invalid_id(e))),
    };
    ctx.data_unchecked::<UseCases>()
        .change_invoice(who, &id, request, ChangeSource::Graphql)
        .await
}

/// Changes to invoices. Administrators only.
#[Object]
impl InvoiceMutation {
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

    /// Creates one installment of an order, `OPEN`; the order is registered with its
    /// first invoice.
    async fn create_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new invoice.")] input: CreateInvoiceInput,
    ) -> GqlResult<CreateInvoicePayload> {
        let who = principal(ctx)?;
        let draft = (|| {
            Ok(InvoiceDraft {
                id: input.id.0,
                account_id: input.account_id.0,
                order_id: input.order_id,
                order_value: input
                    .order_value
                    .map(|v| money(v, "orderValue"))
                    .transpose()?,
                installment: input.installment,
                number_of_installments: input.number_of_installments,
                value: money(input.value, "value")?,
                currency: input.currency,
                due_date: input.due_date.0,
                payment_link: input.payment_link.filter(|l| !l.trim().is_empty()),
                observation: input.observation.filter(|o| !o.trim().is_empty()),
            })
        })();
        let result = match draft {
            Ok(draft) => {
                ctx.data_unchecked::<UseCases>()
                    .create_invoice(who, draft, ChangeSource::Graphql)
                    .await?
            }
            Err(refusal) => Err(refusal),
        };
        Ok(match result {
            Ok(invoice) => CreateInvoicePayload {
                invoice: Some(Invoice::new(invoice)),
                user_errors: vec![],
            },
            Err(refusal) => CreateInvoicePayload {
                invoice: None,
                user_errors: vec![refusal.into()],
            },
        })
    }

    /// Creates a credit account, or replaces the fields of an existing one.
    async fn upsert_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] input: UpsertAccountInput,
    ) -> GqlResult<UpsertAccountPayload> {
        let who = principal(ctx)?;
        let draft = (|| {
            Ok(AccountDraft {
                id: input.id.0,
                document: input.document,
                document_type: input.document_type.into(),
                name: input.name,
                email: input.email,
                currency: input.currency,
                credit_limit: money(input.credit_limit, "creditLimit")?,
                tolerance: money(input.tolerance, "tolerance")?,
                status: input.status.into(),
                expected_version: input.expected_version,
            })
        })();
        let result = match draft {
            Ok(draft) => {
                ctx.data_unchecked::<UseCases>()
                    .upsert_account(who, draft)
                    .await?
            }
            Err(refusal) => Err(refusal),
        };
        Ok(match result {
            Ok(account) => UpsertAccountPayload {
                account: Some(Account(account.into())),
                user_errors: vec![],
            },
            Err(refusal) => UpsertAccountPayload {
                account: None,
                user_errors: vec![refusal.into()],
            },
        })
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
            postpone_days: None,
            reason: input.reason,
            expected_version: input.expected_version,
        };
        Ok(change(ctx, &input.id, request).await?.into())
    }
}
