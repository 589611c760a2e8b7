//! Limits checked when a query is parsed, before validation or any database work: the
//! query text's size, and its aliases (async-graphql 7 has no alias limit, and aliases
//! multiply the work one request asks for: `a: invoices … b: invoices …`).

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{ErrorExtensions, ServerError, ServerResult, Variables};

/// The bounds, and what the schema tells about itself; see `config.rs` for the settings.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    pub max_query_bytes: usize,
    pub max_aliases: usize,
    /// Answer `__schema` and `__type` (GraphiQL needs it; production may turn it off).
    pub introspection: bool,
    /// Suggest field names in errors ("Did you mean …?"), which also reveals the schema.
    pub suggestions: bool,
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn refuse(code: &str, message: String) -> ServerError {
    async_graphql::Error::new(message)
        .extend_with(|_, e| e.set("code", code))
        .into_server_error(Default::default())
}

#[async_graphql::async_trait::async_trait]
impl Extension for QueryLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
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
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document, self.max_aliases + 1);
        if aliases > self.max_aliases {
            return Err(refuse(
                "TOO_MANY_ALIASES",
                format!(
                    "the query uses more than {} aliases; split it",
                    self.max_aliases
                ),
            ));
        }
        Ok(document)
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

    fn aliases(query: &str) -> usize {
        count_aliases(&async_graphql::parser::parse_query(query).unwrap(), 1000)
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
}
