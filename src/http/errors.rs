//! Every HTTP error as JSON `{"error":{"code":"...","message":"..."}}`, axum's own extractor
//! rejections included, with `Retry-After` on the overload answers.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// Why an HTTP request was not served.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no site {0:?}")]
    UnknownSite(String),
    #[error("no live session with this id; create a new one")]
    UnknownSession,
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed for this resource")]
    MethodNotAllowed,
    #[error("origin {0:?} is not allowed for this API")]
    OriginNotAllowed(String),
    #[error("too many requests from this address, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the server is busy, retry in {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    #[error("site {0:?} has no number to show (no default_number configured)")]
    NoNumber(String),
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: &'static str,
    },
    /// A request whose query or body broke one or more rules: 400 with every problem listed
    /// (an unknown filter or group-by field names what is allowed).
    #[error("{}", problems.join("; "))]
    Invalid {
        code: &'static str,
        problems: Vec<String>,
    },
    /// An axum extractor rejection, with its own status.
    #[error("{message}")]
    Rejected {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownSite(_) | Self::UnknownSession | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } | Self::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NoNumber(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Rejected { status, .. } => *status,
        }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownSite(_) => "unknown_site",
            Self::UnknownSession => "unknown_session",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::OriginNotAllowed(_) => "origin_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded { .. } => "overloaded",
            Self::NoNumber(_) => "no_number",
            Self::InvalidField { .. } => "invalid_field",
            Self::Invalid { code, .. } => code,
            Self::Rejected { code, .. } => code,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } | Self::Overloaded { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code(), "message": self.to_string()});
        if let Self::Invalid { problems, .. } = &self {
            error["problems"] = json!(problems);
        }
        let body = json!({ "error": error });
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match &rejection {
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "bad_request",
        };
        Self::Rejected {
            status,
            code,
            message: rejection.body_text(),
        }
    }
}

/// `axum::Json` whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// Longest text of a foreign error body kept in the JSON message.
const MAX_FOREIGN_TEXT: usize = 512;

/// Middleware: any error response that is not JSON yet (a rejection from an extractor we do
/// not wrap, such as a bad percent-encoding in a path) becomes the JSON error shape.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_FOREIGN_TEXT * 4)
        .await
        .map(|b| {
            String::from_utf8_lossy(&b)
                .chars()
                .take(MAX_FOREIGN_TEXT)
                .collect::<String>()
        })
        .unwrap_or_default();
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut json = ApiError::Rejected {
        status,
        code: code_for(status),
        message,
    }
    .into_response();
    // A 416's Content-Range (RFC 9110 §15.5.17) tells the client the file's length.
    for name in [header::RETRY_AFTER, header::ALLOW, header::CONTENT_RANGE] {
        if let Some(value) = parts.headers.get(&name) {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
}

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::RANGE_NOT_SATISFIABLE => "range_not_satisfiable",
        s if s.is_server_error() => "internal",
        _ => "client_error",
    }
}

/// Router fallback: unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Router fallback: known route, wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
