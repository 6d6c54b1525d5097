//! The threads PocketSphinx decodes on: each decode runs on a thread of its own, named
//! `speech-worker`, whose CPU priority is lowered by [`NICE`] (Linux `setpriority` on the
//! thread), so transcription takes only the CPU the call path leaves idle. At most
//! `[speech] workers` of them run at once (the service's pool); a thread ends with its decode,
//! so the lowered priority never reaches a thread that serves anything else. Each thread adds
//! the CPU it used to `calltrack_speech_cpu_milliseconds_total`.

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
            let done = work();
            metrics::counter!("calltrack_speech_cpu_milliseconds_total").increment(cpu_ms());
            let _ = answer.send(done);
        })
        .map_err(|e| SpeechError::Unavailable(format!("no speech worker thread: {e}")))?;
    answered
        .await
        .map_err(|_| SpeechError::Unavailable("the speech worker thread ended".to_owned()))
}

/// CPU time (user + system) this thread has used, in milliseconds (0 where unknown), from
/// `/proc/thread-self/stat`: the workers' CPU, counted apart from the call path's.
fn cpu_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        // Fields after the command name (which may hold spaces) closed by the last ')'.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: u64 = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse::<u64>().ok())
            .sum();
        let hz = rustix::param::clock_ticks_per_second().max(1);
        ticks * 1000 / hz
    }
    #[cfg(not(target_os = "linux"))]
    0
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

    #[tokio::test]
    async fn a_busy_thread_counts_its_cpu() {
        let (ms, wall_ms) = run_niced(|| {
            let started = std::time::Instant::now();
            let mut ms = 0;
            while ms < 50 && started.elapsed() < std::time::Duration::from_secs(10) {
                for i in 0..100_000u64 {
                    std::hint::black_box(i);
                }
                ms = cpu_ms();
            }
            (ms, started.elapsed().as_millis() as u64)
        })
        .await
        .unwrap();
        assert!(
            ms >= 50 && ms <= wall_ms + 20,
            "{ms} ms of CPU in {wall_ms} ms"
        );
    }
}
