//! Lists bound as one value. `is_in` writes a placeholder per item, so a lookup of 7 ids
//! and one of 8 are two statements, each prepared and cached on its connection (and, on
//! PostgreSQL, in the server): the DataLoaders' batches of every size filled those caches.
//! Here a list is one value, and its statement one text whatever its length.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{DbBackend, Value};

/// `items` as one value, whatever their number: an array on PostgreSQL; on SQLite, which
/// has no arrays, a JSON array (see [`one_of`]).
pub(super) fn list<T>(backend: DbBackend, items: Vec<T>) -> Value
where
    Vec<T>: Into<Value>,
    T: Into<serde_json::Value>,
{
    match backend {
        DbBackend::Postgres => items.into(),
        _ => serde_json::Value::from(items).to_string().into(),
    }
}

/// The condition that `expr` is one of the items of the [`list`] bound at `placeholder`
/// (in parentheses, so that it can be negated).
pub(super) fn one_of(backend: DbBackend, expr: &str, placeholder: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("({expr} = ANY({placeholder}))"),
        _ => format!("({expr} IN (SELECT value FROM json_each({placeholder})))"),
    }
}

/// The condition that the column `column` holds one of `items`, as a query builder's
/// filter (SeaORM numbers the placeholder from its backend's own form).
pub(super) fn is_one_of(backend: DbBackend, column: &str, items: Vec<String>) -> SimpleExpr {
    let placeholder = match backend {
        DbBackend::Postgres => "$1",
        _ => "?",
    };
    Expr::cust_with_values(one_of(backend, column, placeholder), [list(backend, items)])
}
