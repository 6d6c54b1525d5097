//! Two network namespaces joined by a veth pair, with `tc netem` on both ends; removed again
//! by a Drop guard whatever happens. Everything the netem test sends stays inside them.

use std::process::{Command, Stdio};

/// `ns_a` holds calltrack at `ip_a`; `ns_b` holds the sipp peers at `ip_b`.
pub struct NetnsPair {
    pub ns_a: String,
    pub ns_b: String,
    pub ip_a: String,
    pub ip_b: String,
}

/// Runs `ip`/`tc` with arguments; `Err` with its stderr when it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetnsPair {
    /// Creates the namespaces and the link with `netem` (its parameters; empty: no qdisc) on
    /// both ends, or says why it cannot (no privilege, no `ip`, no netem in the kernel).
    pub fn create(netem: &str) -> Result<NetnsPair, String> {
        let id = std::process::id();
        let pair = NetnsPair {
            ns_a: format!("ct-{id}-a"),
            ns_b: format!("ct-{id}-b"),
            ip_a: "10.213.0.1".into(),
            ip_b: "10.213.0.2".into(),
        };
        // From here on, Drop removes whatever was made, also when a step fails.
        pair.build(netem)?;
        Ok(pair)
    }

    fn build(&self, netem: &str) -> Result<(), String> {
        let (a, b) = (self.ns_a.as_str(), self.ns_b.as_str());
        let (va, vb) = (
            format!("vct{}a", std::process::id()),
            format!("vct{}b", std::process::id()),
        );
        run("ip", &["netns", "add", a])?;
        run("ip", &["netns", "add", b])?;
        run(
            "ip",
            &["link", "add", &va, "type", "veth", "peer", "name", &vb],
        )?;
        run("ip", &["link", "set", &va, "netns", a])?;
        run("ip", &["link", "set", &vb, "netns", b])?;
        for (ns, dev, ip) in [(a, &va, &self.ip_a), (b, &vb, &self.ip_b)] {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{ip}/30"), "dev", dev],
            )?;
            run("ip", &["-n", ns, "link", "set", dev, "up"])?;
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
            if !netem.is_empty() {
                let mut tc = vec!["-n", ns, "qdisc", "add", "dev", dev, "root", "netem"];
                tc.extend(netem.split_whitespace());
                run("tc", &tc)?;
            }
        }
        Ok(())
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth, and with it the peer.
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}
