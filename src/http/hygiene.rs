//! Request hygiene at the edge, before GraphQL runs: the cross-site request forgery rule
//! Apollo Server uses (refusing mutations over `GET` is the GraphQL limits' job). A
//! browser sends a cross-site `POST` without asking first (no CORS preflight) only when
//! its content type is `text/plain`, `application/x-www-form-urlencoded` or
//! `multipart/form-data`; such a request, or one with no content type, must carry a
//! header that a simple request cannot: `apollo-require-preflight` or
//! `x-apollo-operation-name` (any non-empty value).

use axum::http::{HeaderMap, header};

/// Headers that force a browser to ask before sending cross-site.
const PREFLIGHT_HEADERS: [&str; 2] = ["apollo-require-preflight", "x-apollo-operation-name"];

/// Whether a `POST` with these headers could come from another site's page without the
/// browser asking first, and so must be refused.
pub(super) fn forgeable(headers: &HeaderMap) -> bool {
    let simple = match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(value) => {
            let essence = value.split(';').next().unwrap_or_default().trim();
            [
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ]
            .iter()
            .any(|simple| essence.eq_ignore_ascii_case(simple))
        }
    };
    simple
        && !PREFLIGHT_HEADERS.iter().any(|name| {
            headers
                .get(*name)
                .is_some_and(|value| !value.as_bytes().is_empty())
        })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn simple_requests_need_a_preflight_header() {
        assert!(forgeable(&headers(&[])));
        assert!(forgeable(&headers(&[(
            "content-type",
            "text/plain;charset=UTF-8"
        )])));
        assert!(forgeable(&headers(&[(
            "content-type",
            "multipart/form-data; boundary=x"
        )])));
        assert!(forgeable(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(forgeable(&headers(&[
            ("content-type", "text/plain"),
            ("apollo-require-preflight", "")
        ])));
        assert!(!forgeable(&headers(&[(
            "content-type",
            "application/json"
        )])));
        assert!(!forgeable(&headers(&[
            ("content-type", "multipart/form-data; boundary=x"),
            ("apollo-require-preflight", "true")
        ])));
        assert!(!forgeable(&headers(&[
            ("content-type", "text/plain"),
            ("x-apollo-operation-name", "Pay")
        ])));
    }
}
