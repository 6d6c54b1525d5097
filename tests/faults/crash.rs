//! Crash and restart: `kill -9` under a steady call load, then start again on the same
//! database. Every completed call keeps its CDR, calls live at the kill become `interrupted`
//! CDRs at start-up, visitor leases come back, and SQLite reports no corruption. The
//! restarted calltrack hangs up the interrupted calls on both legs: the sipp caller and the
//! sipp PBX each get a BYE, and a caller's own BYE after the restart gets 200, not 481.

use std::time::{Duration, Instant};

use calltrack::call::record::{Disposition, HangupSide};
use jiff::Timestamp;

use crate::cdrs;
use crate::daemon::{Daemon, Setup, integrity_check};
use crate::http;
use crate::sipp_load::{SippCmd, SippProc, SippStats};
use crate::support::{free_port, scenario};

const CALLS: u64 = 150;
const LEASES: usize = 5;
/// How long calltrack stays down: some callers hang up meanwhile and retransmit their BYE.
const DOWNTIME: Duration = Duration::from_millis(1500);
/// Calls a kill may catch between the answer and its commit (the writer flushes every
/// 5 ms): those are recorded, but calltrack cannot know their dialogs to hang them up.
const UNKNOWN_DIALOGS: u64 = 2;

#[test]
fn kill_9_under_load_loses_no_call_and_no_lease() {
    let _serial = crate::support::serial();
    if crate::support::skip_without_sipp("faults::crash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        dir: dir.path().to_path_buf(),
        sip_ip: "127.0.0.1".into(),
        sip_port: free_port(),
        http_port: free_port(),
        pbx_ip: "127.0.0.1".into(),
        pbx_port: free_port(),
        extra: "[calls]\nshutdown_grace_secs = 5\n".into(),
    };
    setup.write_config();
    let first = Daemon::start(&setup, None, 0);
    let pbx = SippCmd::uas(scenario("uas_answer.xml"), "127.0.0.1", setup.pbx_port)
        .arg("-mp", free_port())
        .spawn();
    let leases: Vec<(String, String)> = (0..LEASES)
        .map(|i| http::lease(setup.http_port, &format!("crash-visitor-{i}")))
        .collect();
    let target = format!("127.0.0.1:{}", setup.sip_port);
    let mut caller = SippCmd::uac(
        scenario("uac_call_recovered.xml"),
        &target,
        "74950000001",
        "127.0.0.1",
    )
    .arg("-p", free_port())
    .arg("-mp", free_port())
    .arg("-r", 10)
    .arg("-m", CALLS)
    .arg("-log_file", "logs.log")
    .arg("-recv_timeout", "10s")
    .arg("-timeout", "100s")
    .flag("-trace_logs")
    .spawn();

    // Past the lease save interval (5 s) and with ~30 calls live.
    std::thread::sleep(Duration::from_secs(8));
    let completed = caller.stats().successful;
    let live = http::active_calls(setup.http_port);
    std::thread::sleep(Duration::from_millis(300)); // the completed calls' CDRs commit
    let killed_at = Timestamp::now();
    first.kill9();
    assert_eq!(
        integrity_check(&setup.db_path()),
        "ok",
        "database after kill -9"
    );
    std::thread::sleep(DOWNTIME);

    let restart = Instant::now();
    let second = Daemon::start(&setup, None, 1);
    eprintln!("crash test: restarted in {:?}", restart.elapsed());
    for (session, number) in &leases {
        assert_eq!(
            http::heartbeat(setup.http_port, session).as_deref(),
            Some(number.as_str()),
            "lease of session {session} restored"
        );
    }
    let stats = caller.wait(Duration::from_secs(110));
    std::thread::sleep(Duration::from_millis(1500)); // the PBX's statistics file catches up
    let pbx_stats = pbx.stats();
    let log = second.stop();
    assert_eq!(
        integrity_check(&setup.db_path()),
        "ok",
        "database at the end"
    );

    let all = cdrs::all(&setup.db_path());
    cdrs::assert_unique(&all);
    let answered = cdrs::count(&all, Disposition::Answered);
    let interrupted: Vec<_> = all
        .iter()
        .filter(|c| c.disposition == Disposition::Interrupted)
        .collect();
    let answered_before_kill = all
        .iter()
        .filter(|c| c.disposition == Disposition::Answered && c.ended_at < killed_at)
        .count() as u64;
    eprintln!(
        "crash test: sipp {stats:?}; {completed} completed and {live} live at the kill; \
         CDRs: {} total, {answered} answered ({answered_before_kill} before the kill), {} interrupted",
        all.len(),
        interrupted.len()
    );
    assert!(completed > 0 && live > 0, "the kill happened under load");
    assert!(
        answered_before_kill >= completed,
        "every call completed before the kill has its CDR"
    );
    assert!(
        !interrupted.is_empty(),
        "live calls become interrupted CDRs; log:\n{log}"
    );
    assert!(
        interrupted.len().abs_diff(live as usize) <= 5,
        "about as many interrupted CDRs ({}) as calls live at the kill ({live})",
        interrupted.len()
    );
    // "With what is known of them": the calls had been answered before the kill.
    let with_answer = interrupted
        .iter()
        .filter(|c| c.answered_at.is_some())
        .count();
    assert!(
        with_answer * 2 >= interrupted.len(),
        "{with_answer} interrupted CDRs keep answered_at"
    );
    for cdr in &interrupted {
        assert_eq!(cdr.hangup_side, HangupSide::System);
        assert_eq!(cdr.tracking_number, "74950000001");
        assert_eq!(cdr.caller, "79161234567");
        assert!(cdr.started_at < killed_at);
    }
    // Every successful call has a CDR (answered, or interrupted when the kill fell between
    // its BYE and the commit), and no CDR belongs to a call sipp never made.
    assert!(answered as u64 <= stats.successful);
    assert!(answered as u64 + interrupted.len() as u64 >= stats.successful);
    assert!(all.len() as u64 <= stats.created);

    assert_both_legs_hung_up(&caller, stats, pbx_stats, with_answer as u64, &log);
}

/// The restarted calltrack sent BYE on both legs of the interrupted calls: the caller logged
/// them, the PBX has no call left open, no caller BYE got 481, every BYE was answered.
fn assert_both_legs_hung_up(
    caller: &SippProc,
    stats: SippStats,
    pbx: SippStats,
    with_answer: u64,
    log: &str,
) {
    let caller_byes = caller.logs().matches("BYE-from-calltrack").count() as u64;
    let sent = log.matches("BYE sent to end an interrupted call").count() as u64;
    let in_dialog: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request in the dialog of an interrupted call"))
        .collect();
    let answered_in_dialog = in_dialog.len();
    let pbx_open = pbx.created.saturating_sub(pbx.successful + pbx.failed);
    eprintln!(
        "crash test: {with_answer} answered calls interrupted; calltrack sent {sent} BYEs; \
         the caller got {caller_byes}; PBX {pbx:?}, {pbx_open} calls left open; \
         {answered_in_dialog} requests answered in recovered dialogs"
    );
    assert!(
        caller_byes >= 1 && caller_byes + UNKNOWN_DIALOGS >= with_answer,
        "the caller gets a BYE for each interrupted call ({caller_byes} of {with_answer})"
    );
    assert!(
        pbx_open <= UNKNOWN_DIALOGS,
        "the PBX gets a BYE for each interrupted call: {pbx_open} left open"
    );
    assert!(sent >= 2 * caller_byes, "{sent} BYEs logged");
    assert!(
        !log.contains("BYE not answered"),
        "both sipp peers answer every BYE"
    );
    // Whether a caller's own BYE crosses ours depends on where the kill falls in its pause
    // (none did in about half the runs once restart got faster); every one that does is
    // answered 200. `tests/b2bua_recovery.rs` proves the crossing case deterministically.
    assert!(
        in_dialog.iter().all(|l| l.contains("status=200")),
        "callers' BYEs after the restart were answered 200: {in_dialog:#?}"
    );
    let errors = caller.errors();
    // The status line, not the bare digits: sipp's error log stamps every line with
    // microseconds, which hold "481" often enough to fail a run that got none.
    assert!(
        !errors.contains("SIP/2.0 481"),
        "a caller's BYE after the restart gets 200, not 481:\n{errors}"
    );
    assert!(
        stats.failed <= UNKNOWN_DIALOGS,
        "caller calls failed: {stats:?}\n{errors}"
    );
}
