//! Every request's bounds, checked before any database work (the `gate` calls them): the
//! query text's size, and its aliases once parsed (async-graphql 7 has no alias limit,
//! and aliases multiply the work one request asks for: `a: invoices … b: invoices …`);
//! its depth and complexity once validated; then its cost against the caller's budget
//! (`throttle`). Also here: no mutation over `GET`, whatever the query's text came from
//! (a persisted query too).

use std::collections::HashSet;
use std::time::Instant;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{ErrorExtensions, ServerError, ServerResult, ValidationResult, value};

use super::throttle::{Admission, Budget, Throttle};

/// The bounds, and what the schema tells about itself; see `config.rs` for the settings.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    pub max_query_bytes: usize,
    pub max_aliases: usize,
    pub max_depth: usize,
    /// Most complexity points one request may cost (see [`page_cost`]).
    pub max_complexity: usize,
    /// Each caller's budget of complexity points.
    pub budget: Budget,
    /// Memory for Apollo's automatic persisted queries; 0 turns them off.
    pub persisted_queries_bytes: usize,
    /// Answer `__schema` and `__type` (GraphiQL needs it; production may turn it off).
    pub introspection: bool,
    /// Suggest field names in errors ("Did you mean …?"), which also reveals the schema.
    pub suggestions: bool,
}

/// What a page of `first`/`last` items costs: each item's fields, once per item, plus
/// one for the page itself. A page with neither is priced at the default page size.
pub(super) fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    /// The default of `CREDIT_GATEWAY_DEFAULT_PAGE_SIZE`.
    const UNSIZED_PAGE: usize = 20;
    let items = first
        .or(last)
        .map_or(UNSIZED_PAGE, |n| usize::try_from(n).unwrap_or(0));
    items.saturating_mul(child_complexity).saturating_add(1)
}

/// An invoice's history is not paged; it is priced as if it held this many changes.
pub(super) const HISTORY_PRICE: usize = 10;

pub(super) fn refuse(code: &str, message: String) -> ServerError {
    async_graphql::Error::new(message)
        .extend_with(|_, e| e.set("code", code))
        .into_server_error(Default::default())
}

/// The operation a request runs: the one it names, or the document's only one.
pub(super) fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<(Option<&'a str>, &'a OperationDefinition)> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some((None, &operation.node)),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get_key_value(name)
            .map(|(name, operation)| (Some(name.as_str()), &operation.node)),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .iter()
            .next()
            .map(|(name, operation)| (Some(name.as_str()), &operation.node)),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

impl QueryLimits {
    /// The query text's size, before it is parsed.
    pub(super) fn check_text(&self, query: &str) -> ServerResult<()> {
        if query.len() > self.max_query_bytes {
            return Err(refuse(
                "QUERY_TOO_LARGE",
                format!(
                    "the query has {} bytes; the limit is {}",
                    query.len(),
                    self.max_query_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The parsed document's aliases, and no mutation `over_get`.
    pub(super) fn check_document(
        &self,
        document: &ExecutableDocument,
        operation: Option<&OperationDefinition>,
        over_get: bool,
    ) -> ServerResult<()> {
        if count_aliases(document, self.max_aliases + 1) > self.max_aliases {
            return Err(refuse(
                "TOO_MANY_ALIASES",
                format!(
                    "the query uses more than {} aliases; split it",
                    self.max_aliases
                ),
            ));
        }
        if over_get && operation.is_some_and(|op| op.ty == OperationType::Mutation) {
            return Err(refuse(
                "METHOD_NOT_ALLOWED",
                "mutations are sent with POST, never GET".into(),
            ));
        }
        Ok(())
    }

    /// The validated query's depth and complexity, then its cost against `caller`'s
    /// budget: what to report in `extensions.cost`, or the refusal.
    pub(super) fn admit(
        &self,
        result: &ValidationResult,
        throttle: &Throttle,
        caller: &str,
    ) -> ServerResult<async_graphql::Value> {
        if result.depth > self.max_depth {
            return Err(refuse(
                "QUERY_TOO_DEEP",
                format!(
                    "the query nests {} levels deep; the limit is {}",
                    result.depth, self.max_depth
                ),
            ));
        }
        if result.complexity > self.max_complexity {
            return Err(refuse(
                "QUERY_TOO_COMPLEX",
                format!(
                    "the query costs {} points; the limit is {} (each field costs a point, \
                     once per item of the page it is in: ask for smaller pages or fewer fields)",
                    result.complexity, self.max_complexity
                ),
            ));
        }
        let cost = result.complexity as u64;
        let budget = throttle.budget();
        match throttle.admit(caller, cost, Instant::now()) {
            Admission::Refused { retry_after } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                Err(async_graphql::Error::new(format!(
                    "the request costs {cost} points and its caller's budget is spent: \
                     retry in {seconds} s (the budget holds {} points and refills {} \
                     a second)",
                    budget.capacity, budget.per_second
                ))
                .extend_with(|_, e| {
                    e.set("code", "THROTTLED");
                    e.set("retryAfterSeconds", seconds);
                })
                .into_server_error(Default::default()))
            }
            Admission::Admitted { .. } if budget.capacity == 0 => {
                Ok(value!({ "requested": cost, "limit": self.max_complexity }))
            }
            Admission::Admitted { available } => Ok(value!({
                "requested": cost,
                "limit": self.max_complexity,
                "budget": {
                    "capacity": budget.capacity,
                    "available": available,
                    "perSecond": budget.per_second,
                },
            })),
        }
    }
}

/// Aliases in every operation, fragments counted where they are spread (so a fragment
/// spread ten times counts ten times), stopping once `stop` is reached.
fn count_aliases(document: &ExecutableDocument, stop: usize) -> usize {
    let mut count = 0;
    let operations: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
        DocumentOperations::Multiple(ops) => {
            ops.values().map(|op| &op.node.selection_set.node).collect()
        }
    };
    for set in operations {
        walk(document, set, &mut HashSet::new(), &mut count, stop);
    }
    count
}

fn walk<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    spreading: &mut HashSet<&'a str>,
    count: &mut usize,
    stop: usize,
) {
    for item in &set.items {
        if *count >= stop {
            return;
        }
        let (inner, fragment) = match &item.node {
            Selection::Field(field) => {
                *count += usize::from(field.node.alias.is_some());
                (Some(&field.node.selection_set.node), None)
            }
            Selection::InlineFragment(inline) => (Some(&inline.node.selection_set.node), None),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                // A fragment that spreads itself is refused by validation; here the
                // walk simply does not enter it twice.
                match document.fragments.get(name) {
                    Some(f) if spreading.insert(name.as_str()) => {
                        (Some(&f.node.selection_set.node), Some(name.as_str()))
                    }
                    _ => (None, None),
                }
            }
        };
        if let Some(inner) = inner {
            walk(document, inner, spreading, count, stop);
        }
        if let Some(name) = fragment {
            spreading.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).unwrap()
    }

    fn aliases(query: &str) -> usize {
        count_aliases(&parse(query), 1000)
    }

    #[test]
    fn aliases_are_counted_through_fragments_as_often_as_they_are_spread() {
        assert_eq!(aliases("{ a: x b: y z }"), 2);
        assert_eq!(aliases("{ a: x { b: y } }"), 2);
        assert_eq!(aliases("{ ...F ...F } fragment F on Q { a: x b: x }"), 4);
        assert_eq!(aliases("{ ... on Q { a: x } }"), 1);
        assert_eq!(
            aliases("{ ...F } fragment F on Q { a: x ...F }"),
            1,
            "a cycle stops"
        );
    }

    #[test]
    fn the_selected_operation_is_the_named_one_or_the_only_one() {
        let kind = |query: &str, name: Option<&str>| {
            let document = parse(query);
            selected_operation(&document, name).map(|(name, op)| (name.map(str::to_owned), op.ty))
        };
        assert_eq!(
            kind("mutation { x }", None),
            Some((None, OperationType::Mutation))
        );
        assert_eq!(kind("{ x }", None), Some((None, OperationType::Query)));
        let both = "query A { x } mutation B { y }";
        assert_eq!(
            kind(both, Some("B")),
            Some((Some("B".into()), OperationType::Mutation))
        );
        assert_eq!(
            kind(both, Some("A")),
            Some((Some("A".into()), OperationType::Query))
        );
        assert_eq!(kind(both, None), None);
        assert_eq!(kind(both, Some("C")), None);
        assert_eq!(
            kind("mutation Pay { x }", None),
            Some((Some("Pay".into()), OperationType::Mutation))
        );
    }

    #[test]
    fn pages_are_priced_by_their_size() {
        assert_eq!(page_cost(Some(50), None, 16), 801);
        assert_eq!(page_cost(None, Some(10), 16), 161);
        assert_eq!(page_cost(None, None, 16), 321);
        assert_eq!(page_cost(Some(-5), None, 16), 1);
        assert_eq!(page_cost(Some(i32::MAX), None, usize::MAX), usize::MAX);
    }
}
