//! Precompiled plans: invoice listings answered without async-graphql's generic executor.
//!
//! The listings clients send again and again (the back office's list, "My Credits", an
//! ERP's poll, the reference read of `benches/`) are one `invoices` field whose selection
//! names plain fields of invoices, their accounts and orders. The generic executor
//! resolves each of those fields through a future, a context and an output conversion of
//! its own: for the reference read's page of 50, a plan spends 22 % less CPU
//! (`benches/README.md`). A plan is compiled once per document (kept with the parsed
//! document, `documents`) when the operation is such a listing, and walks the page's
//! records straight into the response.
//!
//! A plan reads through the same code as the executor (`InvoiceArgs::read`: the same
//! arguments parsed by the same types, the same statements) and writes each field with
//! the same scalar and enum conversions; a read that fails (no token, a bad cursor, the
//! database down) is answered as the executor answers it. What a plan cannot word as the
//! executor does goes to the executor: an argument that does not parse, a variable not
//! sent, an invoice without its account. Documents outside its reach (fragments,
//! directives, repeated keys, any other field) never get a plan. Nor does `totalCount`:
//! async-graphql writes an object's fields in the order they complete (its
//! `do_resolve_container`), so a count, which waits for the database, came out after its
//! siblings rather than where the query put it; where it lands depends on when it
//! completes, and no plan can promise those bytes. `CREDIT_GATEWAY_PLANS=checked` runs both for
//! every planned request and refuses to answer when their bytes differ, which is how the
//! whole test suite runs (`tests/api/helpers.rs`).

use std::sync::Arc;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    Field, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{
    ID, InputType, Name, PathSegment, Positioned, Response, ScalarType, ServerError, Value,
    Variables,
};
use chrono::NaiveDate;

use super::RequestContext;
use super::connection::{InvoiceArgs, InvoiceConnection, Wanted};
use super::loaders::Loaders;
use super::scalars::{Date, Decimal};
use super::types::{AccountStatus, DocumentType, Invoice, InvoiceStatus};
use crate::domain;
use crate::service::UseCases;

/// Whether reads that have a plan are answered through it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Plans {
    /// Every request goes through async-graphql's executor.
    Off,
    /// Listings with a plan are answered through it.
    #[default]
    On,
    /// Listings with a plan run through both; the executor's answer is sent, and a plan
    /// whose answer differs by one byte is an error (for tests and diagnosis: each such
    /// read costs twice).
    Checked,
}

/// A listing's plan: the `invoices` field as written (its response key; its arguments,
/// literals or variables bound per request), and what to write of the page.
#[derive(Debug)]
pub(super) struct Plan {
    listing: Positioned<Field>,
    connection: Fields<Part>,
    wanted: Wanted,
}

/// The fields of one object of a response: what each holds, and their keys (aliases or
/// names) in order, kept as an object of nulls that each object written starts from. A
/// copy of it carries the keys' hashes, so writing a page hashes no key: building each
/// object key by key hashed every key of every invoice again (`benches/README.md`).
#[derive(Debug)]
struct Fields<T> {
    keys: IndexMap<Name, Value>,
    what: Vec<T>,
}

impl<T> Fields<T> {
    /// The object whose fields `value` writes, in the selection's order; `None` when
    /// `value` gives up on one.
    fn write(&self, mut value: impl FnMut(&T) -> Option<Value>) -> Option<Value> {
        let mut object = self.keys.clone();
        for (slot, what) in object.values_mut().zip(&self.what) {
            *slot = value(what)?;
        }
        Some(Value::Object(object))
    }
}

/// A field of `InvoiceConnection`.
#[derive(Debug)]
enum Part {
    Typename,
    Nodes(Fields<InvoiceField>),
    Edges(Fields<EdgeField>),
    PageInfo(Fields<PageInfoField>),
}

/// A field of `InvoiceEdge`.
#[derive(Debug)]
enum EdgeField {
    Typename,
    Cursor,
    Node(Fields<InvoiceField>),
}

/// A field of `PageInfo`.
#[derive(Debug)]
enum PageInfoField {
    Typename,
    HasNextPage,
    HasPreviousPage,
    StartCursor,
    EndCursor,
}

/// A field of `Invoice` a plan writes.
#[derive(Debug)]
enum InvoiceField {
    Typename,
    Id,
    FriendlyId,
    Status,
    Value,
    Currency,
    DueDate,
    OriginalDueDate,
    Installment,
    NumberOfInstallments,
    PaymentLink,
    Observation,
    OrderId,
    AccountId,
    CreatedAt,
    UpdatedAt,
    ResolvedAt,
    Version,
    Account(Fields<AccountField>),
    Order(Fields<OrderField>),
}

/// A field of `Account` a plan writes (not the balances, which are loaded apart).
#[derive(Debug)]
enum AccountField {
    Typename,
    Id,
    Document,
    DocumentType,
    Name,
    Email,
    Currency,
    CreditLimit,
    Tolerance,
    Status,
    CreatedAt,
    UpdatedAt,
    Version,
}

/// A field of `Order`.
#[derive(Debug)]
enum OrderField {
    Typename,
    Id,
    AccountId,
    Value,
    Currency,
    CreatedAt,
}

impl Plan {
    /// The plan of `operation`, when it is a listing a plan can answer.
    pub(super) fn of(operation: &OperationDefinition) -> Option<Arc<Plan>> {
        if operation.ty != OperationType::Query || !operation.directives.is_empty() {
            return None;
        }
        let [root] = operation.selection_set.node.items.as_slice() else {
            return None;
        };
        let Selection::Field(field) = &root.node else {
            return None;
        };
        let listing = field;
        let field = &field.node;
        if field.name.node != "invoices" || !field.directives.is_empty() {
            return None;
        }
        let connection = fields(&field.selection_set.node, part)?;
        let mut wanted = Wanted::default();
        for invoice in connection.what.iter().flat_map(Part::invoices) {
            for field in &invoice.what {
                wanted.account |= matches!(field, InvoiceField::Account(_));
                wanted.order |= matches!(field, InvoiceField::Order(_));
            }
        }
        Some(Arc::new(Plan {
            listing: listing.clone(),
            connection,
            wanted,
        }))
    }

    /// The response to this request, or `None` when the executor must answer it: a
    /// variable not sent (its default, if any, is the executor's to apply), an argument
    /// that does not parse (the executor words the error), an invoice without its
    /// account. A refusal or failure of the read itself (no token, a bad cursor, the
    /// database down) is answered here as the executor answers it, so that a failing
    /// read never runs twice.
    pub(super) async fn run(
        &self,
        variables: &Variables,
        context: &RequestContext,
        gateway: &UseCases,
        loaders: &Loaders,
    ) -> Option<Response> {
        let args = self.bind(variables)?;
        let read = match context.caller() {
            Ok(who) => {
                args.read(gateway, loaders, who, context.today, self.wanted)
                    .await
            }
            Err(refused) => Err(refused),
        };
        match read {
            Ok(listing) => {
                let connection = self.write_connection(&listing, context.today)?;
                Some(Response::new(object([(self.key().clone(), connection)])))
            }
            Err(error) => {
                // As the executor reports a root field's error: at the field, with its
                // response key as the path; `data` null (the field is not nullable).
                let mut error =
                    async_graphql::Error::from(error).into_server_error(self.listing.pos);
                error.path = vec![PathSegment::Field(self.key().to_string())];
                Some(Response::from_errors(vec![error]))
            }
        }
    }

    /// The listing's key in the response: its alias, or `invoices`.
    fn key(&self) -> &Name {
        &self.listing.node.response_key().node
    }

    /// The listing's arguments, parsed as the executor parses them.
    fn bind(&self, variables: &Variables) -> Option<InvoiceArgs> {
        let mut values = IndexMap::new();
        for (name, value) in &self.listing.node.arguments {
            let value = value
                .node
                .clone()
                .into_const_with(|variable| variables.get(&variable).cloned().ok_or(()))
                .ok()?;
            values.insert(name.node.as_str(), value);
        }
        fn arg<T: InputType>(values: &IndexMap<&str, Value>, name: &str) -> Option<T> {
            T::parse(values.get(name).cloned()).ok()
        }
        Some(InvoiceArgs {
            status: arg(&values, "status")?,
            order_id: arg(&values, "orderId")?,
            account_id: arg(&values, "accountId")?,
            due_from: arg(&values, "dueFrom")?,
            due_to: arg(&values, "dueTo")?,
            order_by: arg(&values, "orderBy")?,
            first: arg(&values, "first")?,
            after: arg(&values, "after")?,
            last: arg(&values, "last")?,
            before: arg(&values, "before")?,
        })
    }

    fn write_connection(&self, listing: &InvoiceConnection, today: NaiveDate) -> Option<Value> {
        let page = listing.page();
        let invoices = listing.invoices();
        let cursor = |invoice: &Invoice| page.cursor_of(invoice.record());
        self.connection.write(|part| {
            Some(match part {
                Part::Typename => string("InvoiceConnection"),
                Part::Nodes(fields) => Value::List(
                    invoices
                        .iter()
                        .map(|invoice| write_invoice(fields, invoice, today))
                        .collect::<Option<_>>()?,
                ),
                Part::Edges(fields) => Value::List(
                    invoices
                        .iter()
                        .map(|invoice| {
                            fields.write(|field| {
                                Some(match field {
                                    EdgeField::Typename => string("InvoiceEdge"),
                                    EdgeField::Cursor => Value::String(cursor(invoice)),
                                    EdgeField::Node(fields) => {
                                        write_invoice(fields, invoice, today)?
                                    }
                                })
                            })
                        })
                        .collect::<Option<_>>()?,
                ),
                Part::PageInfo(fields) => fields.write(|field| {
                    Some(match field {
                        PageInfoField::Typename => string("PageInfo"),
                        PageInfoField::HasNextPage => Value::Boolean(page.has_next_page),
                        PageInfoField::HasPreviousPage => Value::Boolean(page.has_previous_page),
                        PageInfoField::StartCursor => optional(invoices.first().map(cursor)),
                        PageInfoField::EndCursor => optional(invoices.last().map(cursor)),
                    })
                })?,
            })
        })
    }
}

/// The executor's `response`, checked against a plan's: sent as it is when their data
/// and errors are the same bytes, replaced by an error (both logged) when they are not.
pub(super) fn check(response: Response, planned: &Response) -> Response {
    let json = |r: &Response| serde_json::to_string(&(&r.data, &r.errors)).unwrap_or_default();
    let (executed, plan) = (json(&response), json(planned));
    if executed == plan {
        return response;
    }
    tracing::error!(%executed, planned = %plan, "a plan answered differently");
    Response::from_errors(vec![ServerError::new(
        "the precompiled plan answered differently from the executor \
         (CREDIT_GATEWAY_PLANS=checked); both answers are in the log",
        None,
    )])
}

impl Part {
    /// The invoice selections under this part (`nodes`, or `edges { node }`).
    fn invoices(&self) -> Vec<&Fields<InvoiceField>> {
        match self {
            Part::Nodes(fields) => vec![fields],
            Part::Edges(edge) => edge
                .what
                .iter()
                .filter_map(|field| match field {
                    EdgeField::Node(fields) => Some(fields),
                    _ => None,
                })
                .collect(),
            Part::Typename | Part::PageInfo(_) => vec![],
        }
    }
}

/// The fields of `set`, each mapped by `field`; `None` when any selection is not a plain
/// field, carries a directive, repeats a response key, or is one `field` cannot plan.
fn fields<T>(set: &SelectionSet, field: fn(&Field) -> Option<T>) -> Option<Fields<T>> {
    let mut out = Fields {
        keys: IndexMap::with_capacity(set.items.len()),
        what: Vec::with_capacity(set.items.len()),
    };
    for selection in &set.items {
        let Selection::Field(selected) = &selection.node else {
            return None;
        };
        let selected = &selected.node;
        let key = &selected.response_key().node;
        if !selected.directives.is_empty() || out.keys.insert(key.clone(), Value::Null).is_some() {
            return None;
        }
        out.what.push(field(selected)?);
    }
    Some(out)
}

/// `what`, when `field` is a leaf: no arguments, no selection.
fn leaf<T>(field: &Field, what: Option<T>) -> Option<T> {
    (field.arguments.is_empty() && field.selection_set.node.items.is_empty())
        .then_some(what)
        .flatten()
}

/// An object field: no arguments, a selection of its own.
fn object_field<T, U>(
    field: &Field,
    kind: fn(Fields<T>) -> U,
    inner: fn(&Field) -> Option<T>,
) -> Option<U> {
    field
        .arguments
        .is_empty()
        .then(|| fields(&field.selection_set.node, inner).map(kind))
        .flatten()
}

fn part(field: &Field) -> Option<Part> {
    match field.name.node.as_str() {
        "nodes" => object_field(field, Part::Nodes, invoice_field),
        "edges" => object_field(field, Part::Edges, edge_field),
        "pageInfo" => object_field(field, Part::PageInfo, page_info_field),
        "__typename" => leaf(field, Some(Part::Typename)),
        _ => None,
    }
}

fn edge_field(field: &Field) -> Option<EdgeField> {
    match field.name.node.as_str() {
        "node" => object_field(field, EdgeField::Node, invoice_field),
        "cursor" => leaf(field, Some(EdgeField::Cursor)),
        "__typename" => leaf(field, Some(EdgeField::Typename)),
        _ => None,
    }
}

fn page_info_field(field: &Field) -> Option<PageInfoField> {
    use PageInfoField::*;
    let what = match field.name.node.as_str() {
        "__typename" => Typename,
        "hasNextPage" => HasNextPage,
        "hasPreviousPage" => HasPreviousPage,
        "startCursor" => StartCursor,
        "endCursor" => EndCursor,
        _ => return None,
    };
    leaf(field, Some(what))
}

fn invoice_field(field: &Field) -> Option<InvoiceField> {
    use InvoiceField::*;
    let what = match field.name.node.as_str() {
        "account" => return object_field(field, Account, account_field),
        "order" => return object_field(field, Order, order_field),
        "__typename" => Typename,
        "id" => Id,
        "friendlyId" => FriendlyId,
        "status" => Status,
        "value" => Value,
        "currency" => Currency,
        "dueDate" => DueDate,
        "originalDueDate" => OriginalDueDate,
        "installment" => Installment,
        "numberOfInstallments" => NumberOfInstallments,
        "paymentLink" => PaymentLink,
        "observation" => Observation,
        "orderId" => OrderId,
        "accountId" => AccountId,
        "createdAt" => CreatedAt,
        "updatedAt" => UpdatedAt,
        "resolvedAt" => ResolvedAt,
        "version" => Version,
        _ => return None,
    };
    leaf(field, Some(what))
}

fn account_field(field: &Field) -> Option<AccountField> {
    use AccountField::*;
    let what = match field.name.node.as_str() {
        "__typename" => Typename,
        "id" => Id,
        "document" => Document,
        "documentType" => DocumentType,
        "name" => Name,
        "email" => Email,
        "currency" => Currency,
        "creditLimit" => CreditLimit,
        "tolerance" => Tolerance,
        "status" => Status,
        "createdAt" => CreatedAt,
        "updatedAt" => UpdatedAt,
        "version" => Version,
        _ => return None,
    };
    leaf(field, Some(what))
}

fn order_field(field: &Field) -> Option<OrderField> {
    use OrderField::*;
    let what = match field.name.node.as_str() {
        "__typename" => Typename,
        "id" => Id,
        "accountId" => AccountId,
        "value" => Value,
        "currency" => Currency,
        "createdAt" => CreatedAt,
        _ => return None,
    };
    leaf(field, Some(what))
}

/// A scalar as the executor writes it (`ScalarType::to_value`).
fn scalar<T: ScalarType>(value: &T) -> Value {
    value.to_value()
}

/// An enum value as the executor writes it.
fn enumeration<T: InputType>(value: T) -> Value {
    value.to_value()
}

fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn optional(text: Option<String>) -> Value {
    text.map_or(Value::Null, Value::String)
}

fn object(fields: impl IntoIterator<Item = (Name, Value)>) -> Value {
    Value::Object(fields.into_iter().collect())
}

/// An invoice as the executor writes it; `None` when its account was asked for and not
/// loaded (the executor's error to word).
fn write_invoice(
    fields: &Fields<InvoiceField>,
    invoice: &Invoice,
    today: NaiveDate,
) -> Option<Value> {
    let record = invoice.record();
    fields.write(|field| {
        Some(match field {
            InvoiceField::Typename => string("Invoice"),
            InvoiceField::Id => scalar(&ID(record.id.clone())),
            InvoiceField::FriendlyId => string(&record.friendly_id),
            InvoiceField::Status => enumeration(InvoiceStatus::from(record.status_on(today))),
            InvoiceField::Value => scalar(&Decimal::from(record.value)),
            InvoiceField::Currency => string(&record.currency),
            InvoiceField::DueDate => scalar(&Date(record.due_date)),
            InvoiceField::OriginalDueDate => scalar(&Date(record.original_due_date)),
            InvoiceField::Installment => scalar(&record.installment),
            InvoiceField::NumberOfInstallments => scalar(&record.number_of_installments),
            InvoiceField::PaymentLink => optional(record.payment_link.clone()),
            InvoiceField::Observation => optional(record.observation.clone()),
            InvoiceField::OrderId => string(&record.order_id),
            InvoiceField::AccountId => scalar(&ID(record.account_id.clone())),
            InvoiceField::CreatedAt => scalar(&record.created_at),
            InvoiceField::UpdatedAt => scalar(&record.updated_at),
            InvoiceField::ResolvedAt => record.resolved_at.as_ref().map_or(Value::Null, scalar),
            InvoiceField::Version => scalar(&record.version),
            InvoiceField::Account(fields) => write_account(fields, invoice.loaded_account()?)?,
            InvoiceField::Order(fields) => match invoice.loaded_order()? {
                Some(order) => write_order(fields, order)?,
                None => Value::Null,
            },
        })
    })
}

fn write_account(fields: &Fields<AccountField>, account: &domain::Account) -> Option<Value> {
    fields.write(|field| {
        Some(match field {
            AccountField::Typename => string("Account"),
            AccountField::Id => scalar(&ID(account.id.clone())),
            AccountField::Document => string(&account.document),
            AccountField::DocumentType => enumeration(DocumentType::from(account.document_type)),
            AccountField::Name => string(&account.name),
            AccountField::Email => string(&account.email),
            AccountField::Currency => string(&account.currency),
            AccountField::CreditLimit => scalar(&Decimal::from(account.credit_limit)),
            AccountField::Tolerance => scalar(&Decimal::from(account.tolerance)),
            AccountField::Status => enumeration(AccountStatus::from(account.status)),
            AccountField::CreatedAt => scalar(&account.created_at),
            AccountField::UpdatedAt => scalar(&account.updated_at),
            AccountField::Version => scalar(&account.version),
        })
    })
}

fn write_order(fields: &Fields<OrderField>, order: &domain::Order) -> Option<Value> {
    fields.write(|field| {
        Some(match field {
            OrderField::Typename => string("Order"),
            OrderField::Id => string(&order.id),
            OrderField::AccountId => scalar(&ID(order.account_id.clone())),
            OrderField::Value => scalar(&Decimal::from(order.value)),
            OrderField::Currency => string(&order.currency),
            OrderField::CreatedAt => scalar(&order.created_at),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str) -> Option<Arc<Plan>> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let (_, operation) = super::super::limits::selected_operation(&document, None)?;
        Plan::of(operation)
    }

    #[test]
    fn the_reference_read_and_the_consoles_lists_have_plans() {
        let reference = plan(
            "query Reference($first: Int!) { invoices(status: OPEN, first: $first) { nodes { \
             value dueDate status paymentLink orderId account { id name email creditLimit } \
             order { id value createdAt } } } }",
        )
        .expect("a plan");
        assert!(reference.wanted.account && reference.wanted.order);
        assert_eq!(reference.key().as_str(), "invoices");
        let paged = plan(
            "{ list: invoices(first: 2) { edges { cursor node { id status } } \
             pageInfo { hasNextPage endCursor } __typename } }",
        )
        .expect("a plan");
        assert_eq!(paged.key().as_str(), "list");
        assert!(!paged.wanted.account && !paged.wanted.order);
    }

    #[test]
    fn a_plan_answering_other_bytes_is_an_error() {
        let executed = || Response::new(async_graphql::value!({"a": 1, "b": "x"}));
        let same = check(executed(), &executed());
        assert!(same.errors.is_empty());
        assert_eq!(same.data, async_graphql::value!({"a": 1, "b": "x"}));
        let failed = |message: &str| Response::from_errors(vec![ServerError::new(message, None)]);
        let same = check(failed("no"), &failed("no"));
        assert_eq!(same.errors[0].message, "no");
        for other in [
            Response::new(async_graphql::value!({"a": 2, "b": "x"})),
            // The same fields in another order: equal as maps, not as bytes.
            Response::new(async_graphql::value!({"b": "x", "a": 1})),
            failed("no"),
        ] {
            let refused = check(executed(), &other);
            assert_eq!(refused.data, Value::Null);
            assert!(refused.errors[0].message.contains("answered differently"));
        }
    }

    #[test]
    fn what_a_plan_cannot_answer_goes_to_the_executor() {
        for query in [
            // Fragments, directives, repeated keys, other roots, other fields.
            "{ invoices { nodes { ...F } } } fragment F on Invoice { id }",
            "{ invoices { nodes { ... on Invoice { id } } } }",
            "query($s: Boolean!) { invoices { nodes { id @include(if: $s) } } }",
            "{ invoices { nodes { id } nodes { status } } }",
            "{ invoices { nodes { id } } today }",
            "{ invoice(id: \"x\") { id } }",
            // Written where it completes by the executor (see the module's doc).
            "{ invoices { totalCount } }",
            "{ invoices { nodes { history { status } } } }",
            "{ invoices { nodes { account { openBalance } } } }",
            "mutation { invoices { nodes { id } } }",
        ] {
            assert!(plan(query).is_none(), "{query}");
        }
    }
}
