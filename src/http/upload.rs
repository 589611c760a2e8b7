//! A GraphQL multipart upload (`importInvoicesCsv`) read as it streams, within bounds:
//! the body is cut off past the file limit (plus room for the other parts), after
//! [`UPLOAD_IDLE`] without data, at a part beyond the spec's three (`operations`, `map`,
//! and one file), or at the file when the `map` points it at more than one variable
//! (async-graphql opens the file once per variable: a map naming it 20,000 times held
//! 20,000 descriptors), before anything past the bound is stored.

use crate::domain::Code;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::body::Body;
use axum::response::Response;
use futures_util::{StreamExt, TryStreamExt};

use super::{MAX_BODY_BYTES, error_response, too_large};

/// How long an upload may send nothing before it is cut off.
const UPLOAD_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// `operations`, `map` and the one file.
const MAX_PARTS: usize = 3;

const CUT_TOO_LARGE: u8 = 1;
const CUT_STALLED: u8 = 2;
const CUT_TOO_MANY_PARTS: u8 = 3;
const CUT_BAD_MAP: u8 = 4;

/// The upload as a GraphQL request, or the answer that refuses it.
pub(super) async fn receive(
    content_type: Option<String>,
    body: Body,
    max_file: u64,
) -> Result<Result<async_graphql::Request, async_graphql::ParseRequestError>, Response> {
    let limit = max_file.saturating_add(MAX_BODY_BYTES as u64);
    let boundary = content_type.as_deref().and_then(boundary_of);
    let (body, cut) = guarded(body, limit, boundary.map(PartCounter::new));
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(usize::try_from(max_file).unwrap_or(usize::MAX))
        .max_num_files(1);
    let parsed = async_graphql::http::receive_body(content_type, body, options).await;
    match cut.load(Ordering::Relaxed) {
        CUT_TOO_LARGE => Err(too_large(limit)),
        CUT_STALLED => Err(error_response(
            Code::RequestTimeout,
            &format!(
                "the upload sent nothing for {} seconds",
                UPLOAD_IDLE.as_secs()
            ),
        )),
        CUT_TOO_MANY_PARTS => Err(error_response(
            Code::TooManyFiles,
            "an upload carries one file: the parts `operations`, `map` and the file",
        )),
        CUT_BAD_MAP => Err(error_response(
            Code::InvalidUploadMap,
            "the parts must come as `operations`, then `map`, then the file, and the map \
             must name one file for one variable, as {\"0\": [\"variables.input.file\"]}",
        )),
        _ => Ok(parsed),
    }
}

/// The `boundary` parameter of a `multipart/…` content type.
fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|boundary| !boundary.is_empty())
    })
}

/// Counts the parts of a multipart body as it passes, across chunk borders: each part
/// begins with a delimiter line `--boundary` (the closing one is `--boundary--`). Keeps
/// the first two parts (`operations` and `map`, within [`MAX_BODY_BYTES`]) until the
/// third begins, to check the map before any file is handed on.
struct PartCounter {
    /// `\r\n--boundary`; the body's first delimiter is found behind a virtual `\r\n`.
    delimiter: Vec<u8>,
    /// The end of what was seen, in case a delimiter straddles two chunks.
    tail: Vec<u8>,
    delimiters: usize,
    /// The body so far, until the map has been checked.
    start: Option<Vec<u8>>,
}

impl PartCounter {
    fn new(boundary: String) -> PartCounter {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        PartCounter {
            delimiter,
            tail: b"\r\n".to_vec(),
            delimiters: 0,
            start: Some(b"\r\n".to_vec()),
        }
    }

    /// Parts begun so far, the closing delimiter counted as one more.
    fn feed(&mut self, chunk: &[u8]) -> usize {
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        let width = self.delimiter.len();
        self.delimiters += window
            .windows(width)
            .filter(|candidate| *candidate == self.delimiter.as_slice())
            .count();
        let keep = window.len().min(width - 1);
        self.tail = window[window.len() - keep..].to_vec();
        if let Some(start) = &mut self.start {
            start.extend_from_slice(chunk);
        }
        self.delimiters
    }

    /// Why the body must be cut off at this chunk, if it must.
    fn refusal(&mut self, chunk: &[u8]) -> Option<(u8, &'static str)> {
        // The closing delimiter is one more than the parts it closes.
        if self.feed(chunk) > MAX_PARTS + 1 {
            return Some((CUT_TOO_MANY_PARTS, "too many parts"));
        }
        (self.map_is_bad() == Some(true)).then_some((CUT_BAD_MAP, "invalid map"))
    }

    /// Once the third part begins (or the start outgrows its bound): whether the `map`
    /// part points one file at one variable. `None` until it can tell, and after.
    fn map_is_bad(&mut self) -> Option<bool> {
        let start = self.start.as_ref()?;
        if self.delimiters < 3 && start.len() <= MAX_BODY_BYTES {
            return None;
        }
        let start = self.start.take()?;
        if start.len() > MAX_BODY_BYTES && self.delimiters < 3 {
            return Some(true);
        }
        // The spec's order: `operations`, `map`, then the files. async-graphql takes any
        // order (it applies the map once it has every part), so a map after the file
        // would escape this check: it is refused instead.
        let map = split(&start, &self.delimiter).nth(2).and_then(|part| {
            let (headers, body) = split_once(part, b"\r\n\r\n")?;
            is_named(headers, "map").then_some(body)
        });
        let Some(map) = map else { return Some(true) };
        let files: std::collections::HashMap<String, Vec<serde_json::Value>> =
            match serde_json::from_slice(map) {
                Ok(files) => files,
                Err(_) => return Some(false),
            };
        Some(files.len() > 1 || files.values().any(|paths| paths.len() != 1))
    }
}

/// The pieces of `bytes` between occurrences of `delimiter`.
fn split<'a>(bytes: &'a [u8], delimiter: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let current = rest?;
        match split_once(current, delimiter) {
            Some((piece, after)) => {
                rest = Some(after);
                Some(piece)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn split_once<'a>(bytes: &'a [u8], delimiter: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = bytes
        .windows(delimiter.len())
        .position(|candidate| candidate == delimiter)?;
    Some((&bytes[..at], &bytes[at + delimiter.len()..]))
}

/// Whether a part's headers name it `name` (`Content-Disposition: form-data; name="map"`).
fn is_named(headers: &[u8], name: &str) -> bool {
    String::from_utf8_lossy(headers).lines().any(|line| {
        let Some((header, value)) = line.split_once(':') else {
            return false;
        };
        header.trim().eq_ignore_ascii_case("content-disposition")
            && value.split(';').skip(1).any(|parameter| {
                parameter.split_once('=').is_some_and(|(key, value)| {
                    key.trim().eq_ignore_ascii_case("name")
                        && value.trim().trim_matches('"') == name
                })
            })
    })
}

/// The body as a reader that stops past `limit` bytes, after [`UPLOAD_IDLE`] without
/// data, or at a part past [`MAX_PARTS`], saying which in the returned flag.
fn guarded(
    body: Body,
    limit: u64,
    parts: Option<PartCounter>,
) -> (impl futures_util::AsyncRead + Send + Unpin, Arc<AtomicU8>) {
    let cut = Arc::new(AtomicU8::new(0));
    let flag = cut.clone();
    let chunks = futures_util::stream::unfold(
        (body.into_data_stream(), 0_u64, parts, false),
        move |(mut data, seen, mut parts, done)| {
            let flag = flag.clone();
            async move {
                if done {
                    return None;
                }
                let next = tokio::time::timeout(UPLOAD_IDLE, data.next()).await;
                let refuse = |why: u8, message: &'static str| {
                    flag.store(why, Ordering::Relaxed);
                    Err(std::io::Error::other(message))
                };
                let (item, seen, done) = match next {
                    Err(_) => (refuse(CUT_STALLED, "upload stalled"), seen, true),
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => (Err(std::io::Error::other(e)), seen, true),
                    Ok(Some(Ok(chunk))) if seen + chunk.len() as u64 > limit => {
                        (refuse(CUT_TOO_LARGE, "body too large"), seen, true)
                    }
                    Ok(Some(Ok(chunk))) => match parts.as_mut().and_then(|p| p.refusal(&chunk)) {
                        Some((why, message)) => (refuse(why, message), seen, true),
                        None => {
                            let seen = seen + chunk.len() as u64;
                            (Ok(chunk), seen, false)
                        }
                    },
                };
                Some((item, (data, seen, parts, done)))
            }
        },
    );
    (chunks.boxed().into_async_read(), cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_is_read_from_the_content_type() {
        assert_eq!(
            boundary_of("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary_of("multipart/form-data; charset=x; BOUNDARY=\"q r\"").as_deref(),
            Some("q r")
        );
        assert_eq!(boundary_of("multipart/form-data"), None);
        assert_eq!(boundary_of("multipart/form-data; boundary="), None);
    }

    #[test]
    fn parts_are_counted_whatever_the_chunks() {
        let body =
            b"--xyz\r\nA: 1\r\n\r\none\r\n--xyz\r\n\r\ntwo\r\n--xyz\r\n\r\nthree\r\n--xyz--\r\n";
        for size in 1..body.len() {
            let mut counter = PartCounter::new("xyz".into());
            let mut count = 0;
            for chunk in body.chunks(size) {
                count = counter.feed(chunk);
            }
            assert_eq!(count, 4, "three parts and the close, in chunks of {size}");
        }
        let mut counter = PartCounter::new("xyz".into());
        assert_eq!(counter.feed(b"preamble --xyz in a line\r\n--xy"), 0);
        assert_eq!(counter.feed(b"z\r\n"), 1);
    }

    #[test]
    fn a_map_naming_the_file_once_passes_and_any_other_is_caught_before_the_file() {
        let body = |map: &str| {
            format!(
                "--b\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{{}}\r\n\
                 --b\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{map}\r\n\
                 --b\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.csv\"\r\n\r\nId\r\n--b--\r\n"
            )
        };
        let verdict = |map: &str, size: usize| {
            let mut counter = PartCounter::new("b".into());
            let mut verdict = None;
            for chunk in body(map).as_bytes().chunks(size) {
                counter.feed(chunk);
                verdict = verdict.or(counter.map_is_bad());
            }
            verdict
        };
        for size in [1, 7, 1000] {
            assert_eq!(
                verdict(r#"{"0": ["variables.f"]}"#, size),
                Some(false),
                "{size}"
            );
            let twice = r#"{"0": ["variables.f", "variables.g"]}"#;
            assert_eq!(verdict(twice, size), Some(true), "{size}");
            let many = format!(
                r#"{{"0": [{}]}}"#,
                vec![r#""variables.f""#; 19_950].join(",")
            );
            assert_eq!(verdict(&many, size.max(64)), Some(true));
            let two_files = r#"{"0": ["variables.f"], "1": ["variables.g"]}"#;
            assert_eq!(verdict(two_files, size), Some(true), "{size}");
        }
        // The map after the file: out of the spec's order, refused.
        let late_map = "--b\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n\
             --b\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.csv\"\r\n\r\nId\r\n\
             --b\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{\"0\": [\"variables.f\"]}\r\n--b--\r\n";
        let mut counter = PartCounter::new("b".into());
        counter.feed(late_map.as_bytes());
        assert_eq!(counter.map_is_bad(), Some(true));
    }
}
