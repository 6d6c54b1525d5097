//! `GET /v1/calls.csv`: every call the filter of `GET /v1/calls` matches (from `cursor` on,
//! in the same order; `limit` is the JSON page size only), as CSV with a header line. Rows
//! are read a batch at a time through the configured backend's [`BackendReader`] and streamed as the body,
//! so an export of a million calls never sits whole in memory.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio_util::io::ReaderStream;

use super::calls::{parse_query, read_failed};
use super::errors::ApiError;
use crate::config::SharedConfig;
use crate::store::BackendReader;
use crate::store::calls::{self, CallQuery, CallView, view::CSV_HEADER};

/// Calls read per batch.
const BATCH: usize = 500;
/// Bytes buffered between the reading task and the response body.
const PIPE_BYTES: usize = 256 * 1024;

/// `GET /v1/calls.csv`
#[utoipa::path(
    get,
    path = "/v1/calls.csv",
    tag = "calls",
    params(super::calls::CallsParams),
    responses(
        (status = 200, description = "Every matching call as CSV (header line first), streamed", content_type = "text/csv"),
        (status = 400, description = "Unknown filter or bad value; every problem listed"),
        (status = 401, description = "No or wrong bearer token")
    )
)]
pub async fn export(
    State(reader): State<BackendReader>,
    State(config): State<SharedConfig>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut query = parse_query(&config, raw.as_deref())?;
    query.limit = BATCH;
    // The first batch is read before answering, so a failing store is a 500, not a
    // truncated 200.
    let first = read(&reader, query.clone()).await.map_err(read_failed)?;
    let (pipe_in, pipe_out) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(stream_rows(reader, query, first, pipe_in));
    let mut response = Body::from_stream(ReaderStream::new(pipe_out)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"calls.csv\""),
    );
    Ok(response)
}

type Batch = (Vec<CallView>, Option<calls::Cursor>);

async fn read(reader: &BackendReader, query: CallQuery) -> Result<Batch, crate::store::StoreError> {
    let page = reader.read(move |r| r.page(&query)).await?;
    Ok((page.calls, page.next_cursor))
}

/// Writes the header and every batch into the pipe; stops when the client goes away. A
/// store failure after the first batch ends the body early (logged).
async fn stream_rows(
    reader: BackendReader,
    mut query: CallQuery,
    first: Batch,
    mut out: DuplexStream,
) {
    let mut batch = first;
    let mut header = true;
    loop {
        let bytes = match encode(&batch.0, header) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "calls CSV could not be written");
                return;
            }
        };
        header = false;
        if out.write_all(&bytes).await.is_err() {
            return;
        }
        let Some(cursor) = batch.1 else { break };
        query.cursor = Some(cursor);
        batch = match read(&reader, query.clone()).await {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "calls CSV export ended early");
                return;
            }
        };
    }
    let _ = out.shutdown().await;
}

fn encode(calls: &[CallView], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut csv = csv::Writer::from_writer(Vec::with_capacity(calls.len() * 256 + 512));
    if header {
        csv.write_record(CSV_HEADER)?;
    }
    for call in calls {
        csv.write_record(call.csv_record())?;
    }
    csv.into_inner().map_err(|e| e.into_error().into())
}
