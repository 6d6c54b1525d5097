//! `GET /v1/calls/{id}/recording` (admin role: bearer token or an admin's dashboard session):
//! streams a recorded call's file, the stereo WAV (`audio/wav`) or the pcap
//! (`application/vnd.tcpdump.pcap`), with HTTP Range for seeking (RFC 9110 §14: `Accept-Ranges:
//! bytes`, 206 Partial Content with `Content-Range`, 416 Range Not Satisfiable), served by
//! tower-http's `ServeFile`. A call without a file is a JSON 404 that says where its recording
//! stands (`recording_status`, `recording_reason`).
//!
//! On PostgreSQL a recording lives on the disk of the node that recorded it (the CDR's
//! `node_id`): asked on another node, it is fetched from that node when it published its
//! `[node] http_url` and this node has an admin token ([`super::recording_fetch`]); else the
//! answer is a JSON 409 `recording_on_other_node` that names the node holding the file
//! (`node_id`), not a 404 that would say it does not exist.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::calls::read_failed;
use super::errors::ApiError;
use super::recording_fetch::{Fetch, forwarded};
use crate::config::SharedConfig;
use crate::store::BackendReader;

/// The Content-Type of a recording file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    if path.ends_with(".pcap") {
        "application/vnd.tcpdump.pcap"
    } else {
        "audio/wav"
    }
}

/// `GET /v1/calls/{id}/recording`
#[utoipa::path(
    get,
    path = "/v1/calls/{id}/recording",
    tag = "calls",
    params(
        ("id" = String, Path, description = "The call's id"),
        ("Range" = Option<String>, Header, description = "Bytes to send, e.g. `bytes=0-1023`")
    ),
    responses(
        (status = 200, description = "The whole file: a stereo WAV (G.711, caller left, callee right) or a pcap of the call's RTP (other codecs)", content_type = "audio/wav"),
        (status = 206, description = "The requested byte range (Content-Range)"),
        (status = 401, description = "No or wrong bearer token"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such call, or no recording: `recording_status` and `recording_reason` say why", body = super::openapi::ErrorBody),
        (status = 409, description = "The file is on another node's disk (PostgreSQL store) and that node has no `[node] http_url`: `node_id` names it; ask that node", body = super::openapi::ErrorBody),
        (status = 502, description = "The file is on another node's disk and could not be fetched from it (`recording_node_unreachable`, `node_id` names it)", body = super::openapi::ErrorBody),
        (status = 416, description = "The range lies outside the file")
    ),
    security(("admin_token" = []))
)]
pub async fn recording(
    State(reader): State<BackendReader>,
    State(config): State<SharedConfig>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let call = id.clone();
    let found = reader
        .read_recordings(move |r| r.recording(&call))
        .await
        .map_err(read_failed)?;
    let Some(found) = found else {
        return Err(ApiError::NotFound);
    };
    let path = match (found.status.as_deref(), found.path) {
        (Some("recorded"), Some(path)) => path,
        (status, _) => return Ok(no_recording(&id, status, found.reason.as_deref())),
    };
    let config = config.load();
    let here = config.node.id.as_str();
    if let Some(node) = found.node.filter(|node| node != here) {
        let token = config.http.admin_token.as_ref().map(|t| t.expose());
        return Ok(match (found.node_url.as_deref(), token) {
            (Some(base), Some(token)) if !forwarded(request.headers()) => {
                let fetch = Fetch {
                    call: &id,
                    node: &node,
                    base,
                    here,
                    token,
                };
                fetch.send(request.headers()).await
            }
            _ => elsewhere(&id, &node, here),
        });
    }
    let served = ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|error| {
            tracing::warn!(%error, %path, "recording not read");
            ApiError::Rejected {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "recording_unreadable",
                message: "the recording could not be read".to_owned(),
            }
        })?;
    if served.status() == StatusCode::NOT_FOUND {
        tracing::warn!(%path, call = %id, "a recorded call's file is missing");
        return Ok(no_recording(&id, Some("missing"), None));
    }
    let mut response = served.map(Body::new);
    if response.status().is_success() {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(&path)),
        );
        let name = format!("inline; filename=\"{}\"", file_name(&path));
        if let Ok(value) = HeaderValue::from_str(&name) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// 404 `no_recording`, with where the call's recording stands.
fn no_recording(id: &str, status: Option<&str>, reason: Option<&str>) -> Response {
    let status = status.unwrap_or("not_requested");
    let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
    let body = json!({"error": {
        "code": "no_recording",
        "message": format!("call {id} has no recording: {status}{why}"),
        "recording_status": status,
        "recording_reason": reason,
    }});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// 409 `recording_on_other_node`: the file is on `node`'s disk, not this one's.
fn elsewhere(id: &str, node: &str, here: &str) -> Response {
    let body = json!({"error": {
        "code": "recording_on_other_node",
        "message": format!(
            "call {id} was recorded on node {node}; its file is on that node's disk, not on {here}: ask {node}"
        ),
        "node_id": node,
    }});
    (StatusCode::CONFLICT, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_names_follow_the_file() {
        assert_eq!(content_type("/r/a.wav"), "audio/wav");
        assert_eq!(content_type("/r/a.pcap"), "application/vnd.tcpdump.pcap");
        assert_eq!(file_name("/var/lib/rec/abc.wav"), "abc.wav");
    }

    #[tokio::test]
    async fn a_file_on_another_node_names_that_node() {
        let response = elsewhere("c1", "node-b", "node-a");
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "recording_on_other_node");
        assert_eq!(body["error"]["node_id"], "node-b");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("node-b") && message.contains("node-a"),
            "{message}"
        );
    }
}
