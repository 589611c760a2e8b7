//! Reads of invoices and what hangs off them: keyset pages, counts, per-status totals,
//! and the batched lookups behind the GraphQL DataLoaders.

use chrono::NaiveDate;
use entity::{account, invoice, invoice_event, order};
use futures_util::{Stream, StreamExt};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, IdenStatic, Iterable,
    Order as SqlOrder, PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect,
    QueryTrait, Select, Statement, Value,
};

use super::convert::{self, ByPosition};
use super::lists::is_one_of;
use super::{Store, StoreError, StoreResult};
use crate::domain::{
    Account, Invoice, InvoiceEvent, InvoiceFilter, InvoiceOrder, InvoiceStatus, Order,
    PageDirection, PageRequest, SortDirection, SortField, SortKey, StatusTotal, sum_from_units,
};

use invoice::Column as C;

/// What a page reads beside its invoices, in the same statement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relations {
    pub accounts: bool,
    pub orders: bool,
}

/// An invoice of a page, with its account and its order when they were asked for and
/// exist.
#[derive(Clone, Debug)]
pub struct Listed {
    pub invoice: Invoice,
    pub account: Option<Account>,
    pub order: Option<Order>,
}

impl Relations {
    /// Where a joined row's account and order columns begin, after the invoice's (`None`
    /// for a relation not read): the layout [`Listed::check`] and [`Listed::read`] share.
    fn starts(self) -> (Option<usize>, Option<usize>) {
        let after_invoice = ByPosition::<invoice::Model>::COLUMNS;
        let after_account = after_invoice + ByPosition::<account::Model>::COLUMNS;
        let orders_at = if self.accounts {
            after_account
        } else {
            after_invoice
        };
        (
            self.accounts.then_some(after_invoice),
            self.orders.then_some(orders_at),
        )
    }
}

impl Listed {
    /// Whether a joined row's columns have the types [`Listed::read`] decodes (its
    /// statement's rows share them: checked on the first).
    fn check(row: &QueryResult, with: Relations) -> StoreResult<()> {
        let (accounts_at, orders_at) = with.starts();
        ByPosition::<invoice::Model>::check(row, 0)?;
        if let Some(at) = accounts_at {
            ByPosition::<account::Model>::check(row, at)?;
        }
        if let Some(at) = orders_at {
            ByPosition::<order::Model>::check(row, at)?;
        }
        Ok(())
    }

    /// A joined row: the invoice's columns, then the account's, then the order's (each
    /// part only when `with` names it; all null when the relation is missing).
    fn read(row: &QueryResult, with: Relations) -> StoreResult<Listed> {
        let (accounts_at, orders_at) = with.starts();
        let invoice = convert::invoice(ByPosition::<invoice::Model>::at(row, 0)?)?;
        // A relation is present when its id column is not null.
        let present = |at: usize| convert::cell::<Option<String>>(row, at).map(|id| id.is_some());
        let mut account = None;
        if let Some(at) = accounts_at
            && present(at)?
        {
            account = Some(convert::account(ByPosition::<account::Model>::at(
                row, at,
            )?)?);
        }
        let mut order = None;
        if let Some(at) = orders_at
            && present(at)?
        {
            order = Some(convert::order(ByPosition::<order::Model>::at(row, at)?));
        }
        Ok(Listed {
            invoice,
            account,
            order,
        })
    }
}

/// The statement of [`Store::invoice_page`].
fn page_statement(
    backend: DbBackend,
    filter: &InvoiceFilter,
    order: InvoiceOrder,
    page: &PageRequest,
    today: NaiveDate,
    with: Relations,
) -> StoreResult<Statement> {
    let column = sort_column(order.field);
    // Reading backwards walks the index the other way, then the page is flipped back.
    let ascending =
        (order.direction == SortDirection::Asc) == (page.direction == PageDirection::Forward);
    let mut query = filtered(filter, today);
    if let Some(cursor) = &page.cursor {
        let key = key_value(&cursor.key)?;
        let id = cursor.id.as_str();
        let after = if ascending {
            Condition::any()
                .add(column.gt(key.clone()))
                .add(Condition::all().add(column.eq(key)).add(C::Id.gt(id)))
        } else {
            Condition::any()
                .add(column.lt(key.clone()))
                .add(Condition::all().add(column.eq(key)).add(C::Id.lt(id)))
        };
        query = query.filter(after);
    }
    let sql_order = if ascending {
        SqlOrder::Asc
    } else {
        SqlOrder::Desc
    };
    let query = query
        .order_by(column, sql_order.clone())
        .order_by(C::Id, sql_order);
    let page_query = with_limit(query.build(backend), page_limit(page.size));
    if !with.accounts && !with.orders {
        return Ok(page_query);
    }
    // The page as a subquery, its relations joined to it, in the page's order.
    let direction = if ascending { "ASC" } else { "DESC" };
    let mut sql = String::from("SELECT page.*");
    let mut joins = String::new();
    if with.accounts {
        for column in account::Column::iter() {
            sql.push_str(&format!(", a.\"{}\"", column.as_str()));
        }
        joins.push_str(" LEFT JOIN accounts AS a ON a.id = page.account_id");
    }
    if with.orders {
        for column in order::Column::iter() {
            sql.push_str(&format!(", o.\"{}\"", column.as_str()));
        }
        joins.push_str(" LEFT JOIN orders AS o ON o.id = page.order_id");
    }
    sql.push_str(&format!(
        " FROM ({}) AS page{joins} ORDER BY page.\"{}\" {direction}, page.id {direction}",
        page_query.sql,
        column.as_str()
    ));
    Ok(Statement { sql, ..page_query })
}

/// The SQL condition for a status as clients see it on `today`.
fn status_condition(status: InvoiceStatus, today: NaiveDate) -> Condition {
    match status {
        InvoiceStatus::Open => Condition::all()
            .add(stored_is(InvoiceStatus::Open))
            .add(Expr::col((invoice::Entity, C::DueDate)).gte(date_literal(today))),
        InvoiceStatus::Overdue => Condition::any()
            .add(stored_is(InvoiceStatus::Overdue))
            .add(past_due(today)),
        InvoiceStatus::Paid | InvoiceStatus::Cancelled => Condition::all().add(stored_is(status)),
    }
}

/// Stored as `status` (what the sweeper has not yet made overdue included).
fn stored_is(status: InvoiceStatus) -> Expr {
    Expr::col((invoice::Entity, C::Status)).eq(status_literal(status))
}

/// Stored as open but due before `today`: overdue as clients see it.
fn past_due(today: NaiveDate) -> Condition {
    Condition::all()
        .add(stored_is(InvoiceStatus::Open))
        .add(Expr::col((invoice::Entity, C::DueDate)).lt(date_literal(today)))
}

// Values from small closed sets (a status word, today's date, a page's limit) are written
// into a listing's statement; everything else (ids, cursor keys, values, text) stays
// bound. The store asks PostgreSQL to plan each execution of a statement for its bound
// values (`force_custom_plan`, `Store::connect`), but a statement with nothing bound is
// planned once per connection and reused. A status tab's first page, the commonest
// read, was planned on every execution: 0.23 ms of planning on top of 0.48 ms of
// running it (benches/README.md). Six limits give each shape of listing (status, order,
// relations) six texts a day rather than one per page size, among the 100 prepared
// statements sqlx keeps per connection.

/// A status as an SQL literal (one of four fixed words: nothing to escape).
fn status_literal(status: InvoiceStatus) -> Expr {
    Expr::cust(format!("'{}'", status.as_str()))
}

/// A date as an SQL literal (`YYYY-MM-DD`: how SQLite stores a date, and a date to
/// PostgreSQL).
fn date_literal(date: NaiveDate) -> Expr {
    Expr::cust(format!("'{}'", date.format("%Y-%m-%d")))
}

/// The rows a page of `size` reads: one more than the page, to tell whether more lie
/// beyond it, rounded up to one of six limits so that every size up to 100 shares six
/// statements (each size its own text could crowd the statement cache, above).
fn page_limit(size: u64) -> u64 {
    const LIMITS: [u64; 6] = [2, 6, 11, 21, 51, 101];
    LIMITS
        .into_iter()
        .find(|&limit| limit > size)
        .unwrap_or(size + 1)
}

/// `statement` with `LIMIT limit` written into its text (above).
fn with_limit(mut statement: Statement, limit: u64) -> Statement {
    statement.sql.push_str(&format!(" LIMIT {limit}"));
    statement
}

/// The status as clients see it on `today`, as an SQL expression.
fn effective_status(today: NaiveDate) -> SimpleExpr {
    Expr::case(past_due(today), status_literal(InvoiceStatus::Overdue))
        .finally(Expr::col(C::Status))
        .into()
}

/// Every invoice the filter covers.
fn filtered(filter: &InvoiceFilter, today: NaiveDate) -> Select<invoice::Entity> {
    let mut criteria = if filter.any {
        Condition::any()
    } else {
        Condition::all()
    };
    if let Some(status) = filter.status {
        criteria = criteria.add(status_condition(status, today));
    }
    if filter.unpaid {
        criteria = criteria.add(C::Status.is_in([
            InvoiceStatus::Open.as_str(),
            InvoiceStatus::Overdue.as_str(),
        ]));
    }
    let exactly = [
        (C::OrderId, filter.order_id.as_deref()),
        (C::AccountId, filter.account_id.as_deref()),
        (C::FriendlyId, filter.friendly_id.as_deref()),
        (C::Observation, filter.observation.as_deref()),
    ];
    for (column, wanted) in exactly {
        if let Some(wanted) = wanted {
            criteria = criteria.add(column.eq(wanted));
        }
    }
    if let Some(value) = filter.value {
        criteria = criteria.add(C::ValueUnits.eq(value.units()));
    }
    // A range is one criterion, its bounds joined by AND even under `any`.
    let mut due = Condition::all();
    if let Some(from) = filter.due_from {
        due = due.add(C::DueDate.gte(from));
    }
    if let Some(to) = filter.due_to {
        due = due.add(C::DueDate.lte(to));
    }
    let mut created = Condition::all();
    if let Some(from) = filter.created_from {
        created = created.add(C::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        created = created.add(C::CreatedAt.lte(to));
    }
    for range in [due, created] {
        if !range.is_empty() {
            criteria = criteria.add(range);
        }
    }
    let mut query = invoice::Entity::find();
    // An empty `any` would match nothing; no criterion means every invoice.
    if !criteria.is_empty() {
        query = query.filter(criteria);
    }
    if let Some(own) = &filter.confined_to {
        query = query.filter(C::AccountId.eq(own.as_str()));
    }
    query
}

fn sort_column(field: SortField) -> C {
    match field {
        SortField::DueDate => C::DueDate,
        SortField::CreatedAt => C::CreatedAt,
        SortField::Value => C::ValueUnits,
    }
}

fn key_value(key: &SortKey) -> StoreResult<Value> {
    Ok(match key {
        SortKey::DueDate(date) => (*date).into(),
        SortKey::CreatedAt(micros) => SortKey::created_at(*micros)
            .ok_or_else(|| StoreError::Corrupt("cursor time out of range".into()))?
            .into(),
        SortKey::Value(units) => (*units).into(),
    })
}

/// A sum of money units in two parts that cannot overflow SQLite's 64-bit `SUM` (which
/// raises an error past `i64`), each read as text so that no backend rounds it through a
/// float: the billions and the rest, recombined exactly by `parse_sum`.
/// Status, currency, count, and the two parts of the value sum.
type TotalRow = (String, String, i64, Option<String>, Option<String>);

pub(super) const SUM_HIGH: &str = "CAST(SUM(value_units / 1000000000) AS TEXT)";
pub(super) const SUM_LOW: &str = "CAST(SUM(value_units % 1000000000) AS TEXT)";

pub(super) fn parse_sum(high: Option<String>, low: Option<String>) -> StoreResult<Decimal> {
    let part = |text: Option<String>| match text {
        None => Ok(0_i128),
        Some(text) => text
            .trim()
            .parse::<i128>()
            .map_err(|_| StoreError::Corrupt(format!("sum `{text}` is not an integer"))),
    };
    let units = part(high)? * 1_000_000_000 + part(low)?;
    sum_from_units(&units.to_string())
        .ok_or_else(|| StoreError::Corrupt(format!("sum {units} is out of range")))
}

impl Store {
    /// Every invoice the filter covers, by due date then id, read by one streaming
    /// statement: a consistent snapshot, delivered as the rows arrive, whatever its size.
    pub async fn stream_invoices(
        &self,
        filter: &InvoiceFilter,
        today: NaiveDate,
    ) -> StoreResult<impl Stream<Item = StoreResult<Invoice>> + Send + '_> {
        let rows = filtered(filter, today)
            .order_by_asc(C::DueDate)
            .order_by_asc(C::Id)
            .into_model::<ByPosition<invoice::Model>>()
            .stream(&self.db)
            .await?;
        Ok(rows.map(|row| convert::invoice(row?.0)))
    }

    pub async fn invoice(&self, id: &str) -> StoreResult<Option<Invoice>> {
        invoice::Entity::find_by_id(id)
            .into_model::<ByPosition<invoice::Model>>()
            .one(&self.db)
            .await?
            .map(|ByPosition(row)| convert::invoice(row))
            .transpose()
    }

    /// The rows of `E` whose `id` is one of `ids`, in no particular order: one statement.
    async fn by_ids<E>(&self, ids: &[String]) -> StoreResult<Vec<E::Model>>
    where
        E: EntityTrait,
        ByPosition<E::Model>: sea_orm::FromQueryResult,
    {
        Ok(E::find()
            .filter(is_one_of(self.backend(), "id", ids.to_vec()))
            .into_model::<ByPosition<E::Model>>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|ByPosition(row)| row)
            .collect())
    }

    /// The invoices of `ids` that exist, in no particular order.
    pub async fn invoices(&self, ids: &[String]) -> StoreResult<Vec<Invoice>> {
        let rows = self.by_ids::<invoice::Entity>(ids).await?;
        rows.into_iter().map(convert::invoice).collect()
    }

    /// One page of a keyset listing in reading order, nearest the cursor first (the
    /// listing's order forward, its reverse backward): the page's invoices and at least
    /// one more when there are more (the caller keeps the first `page.size`; a row past
    /// them tells it that more lie beyond the page, [`page_limit`]). With `with`,
    /// each invoice's account and order are read in the same statement (one round trip
    /// to the database, not three).
    pub async fn invoice_page(
        &self,
        filter: &InvoiceFilter,
        order: InvoiceOrder,
        page: &PageRequest,
        today: NaiveDate,
        with: Relations,
    ) -> StoreResult<Vec<Listed>> {
        let statement = page_statement(self.backend(), filter, order, page, today, with)?;
        let rows = self.db.query_all_raw(statement).await?;
        if let Some(first) = rows.first() {
            Listed::check(first, with)?;
        }
        rows.iter().map(|row| Listed::read(row, with)).collect()
    }

    /// The invoices at `offset + 1 ..= offset + limit` of the filter's rows in creation
    /// order (then id): positions that invoices created later never shift.
    pub async fn invoice_slice(
        &self,
        filter: &InvoiceFilter,
        today: NaiveDate,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<Invoice>> {
        filtered(filter, today)
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .offset(offset)
            .limit(limit)
            .into_model::<ByPosition<invoice::Model>>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|ByPosition(row)| convert::invoice(row))
            .collect()
    }

    pub async fn count_invoices(
        &self,
        filter: &InvoiceFilter,
        today: NaiveDate,
    ) -> StoreResult<u64> {
        Ok(filtered(filter, today).count(&self.db).await?)
    }

    /// Count and value of the invoices the filter covers, per status (as clients see it)
    /// and currency. Statuses with no invoice are absent.
    pub async fn status_totals(
        &self,
        filter: &InvoiceFilter,
        today: NaiveDate,
    ) -> StoreResult<Vec<StatusTotal>> {
        let rows: Vec<TotalRow> = filtered(filter, today)
            .select_only()
            .expr_as(effective_status(today), "shown_status")
            .column(C::Currency)
            .expr_as(Expr::cust("COUNT(*)"), "invoices")
            .expr_as(Expr::cust(SUM_HIGH), "units_high")
            .expr_as(Expr::cust(SUM_LOW), "units_low")
            .group_by(Expr::col(Alias::new("shown_status")))
            .group_by(C::Currency)
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(status, currency, count, high, low)| {
                Ok(StatusTotal {
                    status: InvoiceStatus::parse(&status)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    currency,
                    count,
                    value: parse_sum(high, low)?,
                })
            })
            .collect()
    }

    pub async fn accounts(&self, ids: &[String]) -> StoreResult<Vec<Account>> {
        let rows = self.by_ids::<account::Entity>(ids).await?;
        rows.into_iter().map(convert::account).collect()
    }

    pub async fn account(&self, id: &str) -> StoreResult<Option<Account>> {
        account::Entity::find_by_id(id)
            .into_model::<ByPosition<account::Model>>()
            .one(&self.db)
            .await?
            .map(|ByPosition(row)| convert::account(row))
            .transpose()
    }

    pub async fn orders(&self, ids: &[String]) -> StoreResult<Vec<Order>> {
        let rows = self.by_ids::<order::Entity>(ids).await?;
        Ok(rows.into_iter().map(convert::order).collect())
    }

    /// The sum of the unpaid (Open and Overdue) invoices of each account. Accounts with
    /// none are absent.
    pub async fn open_balances(
        &self,
        account_ids: &[String],
    ) -> StoreResult<Vec<(String, Decimal)>> {
        let unpaid = [
            InvoiceStatus::Open.as_str(),
            InvoiceStatus::Overdue.as_str(),
        ];
        let rows: Vec<(String, Option<String>, Option<String>)> = invoice::Entity::find()
            .select_only()
            .column(C::AccountId)
            .expr_as(Expr::cust(SUM_HIGH), "units_high")
            .expr_as(Expr::cust(SUM_LOW), "units_low")
            .filter(is_one_of(
                self.backend(),
                "account_id",
                account_ids.to_vec(),
            ))
            .filter(C::Status.is_in(unpaid))
            .group_by(C::AccountId)
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(id, high, low)| Ok((id, parse_sum(high, low)?)))
            .collect()
    }

    /// The events of these invoices, oldest first.
    pub async fn events_of(&self, invoice_ids: &[String]) -> StoreResult<Vec<InvoiceEvent>> {
        invoice_event::Entity::find()
            .filter(is_one_of(
                self.backend(),
                "invoice_id",
                invoice_ids.to_vec(),
            ))
            .order_by_asc(invoice_event::Column::Seq)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::event)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Cursor;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
    }

    fn first_page(size: u64) -> PageRequest {
        PageRequest {
            size,
            direction: PageDirection::Forward,
            cursor: None,
        }
    }

    fn bound(statement: &Statement) -> Vec<Value> {
        statement
            .values
            .as_ref()
            .map_or_else(Vec::new, |values| values.0.clone())
    }

    const BOTH: Relations = Relations {
        accounts: true,
        orders: true,
    };

    #[test]
    fn a_status_tabs_first_page_binds_nothing_so_it_is_planned_once() {
        use InvoiceStatus::*;
        for status in [Open, Overdue, Paid, Cancelled] {
            let filter = InvoiceFilter {
                status: Some(status),
                ..InvoiceFilter::default()
            };
            for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
                for with in [Relations::default(), BOTH] {
                    let statement = page_statement(
                        backend,
                        &filter,
                        InvoiceOrder::default(),
                        &first_page(50),
                        today(),
                        with,
                    )
                    .unwrap();
                    let sql = &statement.sql;
                    assert_eq!(bound(&statement), vec![], "{status:?}, {backend:?}: {sql}");
                    assert!(sql.contains("LIMIT 51"), "{sql}");
                    assert!(sql.contains(&format!("'{}'", status.as_str())), "{sql}");
                    if matches!(status, Open | Overdue) {
                        assert!(sql.contains("'2026-12-06'"), "{sql}");
                    }
                }
            }
        }
    }

    #[test]
    fn what_a_client_sends_stays_bound() {
        let filter = InvoiceFilter {
            status: Some(InvoiceStatus::Open),
            observation: Some("it's late".into()),
            ..InvoiceFilter::default()
        };
        let after = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
        let page = PageRequest {
            cursor: Some(Cursor {
                key: SortKey::DueDate(after),
                id: "INV-'1".into(),
            }),
            ..first_page(10)
        };
        let order = InvoiceOrder::default();
        let statement =
            page_statement(DbBackend::Postgres, &filter, order, &page, today(), BOTH).unwrap();
        let sql = &statement.sql;
        assert!(
            !sql.contains("it's late") && !sql.contains("INV-'1"),
            "{sql}"
        );
        assert!(!sql.contains("2027-03-01"), "{sql}");
        let values = bound(&statement);
        assert!(values.contains(&Value::from("it's late")), "{values:?}");
        assert!(values.contains(&Value::from("INV-'1")), "{values:?}");
        assert!(values.contains(&Value::from(after)), "{values:?}");
        assert!(
            sql.ends_with("page.id ASC") && sql.contains("LIMIT 11)"),
            "{sql}"
        );
    }

    #[test]
    fn a_page_reads_one_row_past_itself_and_few_limits_serve_every_size() {
        let mut limits: Vec<u64> = (0..=100).map(page_limit).collect();
        for (size, limit) in limits.iter().enumerate() {
            assert!(*limit > size as u64, "size {size}: limit {limit}");
        }
        for size in [1, 5, 10, 20, 50, 100] {
            assert_eq!(
                page_limit(size),
                size + 1,
                "the usual sizes read no extra row"
            );
        }
        limits.dedup();
        assert_eq!(limits, [2, 6, 11, 21, 51, 101]);
        assert_eq!(
            page_limit(500),
            501,
            "a larger configured page reads its size"
        );
    }
}
