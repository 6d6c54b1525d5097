//! Packet loss, delay and reordering: 1 000 calls over UDP through a lossy link, every one
//! completed by retransmissions, one CDR each.
//!
//! calltrack runs in one network namespace, both sipp peers (caller and stand-in PBX) in
//! another, joined by a veth pair with `tc netem loss 5% delay 20ms 10ms reorder 25% 50%` on
//! both ends, so both legs of every call cross the impaired link in both directions.
//!
//! Kernels without `sch_netem` (some VMs, including the development box) fall back, with a loud
//! note, to loss emulated by sipp: copies of the scenarios with `lost="5"` on every `<recv>`,
//! so 5 % of what calltrack sends on either leg never arrives (sipp's own sends are not
//! dropped: sipp does not retransmit a send it dropped itself, which no real network does).
//! Delay and reordering need netem and are not applied then.

use std::time::Duration;

use calltrack::call::record::Disposition;

use crate::cdrs;
use crate::daemon::{Daemon, Setup};
use crate::netns::NetnsPair;
use crate::sipp_load::SippCmd;
use crate::support::scenario;

const CALLS: u64 = 1_000;
const RATE: u64 = 50;
const NETEM: &str = "loss 5% delay 20ms 10ms reorder 25% 50%";

/// True when this process runs as root (`Uid:` in /proc/self/status).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// The namespaces with netem, else with a plain link (`Ok(false)`: netem missing), else why not.
fn namespaces() -> Result<(NetnsPair, bool), String> {
    match NetnsPair::create(NETEM) {
        Ok(pair) => Ok((pair, true)),
        Err(e) if e.contains("qdisc kind is unknown") => {
            eprintln!(
                "\n*** NOTE: this kernel has no netem qdisc ({e}); 5 % loss of calltrack's messages \
                 on both legs is emulated by sipp (lost=\"5\" on every recv); delay and reordering \
                 are NOT applied ***\n"
            );
            NetnsPair::create("").map(|p| (p, false))
        }
        Err(e) => Err(e),
    }
}

#[test]
fn thousand_calls_complete_through_loss_and_reordering() {
    let _serial = crate::support::serial();
    if crate::support::skip_without_sipp("faults::netem") {
        return;
    }
    let (net, netem) = match namespaces() {
        Ok(n) => n,
        Err(e) => {
            assert!(
                !(is_root() && std::env::var_os("CI").is_some()),
                "CI runs as root and must be able to create namespaces: {e}"
            );
            eprintln!(
                "\n*** SKIPPED: cannot create network namespaces ({e}); run as root for the \
                 packet-loss test ***\n"
            );
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        dir: dir.path().to_path_buf(),
        sip_ip: net.ip_a.clone(),
        sip_port: 5060,
        http_port: 8080,
        pbx_ip: net.ip_b.clone(),
        pbx_port: 5080,
        extra: "[calls]\nshutdown_grace_secs = 5\n".into(),
    };
    setup.write_config();
    let daemon = Daemon::start(&setup, Some(&net.ns_a), 0);
    let lossy = |name: &str| match netem {
        true => scenario(name),
        false => lossy_copy(name, dir.path()),
    };
    let _pbx = SippCmd::uas(lossy("uas_answer.xml"), &net.ip_b, setup.pbx_port)
        .in_netns(&net.ns_b)
        .arg("-mp", 16000)
        .spawn();
    let target = format!("{}:{}", net.ip_a, setup.sip_port);
    let mut caller = SippCmd::uac(lossy("uac_call.xml"), &target, "74950000001", &net.ip_b)
        .in_netns(&net.ns_b)
        .arg("-p", 5070)
        .arg("-mp", 17000)
        .arg("-r", RATE)
        .arg("-m", CALLS)
        .arg("-d", 2000)
        .arg("-timeout", "150s")
        .spawn();
    let stats = caller.wait(Duration::from_secs(170));
    let log = daemon.stop();
    let cdrs = cdrs::all(&setup.db_path());
    eprintln!(
        "netem test ({}): sipp {stats:?}; {} CDRs ({} answered)",
        if netem { NETEM } else { "sipp recv lost=5" },
        cdrs.len(),
        cdrs::count(&cdrs, Disposition::Answered)
    );
    assert_eq!(stats.created, CALLS, "sipp placed every call");
    assert_eq!(
        (stats.successful, stats.failed),
        (CALLS, 0),
        "every call completes through retransmissions; sipp errors:\n{}\ncalltrack log tail:\n{}",
        caller.errors(),
        tail(&log)
    );
    assert!(
        stats.retransmissions > 0,
        "the link lost packets: sipp retransmitted"
    );
    cdrs::assert_unique(&cdrs);
    assert_eq!(
        cdrs.len() as u64,
        stats.successful,
        "one CDR per successful call"
    );
    assert_eq!(cdrs::count(&cdrs, Disposition::Answered), cdrs.len());
}

/// A copy of a scenario in which sipp drops 5 % of the messages it receives.
fn lossy_copy(name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(scenario(name)).unwrap();
    let path = dir.join(format!("lossy-{name}"));
    std::fs::write(&path, text.replace("<recv ", "<recv lost=\"5\" ")).unwrap();
    path
}

fn tail(log: &str) -> &str {
    log.get(log.len().saturating_sub(4000)..).unwrap_or(log)
}
