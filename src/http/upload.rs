//! A GraphQL multipart upload (`importInvoicesCsv`) read as it streams, within bounds:
//! the body is cut off past the file limit (plus room for the other parts), after
//! [`UPLOAD_IDLE`] without data, or at a part beyond the spec's three (`operations`,
//! `map`, and one file), before anything past the bound is stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::body::Body;
use axum::http::StatusCode;
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
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            &format!(
                "the upload sent nothing for {} seconds",
                UPLOAD_IDLE.as_secs()
            ),
        )),
        CUT_TOO_MANY_PARTS => Err(error_response(
            StatusCode::BAD_REQUEST,
            "TOO_MANY_FILES",
            "an upload carries one file: the parts `operations`, `map` and the file",
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
/// begins with a delimiter line `--boundary` (the closing one is `--boundary--`).
struct PartCounter {
    /// `\r\n--boundary`; the body's first delimiter is found behind a virtual `\r\n`.
    delimiter: Vec<u8>,
    /// The end of what was seen, in case a delimiter straddles two chunks.
    tail: Vec<u8>,
    delimiters: usize,
}

impl PartCounter {
    fn new(boundary: String) -> PartCounter {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        PartCounter {
            delimiter,
            tail: b"\r\n".to_vec(),
            delimiters: 0,
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
        self.delimiters
    }
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
                    // The closing delimiter is one more than the parts it closes.
                    Ok(Some(Ok(chunk)))
                        if parts
                            .as_mut()
                            .is_some_and(|p| p.feed(&chunk) > MAX_PARTS + 1) =>
                    {
                        (refuse(CUT_TOO_MANY_PARTS, "too many parts"), seen, true)
                    }
                    Ok(Some(Ok(chunk))) => {
                        let seen = seen + chunk.len() as u64;
                        (Ok(chunk), seen, false)
                    }
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
}
