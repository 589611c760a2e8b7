//! GraphQL over HTTP's answers: which media type a client gets (by its `Accept`), and
//! which status. A client that accepts `application/graphql-response+json` gets it, with
//! a request that never ran (it did not parse, validate or fit the limits) answered 400
//! and no `data`; anyone else gets `application/json`, with 200 for every well-formed
//! request, as the spec asks of that type (legacy clients read errors from the body).

use super::errors::status_of;
use crate::domain::Code;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type of a GraphQL answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Media {
    /// `application/graphql-response+json`.
    GraphqlResponse,
    /// `application/json`: also for `*/*`, no `Accept`, or none it names that we speak.
    Json,
}

impl Media {
    /// The type the client prefers, by `Accept` weights; `application/json` on a tie (the
    /// answer older clients parse).
    pub(super) fn negotiate(headers: &HeaderMap) -> Media {
        let mut graphql = 0.0_f32;
        let mut json = 0.0_f32;
        for accept in headers.get_all(header::ACCEPT) {
            let Ok(accept) = accept.to_str() else {
                continue;
            };
            for range in accept.split(',') {
                let mut parts = range.split(';');
                let kind = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
                let weight = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                match kind.as_str() {
                    GRAPHQL_RESPONSE => graphql = graphql.max(weight),
                    JSON | "*/*" | "application/*" => json = json.max(weight),
                    _ => {}
                }
            }
        }
        if graphql > json {
            Media::GraphqlResponse
        } else {
            Media::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphqlResponse => GRAPHQL_RESPONSE,
            Media::Json => JSON,
        })
    }
}

/// Codes of errors that stop a request before it runs: the document did not parse or
/// validate, or asked too much, or the request was malformed.
const REQUEST_ERRORS: [Code; 9] = [
    Code::GraphqlParseFailed,
    Code::GraphqlValidationFailed,
    Code::QueryTooLarge,
    Code::TooManyAliases,
    Code::QueryTooDeep,
    Code::QueryTooComplex,
    Code::BadRequest,
    Code::PersistedQueryHashMismatch,
    Code::PersistedQueryNotSupported,
];

fn code(error: &async_graphql::ServerError) -> Option<Code> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Code::parse(code),
        _ => None,
    }
}

/// The HTTP answer of a GraphQL response, in `media`.
pub(super) fn render(response: async_graphql::Response, media: Media) -> Response {
    let first = response.errors.first();
    let first_code = first.and_then(code);
    let retry_after = first
        .and_then(|error| error.extensions.as_ref()?.get("retryAfterSeconds"))
        .map(ToString::to_string);
    let never_ran = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response
            .errors
            .iter()
            .all(|error| code(error).is_some_and(|code| REQUEST_ERRORS.contains(&code)));
    let status = match first_code {
        // Clients and proxies act on these two, whatever the media type.
        Some(code @ (Code::Throttled | Code::MethodNotAllowed)) => status_of(code),
        _ if never_ran && media == Media::GraphqlResponse => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let mut http = if status == StatusCode::BAD_REQUEST {
        // No `data` at all: the request never reached execution.
        let extra_headers = response.http_headers.clone();
        let mut value = serde_json::to_value(&response).unwrap_or_default();
        if let Some(fields) = value.as_object_mut() {
            fields.remove("data");
        }
        let mut http = Response::new(Body::from(value.to_string()));
        http.headers_mut().extend(extra_headers);
        http
    } else {
        async_graphql_axum::GraphQLResponse::from(response).into_response()
    };
    *http.status_mut() = status;
    let headers = http.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.content_type());
    match first_code {
        Some(Code::Throttled) => {
            if let Some(value) = retry_after.and_then(|s| HeaderValue::from_str(&s).ok()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        Some(Code::MethodNotAllowed) => {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        _ => {}
    }
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Media {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        Media::negotiate(&headers)
    }

    #[test]
    fn the_client_gets_the_type_it_prefers_and_json_otherwise() {
        assert_eq!(Media::negotiate(&HeaderMap::new()), Media::Json);
        assert_eq!(accept("application/json"), Media::Json);
        assert_eq!(accept("*/*"), Media::Json);
        assert_eq!(
            accept("application/graphql-response+json"),
            Media::GraphqlResponse
        );
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Media::GraphqlResponse
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.5"),
            Media::Json
        );
        assert_eq!(
            accept("application/graphql-response+json, application/json"),
            Media::Json,
            "a tie: the type every client parses"
        );
        assert_eq!(accept("text/html"), Media::Json);
    }
}
