//! The threads PocketSphinx decodes on: each decode runs on a thread of its own, named
//! `speech-worker`, whose CPU priority is lowered by [`NICE`] (Linux `setpriority` on the
//! thread), so transcription takes only the CPU the call path leaves idle. At most
//! `[speech] workers` of them run at once (the service's pool); a thread ends with its decode,
//! so the lowered priority never reaches a thread that serves anything else.

use super::SpeechError;

/// How much the worker threads' nice value is raised (19 at most): the scheduler gives a
/// nice-10 thread about a tenth of the CPU a nice-0 thread gets when both want it.
pub const NICE: i32 = 10;

/// Runs `work` on a fresh low-priority thread and waits for its answer without blocking the
/// async threads.
pub async fn run_niced<T, F>(work: F) -> Result<T, SpeechError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("speech-worker".to_owned())
        .spawn(move || {
            lower_priority();
            let _ = answer.send(work());
        })
        .map_err(|e| SpeechError::Unavailable(format!("no speech worker thread: {e}")))?;
    answered
        .await
        .map_err(|_| SpeechError::Unavailable("the speech worker thread ended".to_owned()))
}

/// Raises this thread's nice value by [`NICE`]; a refusal is logged, not fatal.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let now = getpriority_process(me).unwrap_or(0);
        if let Err(error) = setpriority_process(me, (now + NICE).min(19)) {
            tracing::debug!(%error, "speech worker priority not lowered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_named_thread_with_a_lower_priority() {
        let (name, nice) = run_niced(|| {
            let name = std::thread::current().name().map(str::to_owned);
            let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
            (name, nice.unwrap_or(0))
        })
        .await
        .unwrap();
        assert_eq!(name.as_deref(), Some("speech-worker"));
        let ours = rustix::process::getpriority_process(None).unwrap_or(0);
        assert_eq!(nice, (ours + NICE).min(19));
    }
}
