//! Sends an [`HttpRequest`] with reqwest (rustls, HTTP/1.1 and HTTP/2) and reads the answer;
//! a timeout or a connection failure is an error string (the retry policy treats it as
//! worth retrying).

use std::time::Duration;

use jiff::Timestamp;

use super::{Body, HttpAnswer, HttpRequest, Method};

/// Most of a response body kept (error messages and what a destination reads back).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// One HTTP client per destination (its own connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    /// A client whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Client, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("calltrack/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client { http })
    }

    /// Sends `request`; `Err` when no answer came (timeout, refused, reset).
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpAnswer, String> {
        let mut builder = match request.method {
            Method::Get => self.http.get(&request.url),
            Method::Post => self.http.post(&request.url),
        };
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder = match &request.body {
            Body::Empty => builder,
            Body::Json(bytes) => builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Form(fields) => builder.form(fields),
            Body::Multipart {
                field,
                file_name,
                content_type,
                bytes,
            } => {
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(file_name.clone())
                    .mime_str(content_type)
                    .map_err(|e| format!("bad content type {content_type:?}: {e}"))?;
                builder.multipart(reqwest::multipart::Form::new().part(field.clone(), part))
            }
        };
        let response = builder.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, Timestamp::now()));
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            let room = MAX_BODY_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Ok(HttpAnswer {
            status,
            retry_after,
            body,
        })
    }
}

fn describe(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // reqwest's Display names the URL, which may carry a secret (Bitrix24 webhook URLs).
    format!("{what}: {}", e.without_url())
}

/// `Retry-After` (RFC 9110 §10.2.3): delay seconds or an HTTP date (a date in the past is
/// no delay).
pub fn retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let delay = at.duration_since(now);
    Some(Duration::try_from(delay).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now: Timestamp = "2015-10-21T07:28:00Z".parse().unwrap();
        assert_eq!(retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
