//! A recording asked for on a node whose disk does not hold it (PostgreSQL store, several
//! nodes): fetched from the node that recorded it, at its `[node] http_url`, and streamed
//! through with the caller's `Range` kept, so the dashboard's player seeks the same on any
//! node. The request carries this node's admin token (the nodes share one) and names this
//! node in [`FORWARDED_BY`]; a request that already came from another node is never sent on,
//! so two nodes that disagree cannot bounce it between them.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The header that marks a request one node sent to another.
pub const FORWARDED_BY: &str = "x-calltrack-forwarded-by";

/// How long connecting to the other node may take.
const CONNECT_WAIT: Duration = Duration::from_secs(2);
/// How long the other node may stay silent, for the answer's head or between body bytes.
const READ_WAIT: Duration = Duration::from_secs(10);

/// The answer's headers passed back (what a player and a download need).
const KEPT: [HeaderName; 7] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::CONTENT_DISPOSITION,
    header::LAST_MODIFIED,
    header::ETAG,
];

/// Whether `headers` are those of a request another node sent.
pub fn forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(FORWARDED_BY)
}

/// Where one recording is and who asks for it.
pub struct Fetch<'a> {
    /// The call's id.
    pub call: &'a str,
    /// The node holding the file, and its `http_url`.
    pub node: &'a str,
    pub base: &'a str,
    /// This node's id and admin token.
    pub here: &'a str,
    pub token: &'a str,
}

impl Fetch<'_> {
    /// The recording from its node, passed through as it answers (200, 206, 416, its JSON
    /// errors); 502 when the node cannot be reached or refuses this node's token.
    pub async fn send(&self, request: &HeaderMap) -> Response {
        let Some(url) = self.url() else {
            return self.failed("its http_url is not a base URL");
        };
        let mut outgoing = client()
            .get(url)
            .bearer_auth(self.token)
            .header(FORWARDED_BY, self.here);
        if let Some(range) = request.get(header::RANGE) {
            outgoing = outgoing.header(header::RANGE, range);
        }
        match outgoing.send().await {
            Ok(answer) => self.relay(answer),
            Err(error) => {
                tracing::warn!(%error, node = self.node, call = self.call, "recording not fetched from its node");
                self.failed("it did not answer")
            }
        }
    }

    /// `{base}/v1/calls/{call}/recording`, the id as one path segment.
    fn url(&self) -> Option<url::Url> {
        let mut url = url::Url::parse(self.base).ok()?;
        url.path_segments_mut().ok()?.pop_if_empty().extend([
            "v1",
            "calls",
            self.call,
            "recording",
        ]);
        Some(url)
    }

    fn relay(&self, answer: reqwest::Response) -> Response {
        let status = answer.status();
        if matches!(status.as_u16(), 401 | 403) {
            return self.failed(
                "it refused this node's admin token: give the nodes the same [http] admin_token",
            );
        }
        let mut response = Response::builder().status(status.as_u16());
        for name in KEPT {
            if let (Some(headers), Some(value)) =
                (response.headers_mut(), answer.headers().get(&name))
            {
                headers.insert(name, value.clone());
            }
        }
        response
            .body(Body::from_stream(answer.bytes_stream()))
            .unwrap_or_else(|_| self.failed("its answer could not be passed on"))
    }

    /// 502 `recording_node_unreachable`, naming the node and why.
    fn failed(&self, why: &str) -> Response {
        let body = json!({"error": {
            "code": "recording_node_unreachable",
            "message": format!(
                "call {} was recorded on node {} and its file is on that node's disk; it could not be fetched from there: {why}",
                self.call, self.node
            ),
            "node_id": self.node,
        }});
        (StatusCode::BAD_GATEWAY, Json(body)).into_response()
    }
}

/// One client for every fetch (its connections are kept for the next seek).
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_WAIT)
            .read_timeout(READ_WAIT)
            .build()
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch<'a>(call: &'a str, base: &'a str) -> Fetch<'a> {
        Fetch {
            call,
            node: "node-b",
            base,
            here: "node-a",
            token: "t",
        }
    }

    #[test]
    fn the_url_keeps_the_base_path_and_encodes_the_id() {
        let url = |call, base| fetch(call, base).url().map(|u| u.to_string());
        assert_eq!(
            url("c1", "http://10.0.0.2:8080").as_deref(),
            Some("http://10.0.0.2:8080/v1/calls/c1/recording")
        );
        assert_eq!(
            url("a/b c", "https://x.example/ct/").as_deref(),
            Some("https://x.example/ct/v1/calls/a%2Fb%20c/recording")
        );
        assert_eq!(url("c1", "not a url"), None);
    }
}
