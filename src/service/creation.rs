//! Loading a store's own data through the API: creating invoices (registering their
//! order with the first one) and writing accounts. Administrators only.

use chrono::{SubsecRound, Utc};

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::domain::{
    Account, AccountStatus, ChangeSource, DocumentType, Invoice, InvoiceDraft, Money, Order,
    Refusal, check_account, new_friendly_id,
};
use crate::store::NewInvoice;

/// What `upsertAccount` may set; timestamps are the gateway's.
#[derive(Clone, Debug)]
pub struct AccountDraft {
    pub id: String,
    pub document: String,
    pub document_type: DocumentType,
    pub name: String,
    pub email: String,
    pub currency: String,
    pub credit_limit: Money,
    pub tolerance: Money,
    pub status: AccountStatus,
    /// Refuse unless the account exists at this version.
    pub expected_version: Option<i32>,
}

fn admin_only(who: &Principal) -> Result<(), AppError> {
    Ok(who.require_admin("write invoices and accounts")?)
}

impl UseCases {
    pub async fn create_invoice(
        &self,
        who: &Principal,
        draft: InvoiceDraft,
        source: ChangeSource,
    ) -> Result<Result<Invoice, Refusal>, AppError> {
        admin_only(who)?;
        let draft = match draft.checked(crate::domain::LinkPolicy {
            allow_http: self.settings().allow_http_links,
        }) {
            Ok(draft) => draft,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let now = Utc::now().trunc_subsecs(6);
        let order = draft.order_value.map(|value| Order {
            id: draft.order_id.clone(),
            account_id: draft.account_id.clone(),
            value,
            currency: draft.currency.clone(),
            created_at: now,
        });
        let new = NewInvoice {
            friendly_id: new_friendly_id(draft.installment),
            id: draft.id,
            account_id: draft.account_id,
            order_id: draft.order_id,
            installment: draft.installment,
            number_of_installments: draft.number_of_installments,
            value: draft.value,
            currency: draft.currency,
            due_date: draft.due_date,
            payment_link: draft.payment_link,
            observation: draft.observation,
            created_at: now,
            later_statuses: vec![],
        };
        Ok(self
            .store
            .create_invoice(&new, order.as_ref(), who.subject(), source)
            .await?)
    }

    pub async fn upsert_account(
        &self,
        who: &Principal,
        draft: AccountDraft,
    ) -> Result<Result<Account, Refusal>, AppError> {
        admin_only(who)?;
        let now = Utc::now().trunc_subsecs(6);
        let account = Account {
            id: draft.id,
            document: draft.document,
            document_type: draft.document_type,
            name: draft.name,
            email: draft.email,
            currency: draft.currency,
            credit_limit: draft.credit_limit,
            tolerance: draft.tolerance,
            status: draft.status,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        if let Err(refusal) = check_account(&account) {
            return Ok(Err(refusal));
        }
        Ok(self
            .store
            .upsert_account(&account, draft.expected_version)
            .await?)
    }
}
