//! The path for a change of one invoice, whatever its source (GraphQL, REST, the
//! sweeper): load, check rights and rules (`domain::decide`), write the row and its event
//! in one transaction. A CSV import changes thousands at once by the set-based path
//! (`imports/pipeline.rs`, then `write_changes` in `store/changes.rs`), under the same
//! `decide` and with the same events; nothing else writes invoices.

use chrono::{SubsecRound, Utc};

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::domain::{
    Applied, ChangeRequest, ChangeSource, Id, Invoice, LinkPolicy, Origin, Refusal, decide,
};

/// The invoice after the change (unchanged when there was nothing to do), or why not.
pub type ChangeResult = Result<Result<Applied, Refusal>, AppError>;

impl UseCases {
    pub(super) fn link_policy(&self) -> LinkPolicy {
        LinkPolicy {
            allow_http: self.settings().allow_http_links,
        }
    }

    /// Changes an invoice on behalf of `who`. Only admins change invoices.
    pub async fn change_invoice(
        &self,
        who: &Principal,
        id: &Id,
        request: ChangeRequest,
        source: ChangeSource,
    ) -> ChangeResult {
        who.require_admin("change invoices")?;
        let origin = Origin {
            actor: who.subject().to_owned(),
            source,
            import_id: None,
        };
        self.apply(id, request, &origin).await
    }

    /// Decides and writes a change through the store's locked read-decide-write.
    pub(super) async fn apply(
        &self,
        id: &str,
        request: ChangeRequest,
        origin: &Origin,
    ) -> ChangeResult {
        let (today, links) = (self.today(), self.link_policy());
        let decide = |invoice: &Invoice| decide(invoice, request, today, origin.source, links);
        let now = Utc::now().trunc_subsecs(6);
        let result = self.store.change_invoice(id, decide, origin, now).await?;
        if let Ok(Applied {
            invoice,
            changed: true,
        }) = &result
        {
            tracing::info!(
                invoice.id = %id,
                change.source = origin.source.as_str(),
                invoice.version = invoice.version,
                "invoice changed"
            );
        }
        Ok(result)
    }
}
