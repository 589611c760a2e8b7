//! Apollo's automatic persisted queries: a client sends only the SHA-256 of its query
//! (`extensions.persistedQuery.sha256Hash`, over `GET` or `POST`); when the gateway does
//! not know it, the answer is `PERSISTED_QUERY_NOT_FOUND` and the client sends the query
//! with its hash once, which is checked and remembered. The memory they take is bounded
//! (least recently used queries are forgotten first), and only authenticated callers'
//! queries are remembered, so strangers cannot churn the cache.

use crate::domain::Code;
use std::sync::{Arc, Mutex};

use async_graphql::{Request, ServerResult, Value};
use sha2::{Digest, Sha256};

use super::RequestContext;
use super::limits::refuse;

type Hash = [u8; 32];

/// What an entry costs besides its text: its hash twice (in the map and in its node of
/// the use order), the node's two links, the `Arc`'s counts, and the map's spare room:
/// about 120 to 200 bytes. Counting the text alone, a 4 MiB budget let a hundred thousand
/// one-line queries in, and their bookkeeping took several times the budget.
const ENTRY_OVERHEAD: usize = 192;

/// The bytes `query` is counted for against the budget.
fn entry_bytes(query: &str) -> usize {
    query.len() + ENTRY_OVERHEAD
}

/// The remembered queries, shared by every request.
pub(super) struct PersistedQueries {
    /// Bytes kept at most, each query counted as [`entry_bytes`]; 0 turns persisted
    /// queries off.
    max_bytes: usize,
    /// Longest query kept (longer ones are refused when parsed anyway).
    max_query_bytes: usize,
    lru: Mutex<Lru>,
}

/// The queries kept, the least recently used forgotten first, within a byte budget:
/// `lru` keeps the order of use; the budget is ours, as `lru` counts entries, not bytes.
struct Lru {
    queries: lru::LruCache<Hash, Arc<str>>,
    bytes: usize,
}

impl Default for Lru {
    fn default() -> Lru {
        Lru {
            queries: lru::LruCache::unbounded(),
            bytes: 0,
        }
    }
}

impl Lru {
    fn get(&mut self, hash: &Hash) -> Option<Arc<str>> {
        self.queries.get(hash).cloned()
    }

    fn insert(&mut self, hash: Hash, query: Arc<str>, max_bytes: usize) {
        let bytes = entry_bytes(&query);
        if self.get(&hash).is_some() || bytes > max_bytes {
            return;
        }
        while self.bytes + bytes > max_bytes {
            let Some((_, evicted)) = self.queries.pop_lru() else {
                break;
            };
            self.bytes -= entry_bytes(&evicted);
        }
        self.bytes += bytes;
        self.queries.put(hash, query);
    }
}

impl PersistedQueries {
    pub(super) fn new(max_bytes: usize, max_query_bytes: usize) -> PersistedQueries {
        PersistedQueries {
            max_bytes,
            max_query_bytes,
            lru: Mutex::new(Lru::default()),
        }
    }

    /// A request naming a persisted query gets its text (or the refusal), and one that
    /// sends the text with its hash has it remembered; other requests pass untouched.
    pub(super) fn resolve(&self, request: &mut Request) -> ServerResult<()> {
        let Some(persisted) = request.extensions.get("persistedQuery") else {
            return Ok(());
        };
        if self.max_bytes == 0 {
            return Err(not_supported());
        }
        let hash = requested_hash(persisted)?;
        let lru = || self.lru.lock().unwrap_or_else(|p| p.into_inner());
        let authenticated = request
            .data
            .get(&std::any::TypeId::of::<RequestContext>())
            .and_then(|data| data.downcast_ref::<RequestContext>())
            .is_some_and(|context| context.principal.is_some());
        if request.query.is_empty() {
            // A stranger is never told what others registered: to them every hash is
            // unknown, so asking reveals nothing of which queries this gateway serves.
            let found = if authenticated {
                lru().get(&hash)
            } else {
                None
            };
            let Some(query) = found else {
                return Err(refuse(
                    Code::PersistedQueryNotFound,
                    "PersistedQueryNotFound".into(),
                ));
            };
            request.query = query.to_string();
            return Ok(());
        }
        if <Hash>::from(Sha256::digest(request.query.as_bytes())) != hash {
            return Err(refuse(
                Code::PersistedQueryHashMismatch,
                "provided sha does not match query".into(),
            ));
        }
        if authenticated && request.query.len() <= self.max_query_bytes {
            lru().insert(hash, request.query.as_str().into(), self.max_bytes);
        }
        Ok(())
    }
}

fn not_supported() -> async_graphql::ServerError {
    refuse(
        Code::PersistedQueryNotSupported,
        "PersistedQueryNotSupported".into(),
    )
}

/// The hash of `extensions.persistedQuery`, checked for protocol version 1.
fn requested_hash(persisted: &Value) -> ServerResult<Hash> {
    let Value::Object(fields) = persisted else {
        return Err(not_supported());
    };
    let version = fields.get("version");
    if version != Some(&Value::from(1)) {
        return Err(not_supported());
    }
    let hex = match fields.get("sha256Hash") {
        Some(Value::String(hex)) => hex.as_str(),
        _ => "",
    };
    parse_hex(hex).ok_or_else(|| {
        refuse(
            Code::BadRequest,
            "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits".into(),
        )
    })
}

fn parse_hex(hex: &str) -> Option<Hash> {
    if hex.len() != 64 {
        return None;
    }
    let digit = |byte: u8| char::from(byte).to_digit(16);
    let mut hash = [0; 32];
    for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> Hash {
        [n; 32]
    }

    #[test]
    fn the_cache_keeps_its_bytes_and_forgets_the_least_recently_used() {
        let max = 2 * entry_bytes("aaaa") + 3;
        let mut lru = Lru::default();
        lru.insert(hash(1), "aaaa".into(), max);
        lru.insert(hash(2), "bbbb".into(), max);
        assert!(lru.get(&hash(1)).is_some(), "1 is now the most recent");
        lru.insert(hash(3), "cccc".into(), max);
        assert!(lru.get(&hash(2)).is_none(), "2 was the least recently used");
        assert_eq!(lru.get(&hash(1)).as_deref(), Some("aaaa"));
        assert_eq!(lru.get(&hash(3)).as_deref(), Some("cccc"));
        assert_eq!(lru.bytes, 2 * entry_bytes("aaaa"));
        lru.insert(hash(4), "x".repeat(max).into(), max);
        assert!(lru.get(&hash(4)).is_none(), "larger than the whole cache");
        assert_eq!(lru.queries.len(), 2);
    }

    #[test]
    fn tiny_queries_are_counted_with_what_keeping_them_costs() {
        let max = 10 * entry_bytes("{a}");
        let mut lru = Lru::default();
        for n in 0..1_000_u32 {
            let mut hash = [0; 32];
            hash[..4].copy_from_slice(&n.to_be_bytes());
            lru.insert(hash, "{a}".into(), max);
        }
        assert_eq!(
            lru.queries.len(),
            10,
            "3 bytes of text, but not 3 bytes each"
        );
        assert!(lru.bytes <= max);
    }

    #[test]
    fn hashes_are_64_hex_digits() {
        assert_eq!(parse_hex(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_hex(&"ab".repeat(31)), None);
        assert_eq!(parse_hex(&"zz".repeat(32)), None);
        assert_eq!(parse_hex(&format!("{}é", "a".repeat(62))), None);
        assert_eq!(parse_hex(&format!("+f{}", "a".repeat(62))), None);
    }
}
