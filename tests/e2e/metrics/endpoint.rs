//! The `metrics listen on` endpoint: served by the unprivileged metrics
//! process (the parent holds no socket on its port), accepted by
//! `promtool`, and scraped by a real `prometheus` whose query API follows
//! relayd's host states; a reload moves it or, without the option, closes
//! it.

use e2e::{
    assert_promtool_accepts, children_of, cmdline, daemon_can_run, expect_state, first_table,
    free_port, http_get, or_skip, tools_installed, wait_until, watched_relay_config, Daemon,
    Prometheus, TcpBackend, TcpBehaviour,
};
use std::net::SocketAddr;
use std::time::Duration;

/// The inode of the socket listening on 127.0.0.1:`port`, from
/// /proc/net/tcp (`0100007F:PORT` in state 0A).
fn listening_inode(port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
            .then(|| fields.get(9).map(|inode| inode.to_string()))
            .flatten()
    })
}

/// Whether process `pid` holds socket `inode`.
fn holds_socket(pid: u32, inode: &str) -> bool {
    let wanted = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == wanted))
}

#[test]
fn the_endpoint_is_the_metrics_process_and_prometheus_reads_host_states() {
    if !daemon_can_run() || !tools_installed(&["promtool", "prometheus"]) {
        return;
    }
    let mut backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::AcceptAndClose);
    let metrics_port = free_port();
    let config = watched_relay_config(
        &format!("metrics listen on 127.0.0.1 port {metrics_port}\n"),
        "127.0.0.1 127.0.0.2",
        "www",
        free_port(),
        backend.port(),
    );
    let daemon = Daemon::start("metrics-endpoint", &config);
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(10));
    expect_state(&daemon, "127.0.0.2", "down", Duration::from_secs(10));
    let endpoint = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let table = first_table(&daemon);

    // Only the metrics process holds the listening socket.
    let inode = listening_inode(metrics_port).expect("a socket listens on the metrics port");
    let holders: Vec<String> = std::iter::once(daemon.pid)
        .chain(children_of(daemon.pid))
        .filter(|pid| holds_socket(*pid, &inode))
        .map(cmdline)
        .collect();
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert!(holders[0].starts_with("relayd: metrics"), "{holders:?}");

    let (status, text) = http_get(endpoint, "/metrics").expect("the endpoint answers");
    assert_eq!(status, 200, "{text}");
    assert_promtool_accepts(&text);
    assert!(
        text.lines()
            .any(|l| l == format!("relayd_host_up{{table=\"{table}\",host=\"127.0.0.1\"}} 1")),
        "{text}"
    );
    assert_eq!(http_get(endpoint, "/").map(|(s, _)| s), Some(404));

    let Some(prometheus) = or_skip(Prometheus::scraping(endpoint)) else {
        return;
    };
    let host_up = |host: &str| -> Option<String> {
        prometheus
            .query(&format!(
                "relayd_host_up{{job=\"relayd\",table=\"{table}\"}}"
            ))
            .into_iter()
            .find(|(labels, _)| labels["host"] == host)
            .map(|(_, value)| value)
    };
    let seen = |host: &str, value: &str| {
        wait_until(Duration::from_secs(30), || {
            host_up(host).as_deref() == Some(value)
        })
    };
    assert!(
        seen("127.0.0.1", "1") && seen("127.0.0.2", "0"),
        "prometheus says {:?} {:?}\n{}",
        host_up("127.0.0.1"),
        host_up("127.0.0.2"),
        prometheus.log_text()
    );
    // The backend goes away: relayd marks the host down, Prometheus sees it.
    backend.kill();
    expect_state(&daemon, "127.0.0.1", "down", Duration::from_secs(10));
    assert!(
        seen("127.0.0.1", "0"),
        "prometheus says {:?}\n{}",
        host_up("127.0.0.1"),
        prometheus.log_text()
    );
}

#[test]
fn a_reload_moves_the_endpoint_and_one_without_the_option_closes_it() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::AcceptAndClose);
    let relay_port = free_port();
    let config = |metrics: Option<u16>| {
        let metrics = metrics
            .map(|port| format!("metrics listen on 127.0.0.1 port {port}\n"))
            .unwrap_or_default();
        watched_relay_config(&metrics, "127.0.0.1", "www", relay_port, backend.port())
    };
    let (first, second) = (free_port(), free_port());
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let status = |port: u16| http_get(at(port), "/metrics").map(|(status, _)| status);
    let daemon = Daemon::start("metrics-reload", &config(Some(first)));
    assert_eq!(status(first), Some(200), "{}", daemon.log_text());

    daemon.rewrite_config(&config(Some(second)));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "{out:?}\n{}", daemon.log_text());
    assert_eq!(status(second), Some(200), "{}", daemon.log_text());
    assert!(
        wait_until(Duration::from_secs(5), || listening_inode(first).is_none()),
        "the old endpoint still listens"
    );

    daemon.rewrite_config(&config(None));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "{out:?}\n{}", daemon.log_text());
    assert!(
        wait_until(Duration::from_secs(5), || listening_inode(second).is_none()),
        "the endpoint still listens without `metrics listen on`"
    );
    assert_eq!(status(second), None);
}

#[test]
fn a_reload_to_a_port_already_taken_is_refused_and_changes_nothing() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::AcceptAndClose);
    let relay_port = free_port();
    let config = |metrics: u16, relay: &str| {
        watched_relay_config(
            &format!("metrics listen on 127.0.0.1 port {metrics}\n"),
            "127.0.0.1",
            relay,
            relay_port,
            backend.port(),
        )
    };
    let serving = free_port();
    let daemon = Daemon::start("metrics-taken", &config(serving, "www"));
    let endpoint = SocketAddr::from(([127, 0, 0, 1], serving));
    assert_eq!(
        http_get(endpoint, "/metrics").map(|(s, _)| s),
        Some(200),
        "{}",
        daemon.log_text()
    );

    // Another program holds the port the new configuration wants.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let taken = squatter.local_addr().expect("its address").port();
    daemon.rewrite_config(&config(taken, "renamed"));
    let out = daemon.relayctl(&["reload"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the reload went through: {said}");
    assert!(said.contains(&taken.to_string()), "{said}");

    // Nothing changed: the old endpoint serves the old configuration.
    let (status, text) = http_get(endpoint, "/metrics").expect("the old endpoint answers");
    assert_eq!(status, 200);
    assert!(
        text.contains("relay=\"www\"") && !text.contains("relay=\"renamed\""),
        "{text}"
    );
    let summary =
        String::from_utf8_lossy(&daemon.relayctl(&["show", "summary"]).stdout).to_string();
    assert!(
        summary.contains("www") && !summary.contains("renamed"),
        "{summary}"
    );
    drop(squatter);
}
