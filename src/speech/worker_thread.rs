//! The threads PocketSphinx decodes on: each decode runs on a thread of its own, named
//! `speech-worker`, in Linux's `SCHED_IDLE` scheduling class (`sched(7)`: it runs only when no
//! ordinary thread wants the CPU; where that is refused, its nice value is raised by [`NICE`]
//! instead), so transcription takes only the CPU the call path leaves idle. At most
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

/// Puts this thread in the idle class, or else raises its nice value by [`NICE`]; a refusal
/// of both is logged, not fatal.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        match idle_class() {
            Ok(()) => return,
            Err(error) => tracing::debug!(%error, "speech worker not in SCHED_IDLE"),
        }
        let me = Some(rustix::thread::gettid());
        let now = getpriority_process(me).unwrap_or(0);
        if let Err(error) = setpriority_process(me, (now + NICE).min(19)) {
            tracing::debug!(%error, "speech worker priority not lowered");
        }
    }
}

/// Moves the calling thread to `SCHED_IDLE` (no privilege needed to lower one's own class).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn idle_class() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` only reads `param`, which lives across the call; pid 0 is
    // the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The calling thread's scheduling policy (Linux).
#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code)]
fn policy() -> i32 {
    // SAFETY: no arguments but the calling thread's id.
    unsafe { libc::sched_getscheduler(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_named_thread_in_the_idle_class() {
        let (name, class, nice) = run_niced(|| {
            let name = std::thread::current().name().map(str::to_owned);
            let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
            (name, policy(), nice.unwrap_or(0))
        })
        .await
        .unwrap();
        assert_eq!(name.as_deref(), Some("speech-worker"));
        let ours = rustix::process::getpriority_process(None).unwrap_or(0);
        assert!(
            class == libc::SCHED_IDLE || nice == (ours + NICE).min(19),
            "idle class ({class}) or, where refused, a raised nice value ({nice})"
        );
        assert_eq!(
            policy(),
            libc::SCHED_OTHER,
            "the caller's own thread is untouched"
        );
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
