//! `SubscriptionRoot`: live status changes of invoices, resumable with a cursor.

use async_graphql::{Context, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::error::GqlResult;
use super::principal;
use super::types::{ChangeSource, Invoice, InvoiceStatus};
use crate::domain::Id;
use crate::service::{AppError, StatusChange, UseCases};

pub struct SubscriptionRoot;

/// One change of an invoice's status.
pub struct InvoiceStatusChange(StatusChange);

/// One change of an invoice's status: from what, to what, when, through what, and the
/// invoice itself.
#[Object]
impl InvoiceStatusChange {
    /// Pass it as `after` when subscribing again to receive exactly the changes after
    /// this one, even those committed while you were away.
    async fn cursor(&self) -> &str {
        &self.0.cursor
    }

    /// The invoice as it is when the change is delivered (on replay it may have changed
    /// again since), so that a client cache holds its latest state.
    async fn invoice(&self) -> Invoice {
        Invoice::new(self.0.invoice.clone())
    }

    /// The status before the change; null when the change created the invoice.
    async fn previous_status(&self) -> Option<InvoiceStatus> {
        self.0.event.status_from.map(Into::into)
    }

    /// The status the change set.
    async fn status(&self) -> GqlResult<InvoiceStatus> {
        self.0.event.status_to.map(Into::into).ok_or_else(|| {
            AppError::Internal(format!(
                "event {} announced without a status",
                self.0.event.seq
            ))
        })
    }

    /// When the change was made.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.event.occurred_at
    }

    /// The path the change came through.
    async fn source(&self) -> ChangeSource {
        self.0.event.source.into()
    }
}

/// Live changes, over WebSocket on `/graphql/ws` (`graphql-transport-ws` or the legacy
/// `graphql-ws` protocol), authenticated by the `connection_init` payload
/// `{"Authorization": "Bearer <token>"}`.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every status change of the invoices you may see, whatever made it (GraphQL, REST,
    /// CSV import, the overdue sweeper), creations included, once each and in order.
    /// With `after`, first every change after that cursor (nothing is lost while you were
    /// disconnected), then live ones. Customers hear their own account only.
    async fn invoice_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only this account's invoices (admins; a customer's own account is implied)."
        )]
        account_id: Option<ID>,
        #[graphql(desc = "Only changes to one of these statuses.")] statuses: Option<
            Vec<InvoiceStatus>,
        >,
        #[graphql(desc = "Resume after this change's `cursor`.")] after: Option<String>,
    ) -> Result<impl Stream<Item = GqlResult<InvoiceStatusChange>> + use<>, AppError> {
        let who = principal(ctx)?;
        let gateway = ctx.data_unchecked::<UseCases>();
        let statuses = statuses
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        let account_id = account_id.map(|id| Id::parse(id.0)).transpose()?;
        // Boxed: async-graphql keeps this resolver's future inside the subscription's
        // stream for as long as it lives, and held inline the subscribing (a read of the
        // feed's position) would make every idle subscriber about a kilobyte larger.
        let changes =
            Box::pin(gateway.status_changes(who, account_id, statuses, after.as_deref())).await?;
        Ok(changes.map(|change| change.map(InvoiceStatusChange)))
    }
}
