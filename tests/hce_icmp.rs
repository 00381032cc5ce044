//! End-to-end: `check icmp` over the raw sockets the parent opens, IPv4
//! and IPv6. The daemon runs in a network namespace of its own (the test
//! thread unshares one before starting it), where an nftables rule makes
//! some local addresses ignore echo requests. Needs root, ip(8) and nft(8);
//! skips otherwise.

mod hce_support;

use e2e::{daemon_can_run, free_port, Daemon};
use hce_support::{expect_state, host_detail, show_hosts};
use std::process::Command;
use std::time::Duration;

/// Moves the calling thread (and so the daemon it starts) into a new
/// network namespace with `lo` up, an extra IPv6 address on it, and an
/// nftables rule dropping echo requests to 127.0.0.2 and that address:
/// hosts that are there but never answer.
fn enter_private_network() -> Result<(), String> {
    // SAFETY: unshare only changes this thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        ));
    }
    let steps: [&[&str]; 6] = [
        &["ip", "link", "set", "lo", "up"],
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "fd00:9::1/128",
            "dev",
            "lo",
            "nodad",
        ],
        &["nft", "add", "table", "inet", "silent"],
        &[
            "nft",
            "add",
            "chain",
            "inet",
            "silent",
            "input",
            "{ type filter hook input priority 0; }",
        ],
        &[
            "nft",
            "add",
            "rule",
            "inet",
            "silent",
            "input",
            "ip",
            "daddr",
            "127.0.0.2",
            "icmp",
            "type",
            "echo-request",
            "drop",
        ],
        &[
            "nft",
            "add",
            "rule",
            "inet",
            "silent",
            "input",
            "ip6",
            "daddr",
            "fd00:9::1",
            "icmpv6",
            "type",
            "echo-request",
            "drop",
        ],
    ];
    for step in steps {
        let status = Command::new(step[0])
            .args(&step[1..])
            .status()
            .map_err(|e| format!("{step:?}: {e}"))?;
        if !status.success() {
            return Err(format!("{step:?}: {status}"));
        }
    }
    Ok(())
}

#[test]
fn check_icmp_pings_ipv4_and_ipv6_hosts() {
    if !daemon_can_run("check_icmp_pings_ipv4_and_ipv6_hosts") {
        return;
    }
    if let Err(e) = enter_private_network() {
        eprintln!("SKIPPED check_icmp_pings_ipv4_and_ipv6_hosts: {e}");
        return;
    }
    let daemon = Daemon::start(
        "check-icmp",
        &format!(
            "prefork 1\ninterval 1\nlog state changes\n\
             table <v4> {{ 127.0.0.1 127.0.0.2 }}\n\
             table <v6> {{ ::1 fd00:9::1 }}\n\
             relay r4 {{\n\
             \tlisten on 127.0.0.1 port {}\n\
             \tforward to <v4> port 80 check icmp\n\
             }}\n\
             relay r6 {{\n\
             \tlisten on 127.0.0.1 port {}\n\
             \tforward to <v6> port 80 check icmp\n\
             }}\n",
            free_port(),
            free_port()
        ),
    );
    let within = Duration::from_secs(4);
    expect_state(&daemon, "127.0.0.1", "up", within);
    expect_state(&daemon, "::1", "up", within);
    expect_state(&daemon, "127.0.0.2", "down", within);
    expect_state(&daemon, "fd00:9::1", "down", within);
    let detail = host_detail(&daemon, "127.0.0.2");
    assert!(
        detail.contains("error: icmp read timeout"),
        "{detail:?}\n{}",
        show_hosts(&daemon)
    );
}
