//! End-to-end: relays forwarding to tables, over hosts the hce reports up:
//! every scheduling mode with the distribution it promises, failover to a
//! backup table when the main table goes down (and back), `retry` on a
//! failed connect, and `host disable`. Backends listen on 127.0.0.1-3 with
//! one port. Needs root; skips otherwise.

use e2e::{
    connect, connect_from, daemon_can_run, free_port, read_line, stdout_text, wait_hosts_up,
    wait_until, which_backend, Daemon, TcpBackend, TcpBehaviour,
};
use std::collections::HashMap;
use std::net::TcpStream;
use std::time::Duration;

/// Three named backends `a`, `b`, `c` on 127.0.0.1, .2, .3, same port.
fn three_backends() -> (u16, Vec<TcpBackend>) {
    for _ in 0..20 {
        let port = free_port();
        let free =
            (2..=3).all(|i| std::net::TcpListener::bind((format!("127.0.0.{i}"), port)).is_ok());
        if free {
            let backends = ["a", "b", "c"]
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    TcpBackend::start(
                        format!("127.0.0.{}:{port}", i + 1),
                        TcpBehaviour::Named(name.to_string()),
                    )
                })
                .collect();
            return (port, backends);
        }
    }
    panic!("no port free on 127.0.0.1-3");
}

fn table_config(port: u16, backend_port: u16, mode: &str) -> String {
    format!(
        "prefork 1\n\
         interval 1\n\
         table <web> {{ 127.0.0.1 127.0.0.2 127.0.0.3 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <web> port {backend_port} mode {mode} check tcp\n\
         }}\n"
    )
}

fn start(label: &str, mode: &str) -> (Daemon, u16, Vec<TcpBackend>) {
    let (backend_port, backends) = three_backends();
    let port = free_port();
    let daemon = Daemon::start(label, &table_config(port, backend_port, mode));
    wait_hosts_up(&daemon, 3);
    (daemon, port, backends)
}

fn tally(names: impl IntoIterator<Item = String>) -> HashMap<String, u32> {
    let mut counts = HashMap::new();
    for name in names {
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

#[test]
fn roundrobin_takes_the_hosts_in_turn() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, port, _backends) = start("rr", "roundrobin");
    let names: Vec<String> = (0..9).map(|_| which_backend(port)).collect();
    assert_eq!(
        tally(names.clone()).values().copied().collect::<Vec<_>>(),
        [3, 3, 3],
        "{names:?}\n{}",
        daemon.log_text()
    );
    // In turn: every window of three holds each host once.
    for window in names.chunks(3) {
        let mut sorted = window.to_vec();
        sorted.sort();
        assert_eq!(sorted, ["a", "b", "c"], "{names:?}");
    }
}

#[test]
fn random_reaches_every_host() {
    if !daemon_can_run() {
        return;
    }
    let (_daemon, port, _backends) = start("random", "random");
    let counts = tally((0..60).map(|_| which_backend(port)));
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|&n| n >= 5), "{counts:?}");
}

/// Which backend each of 24 client addresses reaches, asking 3 times each;
/// fails if a client is not sent to the same host every time.
fn per_client(port: u16) -> HashMap<String, String> {
    let mut seen = HashMap::new();
    for i in 0..24 {
        let client = format!("127.0.1.{}", i + 1);
        let names: Vec<String> = (0..3)
            .map(|_| read_line(&mut connect_from(&client, port)).unwrap())
            .collect();
        assert!(names.iter().all(|n| n == &names[0]), "{client}: {names:?}");
        seen.insert(client, names[0].clone());
    }
    seen
}

#[test]
fn source_hash_keeps_each_client_on_its_host_and_spreads_clients() {
    if !daemon_can_run() {
        return;
    }
    let (_daemon, port, _backends) = start("srchash", "source-hash");
    let seen = per_client(port);
    let counts = tally(seen.values().cloned());
    assert!(counts.len() >= 2, "all clients on one host: {counts:?}");
}

#[test]
fn loadbalance_keeps_each_client_on_its_host() {
    if !daemon_can_run() {
        return;
    }
    let (_daemon, port, _backends) = start("lb", "loadbalance");
    let counts = tally(per_client(port).into_values());
    assert!(counts.len() >= 2, "all clients on one host: {counts:?}");
}

#[test]
fn hash_sends_every_client_of_the_relay_to_one_host() {
    if !daemon_can_run() {
        return;
    }
    let (_daemon, port, _backends) = start("hash", "hash");
    let counts = tally(per_client(port).into_values());
    assert_eq!(counts.len(), 1, "{counts:?}");
}

/// `mode least-states` on a relay: relayd(8) has it on redirects only; here
/// relays have it (nftables cannot express it for redirects).
#[test]
fn least_states_sends_new_sessions_to_the_hosts_with_fewer_sessions() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, port, _backends) = start("least", "least-states");
    // Six held sessions spread two per host.
    let mut held: Vec<(String, TcpStream)> = (0..6)
        .map(|_| {
            let mut stream = connect(port);
            (read_line(&mut stream).unwrap(), stream)
        })
        .collect();
    let counts = tally(held.iter().map(|(n, _)| n.clone()));
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        [2, 2, 2],
        "{counts:?}"
    );
    // Host a keeps its long sessions; b and c lose theirs.
    held.retain(|(name, _)| name == "a");
    std::thread::sleep(Duration::from_millis(300));
    let fresh: Vec<(String, TcpStream)> = (0..4)
        .map(|_| {
            let mut stream = connect(port);
            (read_line(&mut stream).unwrap(), stream)
        })
        .collect();
    let names: Vec<&str> = fresh.iter().map(|(n, _)| n.as_str()).collect();
    assert!(!names.contains(&"a"), "{names:?}\n{}", daemon.log_text());
}

#[test]
fn a_table_that_goes_down_fails_over_to_the_backup_table_and_back() {
    if !daemon_can_run() {
        return;
    }
    let (backend_port, mut backends) = three_backends();
    let port = free_port();
    let config = format!(
        "prefork 1\n\
         interval 1\n\
         table <main> {{ 127.0.0.1 }}\n\
         table <spare> {{ 127.0.0.2 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <main> port {backend_port} check tcp\n\
         \tforward to <spare> port {backend_port} check tcp\n\
         }}\n"
    );
    let daemon = Daemon::start("backup", &config);
    wait_hosts_up(&daemon, 2);
    assert_eq!(which_backend(port), "a");
    assert_eq!(which_backend(port), "a");
    backends[0].kill();
    let failed_over = wait_until(Duration::from_secs(10), || {
        std::panic::catch_unwind(|| which_backend(port))
            .ok()
            .as_deref()
            == Some("b")
    });
    assert!(
        failed_over,
        "{}",
        stdout_text(&daemon.relayctl(&["show", "hosts"]))
    );
    for _ in 0..3 {
        assert_eq!(which_backend(port), "b");
    }
    // The main table comes back: sessions return to it.
    backends[0] = TcpBackend::start(
        format!("127.0.0.1:{backend_port}"),
        TcpBehaviour::Named("a".to_string()),
    );
    assert!(wait_until(Duration::from_secs(10), || which_backend(port) == "a"));
}

#[test]
fn retry_tries_another_host_when_a_connect_fails() {
    if !daemon_can_run() {
        return;
    }
    let (backend_port, mut backends) = three_backends();
    // Host a and c refuse connections; the table is not checked, so only
    // retries find b.
    backends[0].kill();
    backends[2].kill();
    let port = free_port();
    let config = format!(
        "prefork 1\n\
         table <web> {{ 127.0.0.1 127.0.0.2 127.0.0.3 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <web> port {backend_port} mode roundrobin retry 2\n\
         }}\n"
    );
    let daemon = Daemon::start("retry", &config);
    for _ in 0..6 {
        assert_eq!(which_backend(port), "b", "log:\n{}", daemon.log_text());
    }
}

#[test]
fn a_disabled_host_gets_no_new_sessions() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, port, _backends) = start("hostdisable", "roundrobin");
    let out = daemon.relayctl(&["host", "disable", "127.0.0.2"]);
    assert!(out.status.success(), "{}", stdout_text(&out));
    let counts = tally((0..8).map(|_| which_backend(port)));
    assert_eq!(counts.get("b"), None, "{counts:?}");
    assert_eq!(counts.len(), 2, "{counts:?}");
    let out = daemon.relayctl(&["host", "enable", "127.0.0.2"]);
    assert!(out.status.success());
    assert!(wait_until(Duration::from_secs(10), || which_backend(port) == "b"));
}
