//! Every request's bounds, checked before any database work (the `gate` calls them): the
//! query text's size, and its aliases once parsed (async-graphql 7 has no alias limit,
//! and aliases multiply the work one request asks for: `a: invoices … b: invoices …`);
//! its depth and complexity once validated; then its cost against the caller's budget
//! (`throttle`). Also here: no mutation over `GET`, whatever the query's text came from
//! (a persisted query too).

use crate::domain::Code;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{ErrorExtensions, ServerError, ServerResult, ValidationResult, value};

use super::throttle::{Admission, Budget, Throttle};

/// The bounds, and what the schema tells about itself; see `config.rs` for the settings.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Rows of a page without `first`/`last` (it prices such pages).
    pub default_page_size: u64,
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
    /// The schema is a federation subgraph (`_service`, `_entities`), whose own fields
    /// the gate prices and guards.
    pub federation: bool,
    /// Whether listings are answered through their precompiled plans (`plan`).
    pub plans: super::Plans,
}

/// What a page of `first`/`last` items costs: each item's fields, once per item, plus
/// one for the page itself. A page with neither is priced at the default page size.
/// `totalCount`, which reads every matching row whatever the page holds, is priced once
/// per page at [`COUNT_PRICE`], not once per item: `first: 0` makes it no cheaper (a count
/// spread from a named fragment, which this cannot see, is priced as one page item, and
/// an empty page as one item for that reason).
pub(super) fn page_cost(
    first: Option<i32>,
    last: Option<i32>,
    child_complexity: usize,
    page: &Field,
) -> usize {
    let items = first.or(last).map_or_else(
        || UNSIZED_PAGE.load(Ordering::Relaxed),
        |n| usize::try_from(n).unwrap_or(0),
    );
    let counts = COUNT_PRICE.saturating_mul(counts_in(&page.selection_set.node));
    let per_item = child_complexity.saturating_sub(counts);
    items
        .max(1)
        .saturating_mul(per_item)
        .saturating_add(counts)
        .saturating_add(1)
}

/// The `totalCount` fields selected directly on a page (inline fragments included).
fn counts_in(selection_set: &SelectionSet) -> usize {
    selection_set
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => usize::from(field.node.name.node == "totalCount"),
            Selection::InlineFragment(fragment) => counts_in(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// The items a page without `first`/`last` is priced at: the largest default page size
/// of any schema built in this process (complexity functions see no settings, and a
/// price too high is safe where one too low is not).
static UNSIZED_PAGE: AtomicUsize = AtomicUsize::new(20);

/// Prices pages without `first`/`last` at `items`, or more.
pub(super) fn price_unsized_pages_at(items: u64) {
    UNSIZED_PAGE.fetch_max(
        usize::try_from(items).unwrap_or(usize::MAX),
        Ordering::Relaxed,
    );
}

/// How async-graphql marks, in the variables, where an uploaded file goes.
const UPLOAD_MARKER: &str = "#__graphql_file__:";

/// A count over a whole filter (`totalCount`, `invoiceStatusTotals`) reads every
/// matching row: it is priced as reading a page of this many invoices' fields.
pub(super) const COUNT_PRICE: usize = 50;

/// An invoice's history is not paged; it is priced as if it held this many changes.
pub(super) const HISTORY_PRICE: usize = 10;

pub(super) fn refuse(code: Code, message: String) -> ServerError {
    async_graphql::Error::new(message)
        .extend_with(|_, e| e.set("code", code.as_str()))
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
                Code::QueryTooLarge,
                format!(
                    "the query has {} bytes; the limit is {}",
                    query.len(),
                    self.max_query_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Every upload marker in the variables names a file this request carries. async-graphql
    /// writes `#__graphql_file__:<n>` where a multipart request's `map` puts file `n`, and
    /// reads it back with an `unwrap` on `n` (a panic on `#__graphql_file__:x`); a
    /// client may write such a string itself, in any request. Refused before it is read.
    pub(super) fn check_uploads(request: &async_graphql::Request) -> ServerResult<()> {
        fn check(value: &async_graphql::Value, files: usize) -> bool {
            use async_graphql::Value;
            match value {
                Value::String(text) => text
                    .strip_prefix(UPLOAD_MARKER)
                    .is_none_or(|n| n.parse::<usize>().is_ok_and(|n| n < files)),
                Value::List(items) => items.iter().all(|item| check(item, files)),
                Value::Object(fields) => fields.values().all(|field| check(field, files)),
                _ => true,
            }
        }
        let files = request.uploads.len();
        match request
            .variables
            .iter()
            .find(|(_, value)| !check(value, files))
        {
            Some((name, _)) => Err(refuse(
                Code::BadRequest,
                format!(
                    "variable `{name}` holds a `{UPLOAD_MARKER}` value that names no file of \
                     this request: files are sent as a multipart upload"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The parsed document's size once its fragments are spread (before async-graphql
    /// walks it: a few fragments that each spread the next several times would expand to
    /// millions of fields), its aliases, no upload marker written into it, and no
    /// mutation `over_get`.
    pub(super) fn check_document(
        &self,
        document: &ExecutableDocument,
        operation: Option<&OperationDefinition>,
        over_get: bool,
    ) -> ServerResult<()> {
        let expansion = expand(document);
        if expansion.fields > self.max_complexity {
            return Err(refuse(
                Code::QueryTooComplex,
                format!(
                    "the query expands to more than {} fields once its fragments are spread",
                    self.max_complexity
                ),
            ));
        }
        if expansion.aliases > self.max_aliases {
            return Err(refuse(
                Code::TooManyAliases,
                format!(
                    "the query uses more than {} aliases; split it",
                    self.max_aliases
                ),
            ));
        }
        if expansion.upload_literals > 0 {
            return Err(refuse(
                Code::BadRequest,
                format!(
                    "the document holds a `{UPLOAD_MARKER}` value: files are sent as a \
                     multipart upload, through variables"
                ),
            ));
        }
        if over_get && operation.is_some_and(|op| op.ty == OperationType::Mutation) {
            return Err(refuse(
                Code::MethodNotAllowed,
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
                Code::QueryTooDeep,
                format!(
                    "the query nests {} levels deep; the limit is {}",
                    result.depth, self.max_depth
                ),
            ));
        }
        if result.complexity > self.max_complexity {
            return Err(refuse(
                Code::QueryTooComplex,
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
                    e.set("code", Code::Throttled.as_str());
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

/// What a document asks for once every fragment is spread where it is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Expansion {
    fields: usize,
    aliases: usize,
    /// Upload markers written into the document (arguments, directives, variable
    /// defaults): files only ever arrive through variables, and async-graphql would read
    /// such a literal's number with an `unwrap`.
    upload_literals: usize,
}

impl std::ops::AddAssign for Expansion {
    fn add_assign(&mut self, other: Expansion) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.upload_literals = self.upload_literals.saturating_add(other.upload_literals);
    }
}

/// Whether a value of the document holds an upload marker.
fn marked(value: &async_graphql_value::Value) -> bool {
    use async_graphql_value::Value;
    match value {
        Value::String(text) => text.starts_with(UPLOAD_MARKER),
        Value::List(items) => items.iter().any(marked),
        Value::Object(fields) => fields.values().any(marked),
        _ => false,
    }
}

/// The upload markers among these arguments and directives.
fn marks<'a>(
    arguments: impl IntoIterator<Item = &'a async_graphql_value::Value>,
    directives: &'a [async_graphql::Positioned<async_graphql::parser::types::Directive>],
) -> usize {
    let in_directives = directives
        .iter()
        .flat_map(|directive| &directive.node.arguments)
        .map(|(_, value)| &value.node);
    arguments
        .into_iter()
        .chain(in_directives)
        .filter(|value| marked(value))
        .count()
}

/// Fields and aliases of every operation, each fragment counted as often as it is spread.
/// Each fragment is expanded once and remembered, so the walk is linear in the document
/// however often fragments spread each other.
fn expand(document: &ExecutableDocument) -> Expansion {
    let mut expanded = HashMap::new();
    let mut total = Expansion::default();
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        let defaults: Vec<async_graphql_value::Value> = operation
            .variable_definitions
            .iter()
            .filter_map(|definition| definition.node.default_value.as_ref())
            .map(|default| default.node.clone().into_value())
            .collect();
        let in_variables = operation
            .variable_definitions
            .iter()
            .map(|definition| marks([], &definition.node.directives))
            .sum::<usize>();
        total += Expansion {
            upload_literals: marks(&defaults, &operation.directives) + in_variables,
            ..Expansion::default()
        };
        total += expand_set(document, &operation.selection_set.node, &mut expanded);
    }
    total
}

/// `expanded` holds each fragment's expansion once known; a fragment being expanded is
/// in it as empty, so a cycle (which validation refuses) counts nothing.
fn expand_set<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    expanded: &mut HashMap<&'a str, Expansion>,
) -> Expansion {
    let mut total = Expansion::default();
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                total += Expansion {
                    fields: 1,
                    aliases: usize::from(field.alias.is_some()),
                    upload_literals: marks(
                        field.arguments.iter().map(|(_, value)| &value.node),
                        &field.directives,
                    ),
                };
                total += expand_set(document, &field.selection_set.node, expanded);
            }
            Selection::InlineFragment(inline) => {
                total += Expansion {
                    upload_literals: marks([], &inline.node.directives),
                    ..Expansion::default()
                };
                total += expand_set(document, &inline.node.selection_set.node, expanded);
            }
            Selection::FragmentSpread(spread) => {
                total += Expansion {
                    upload_literals: marks([], &spread.node.directives),
                    ..Expansion::default()
                };
                let name = spread.node.fragment_name.node.as_str();
                if let Some(known) = expanded.get(name) {
                    total += *known;
                } else if let Some(fragment) = document.fragments.get(name) {
                    expanded.insert(name, Expansion::default());
                    let own = expand_set(document, &fragment.node.selection_set.node, expanded);
                    expanded.insert(name, own);
                    total += own;
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).unwrap()
    }

    fn aliases(query: &str) -> usize {
        expand(&parse(query)).aliases
    }

    #[test]
    fn fragments_that_spread_each_other_expand_in_linear_time() {
        // 40 levels of three spreads each: 3^40 fields, counted without walking them.
        let mut query = String::from("{ ...F0 } ");
        for level in 0..40 {
            let next = format!("...F{} ", level + 1);
            query += &format!("fragment F{level} on Q {{ {} }} ", next.repeat(3));
        }
        query += "fragment F40 on Q { a: x }";
        let expansion = expand(&parse(&query));
        assert_eq!(expansion.fields, 3_usize.saturating_pow(40));
        assert_eq!(
            expand(&parse("{ a { b c } ...F } fragment F on Q { d }")).fields,
            4
        );
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

    fn page(selection: &str) -> Field {
        let document = async_graphql::parser::parse_query(format!("{{ p {selection} }}")).unwrap();
        let DocumentOperations::Single(operation) = document.operations else {
            unreachable!()
        };
        match &operation.node.selection_set.node.items[0].node {
            Selection::Field(field) => field.node.clone(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn pages_are_priced_by_their_size() {
        let nodes = page("{ nodes { id } }");
        assert_eq!(page_cost(Some(50), None, 16, &nodes), 801);
        assert_eq!(page_cost(None, Some(10), 16, &nodes), 161);
        assert_eq!(page_cost(None, None, 16, &nodes), 321);
        assert_eq!(page_cost(Some(-5), None, 16, &nodes), 17);
        assert_eq!(
            page_cost(Some(i32::MAX), None, usize::MAX, &nodes),
            usize::MAX
        );
    }

    #[test]
    fn counts_cost_the_same_whatever_the_page_size() {
        let count = page("{ totalCount }");
        for size in [0, 1, 10, 100] {
            assert_eq!(
                page_cost(Some(size), None, COUNT_PRICE, &count),
                51,
                "{size}"
            );
        }
        let both =
            page("{ a: totalCount ... on InvoiceConnection { b: totalCount } nodes { id } }");
        assert_eq!(page_cost(Some(10), None, 2 * COUNT_PRICE + 2, &both), 121);
        assert_eq!(page_cost(Some(0), None, 2 * COUNT_PRICE + 2, &both), 103);
    }
}
