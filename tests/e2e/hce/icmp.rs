//! End-to-end: `check icmp` over the raw sockets the parent opens, IPv4
//! and IPv6. The daemon runs in a network namespace of its own (started
//! from a thread that unshared one), where an nftables rule makes some
//! local addresses ignore echo requests. Needs root, ip(8) and nft(8).

use e2e::{
    daemon_can_run, expect_state, free_port, host_detail, in_private_network, or_skip, show_hosts,
    tools_installed, Daemon,
};
use std::process::Command;
use std::time::Duration;

/// Sets up the private network of the calling thread (which
/// `in_private_network` moved into a new namespace, `lo` up): an extra
/// IPv6 address on `lo`, and an nftables rule dropping echo requests to
/// 127.0.0.2 and that address: hosts that are there but never answer.
fn silence_some_addresses() -> Result<(), String> {
    let steps: [&[&str]; 5] = [
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
    if !daemon_can_run() || !tools_installed(&["ip", "nft"]) {
        return;
    }
    let checked = in_private_network(|| {
        silence_some_addresses()?;
        check_icmp_in_this_network();
        Ok(())
    });
    or_skip(checked.and_then(|setup| setup));
}

fn check_icmp_in_this_network() {
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
