//! Documents remembered by their text: a client that sends the same query again (every
//! screen of the console does, every few seconds) skips parsing it, checking it against
//! the limits and validating it against the schema. Parsed documents are kept by query
//! text, operation name and method; validation results by those and the variables (the
//! variables' values are part of validation). Keys are the texts themselves, not hashes
//! of them, so a hit is the same request, never a colliding one.
//!
//! A document is kept with its precompiled plan, when it has one (`plan`).
//!
//! A document is kept once it has parsed and passed the limits, and a validation result
//! only when it is valid (a refusal is worked out again each time); both only for
//! authenticated callers (as persisted queries: strangers cannot churn the cache), only
//! for short texts, and only so many: memory stays bounded whatever clients send.

use std::sync::{Arc, Mutex};

use async_graphql::ValidationResult;
use async_graphql::parser::types::ExecutableDocument;

use super::plan::Plan;

/// Documents kept at most; the least recently used go first. A parsed document of a real
/// query takes a few KB; the worst a text of [`MAX_TEXT`] can parse to (a thousand
/// repeated fields, within the limits) is about 200 KB, so 25 MB at most for them all.
const DOCUMENTS: usize = 128;
/// Validation results kept at most (one per set of variables of a document), each key
/// holding its text and variables: a few MB at most.
const VALIDATIONS: usize = 1024;
/// Longest query text kept, in bytes (the reference read's is 250; the console's longest
/// about 1,000 as Apollo Client sends it).
const MAX_TEXT: usize = 2048;
/// Longest variables kept (their JSON), in bytes.
const MAX_VARIABLES: usize = 1024;

/// What makes a document the same one: its text, the operation asked for, and whether
/// it came over `GET` (which the limits judge differently).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct DocumentKey {
    query: Arc<str>,
    operation_name: Option<Arc<str>>,
    over_get: bool,
}

impl DocumentKey {
    /// The key of a request's document, or `None` when it is too long to keep.
    pub(super) fn of(query: &str, operation_name: Option<&str>, over_get: bool) -> Option<Self> {
        (query.len() <= MAX_TEXT).then(|| DocumentKey {
            query: query.into(),
            operation_name: operation_name.map(Into::into),
            over_get,
        })
    }
}

/// A document that parsed and passed the limits, with its selected operation's name and
/// type (what the metrics and the trace span name).
#[derive(Clone)]
pub(super) struct Prepared {
    pub(super) document: ExecutableDocument,
    pub(super) operation: Option<(Option<String>, &'static str)>,
    /// The operation's precompiled plan, when it has one.
    pub(super) plan: Option<Arc<Plan>>,
}

/// The documents and validation results kept, shared by every request.
pub(super) struct Documents {
    prepared: Mutex<lru::LruCache<DocumentKey, Prepared>>,
    validated: Mutex<lru::LruCache<(DocumentKey, String), ValidationResult>>,
}

fn lock<T>(cache: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Documents {
    pub(super) fn new() -> Documents {
        let size = |n: usize| std::num::NonZeroUsize::new(n).expect("not zero");
        Documents {
            prepared: Mutex::new(lru::LruCache::new(size(DOCUMENTS))),
            validated: Mutex::new(lru::LruCache::new(size(VALIDATIONS))),
        }
    }

    pub(super) fn prepared(&self, key: &DocumentKey) -> Option<Prepared> {
        lock(&self.prepared).get(key).cloned()
    }

    pub(super) fn keep_prepared(&self, key: DocumentKey, prepared: Prepared) {
        lock(&self.prepared).put(key, prepared);
    }

    /// The key of a document's validation with these variables (their JSON), or `None`
    /// when they are too long to keep.
    pub(super) fn validation_key(
        key: DocumentKey,
        variables: &async_graphql::Variables,
    ) -> Option<(DocumentKey, String)> {
        let variables = serde_json::to_string(variables).ok()?;
        (variables.len() <= MAX_VARIABLES).then_some((key, variables))
    }

    pub(super) fn validated(&self, key: &(DocumentKey, String)) -> Option<ValidationResult> {
        lock(&self.validated).get(key).copied()
    }

    pub(super) fn keep_validated(&self, key: (DocumentKey, String), result: ValidationResult) {
        lock(&self.validated).put(key, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_the_text_the_operation_and_the_method() {
        let key = |q, op, get| DocumentKey::of(q, op, get).expect("short");
        assert_eq!(key("{ a }", None, false), key("{ a }", None, false));
        assert_ne!(key("{ a }", None, false), key("{ a }", None, true));
        assert_ne!(key("{ a }", None, false), key("{ a }", Some("A"), false));
        assert_ne!(key("{ a }", None, false), key("{ b }", None, false));
        assert!(DocumentKey::of(&"x".repeat(MAX_TEXT + 1), None, false).is_none());
    }

    #[test]
    fn variables_are_part_of_a_validation_key() {
        let key = DocumentKey::of("{ a }", None, false).expect("short");
        let vars = |json: serde_json::Value| async_graphql::Variables::from_json(json);
        let one = Documents::validation_key(key.clone(), &vars(serde_json::json!({"n": 1})));
        let two = Documents::validation_key(key.clone(), &vars(serde_json::json!({"n": 2})));
        assert!(one.is_some());
        assert_ne!(one, two);
        let long = serde_json::json!({"s": "x".repeat(MAX_VARIABLES)});
        assert!(Documents::validation_key(key, &vars(long)).is_none());
    }

    #[test]
    fn memory_is_bounded_by_entry_counts() {
        let documents = Documents::new();
        let prepared = Prepared {
            document: async_graphql::parser::parse_query("{ a }").expect("parses"),
            operation: None,
            plan: None,
        };
        for n in 0..DOCUMENTS + 10 {
            let key = DocumentKey::of(&format!("{{ a{n} }}"), None, false).expect("short");
            documents.keep_prepared(key, prepared.clone());
        }
        assert_eq!(lock(&documents.prepared).len(), DOCUMENTS);
        let first = DocumentKey::of("{ a0 }", None, false).expect("short");
        assert!(
            documents.prepared(&first).is_none(),
            "the least recently used went first"
        );
    }
}
