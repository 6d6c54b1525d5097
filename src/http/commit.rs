//! Waiting for the one store writer to commit what a handler asked of it, and the one
//! mapping of how that can end to an HTTP answer (blacklist edits, leads, call patches,
//! costs).

use std::future::Future;
use std::time::Duration;

use axum::http::StatusCode;

use super::errors::ApiError;
use crate::store::StoreError;

/// Longest a handler waits for the writer to confirm a commit.
const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// Waits (at most [`COMMIT_WAIT`]) for a store command to commit. A full queue is 429 with
/// Retry-After; no answer in time is 503; a store failure is 500 (the cause is logged).
/// `what` names the thing stored, for the message and the log ("blacklist", "lead").
pub(super) async fn committed<T>(
    what: &'static str,
    request: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(COMMIT_WAIT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(StoreError::Busy)) => Err(ApiError::Overloaded {
            retry_after_secs: 1,
        }),
        Ok(Err(error)) => {
            tracing::error!(%error, what, "store command failed");
            Err(ApiError::Rejected {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "store_failed",
                message: format!("the {what} could not be stored"),
            })
        }
        Err(_) => {
            tracing::error!(what, "no commit within the wait");
            Err(ApiError::Rejected {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "store_unavailable",
                message: "the store did not confirm in time; retry".to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_store_queue_is_429_with_retry_after_not_a_wait() {
        let busy = committed("blacklist", async { Err::<bool, _>(StoreError::Busy) }).await;
        let error = busy.unwrap_err();
        assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.code(), "overloaded");
        let gone = committed("blacklist", async {
            Err::<bool, _>(StoreError::NotCommitted)
        })
        .await;
        assert_eq!(gone.unwrap_err().code(), "store_failed");
    }
}
