//! `relayctl show metrics`: text `promtool check metrics` accepts, whose
//! host samples say what `show hosts` says, and an HTTP relay's answers by
//! status code.

use e2e::{
    assert_promtool_accepts, daemon_can_run, expect_state, first_table, free_port, host_rows,
    http_relay_config, metric_sample, relayctl, stdout_text, tools_installed, wait_until,
    watched_relay_config, Daemon, HttpBackend, HttpClient, TcpBackend, TcpBehaviour,
};
use std::time::Duration;

#[test]
fn show_metrics_passes_promtool_and_matches_show_hosts() {
    if !daemon_can_run() || !tools_installed(&["promtool"]) {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::AcceptAndClose);
    // Nothing listens on 127.0.0.2 at this port: that host goes down.
    let config = watched_relay_config(
        "",
        "127.0.0.1 127.0.0.2",
        "www",
        free_port(),
        backend.port(),
    );
    let daemon = Daemon::start("metrics-relayctl", &config);
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(10));
    expect_state(&daemon, "127.0.0.2", "down", Duration::from_secs(10));

    // relayd names a relay's table after its port: `web:PORT`.
    let table = first_table(&daemon);
    let output = relayctl(&daemon.socket, &["show", "metrics"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout_text(&output);
    assert_promtool_accepts(&text);
    // Every host of `show hosts` has its relayd_host_up sample, 1 for up.
    let rows = host_rows(&daemon);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in rows {
        let value = if row.status == "up" { 1 } else { 0 };
        let sample = format!(
            "relayd_host_up{{table=\"{table}\",host=\"{}\"}} {value}",
            row.name
        );
        assert!(
            text.lines().any(|l| l == sample),
            "no {sample:?} in\n{text}"
        );
    }
    for line in [
        format!("relayd_table_hosts{{table=\"{table}\"}} 2"),
        format!("relayd_table_hosts_up{{table=\"{table}\"}} 1"),
        "relayd_relay_enabled{relay=\"www\"} 1".to_string(),
        format!("relayd_host_state{{table=\"{table}\",host=\"127.0.0.2\",state=\"down\"}} 1"),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    // A host that was checked has a check duration, in seconds.
    let duration = metric_sample::<f64>(
        &text,
        &format!("relayd_host_check_duration_seconds{{table=\"{table}\",host=\"127.0.0.1\"}}"),
    );
    assert!(
        duration.is_some_and(|d| (0.0..0.5).contains(&d)),
        "{duration:?}\n{text}"
    );
}

#[test]
fn an_http_relay_counts_its_answers_by_status() {
    if !daemon_can_run() || !tools_installed(&["promtool"]) {
        return;
    }
    let backend = HttpBackend::start("b");
    let port = free_port();
    // `interval 1`: the relay processes publish their counters every second.
    let config = format!(
        "interval 1\n{}",
        http_relay_config(
            port,
            backend.port(),
            "\treturn error\n\tblock request path \"/forbidden\""
        )
    );
    let daemon = Daemon::start("metrics-http", &config);
    for path in ["/a", "/b", "/c"] {
        assert_eq!(HttpClient::connect(port).get(path).status(), 200);
    }
    // The relay's own answer counts too.
    assert_eq!(HttpClient::connect(port).get("/forbidden").status(), 403);

    let expected = [
        "relayd_relay_http_responses_total{relay=\"web\",code=\"200\"} 3",
        "relayd_relay_http_responses_total{relay=\"web\",code=\"403\"} 1",
    ];
    let mut text = String::new();
    let counted = wait_until(Duration::from_secs(10), || {
        text = stdout_text(&relayctl(&daemon.socket, &["show", "metrics"]));
        expected.iter().all(|line| text.lines().any(|l| l == *line))
    });
    assert!(counted, "{expected:?} not in\n{text}");
    // The backend connections the relay keeps (`http { reuse }`).
    let sample = |name: &str| metric_sample::<u64>(&text, &format!("{name}{{relay=\"web\"}}"));
    let idle = sample("relayd_relay_backend_connections_idle");
    assert!(idle.is_some_and(|n| n >= 1), "{idle:?}\n{text}");
    let reused = sample("relayd_relay_backend_connections_reused_total");
    assert!(reused.is_some(), "{text}");
    assert_promtool_accepts(&text);
}

#[test]
fn json_mode_prints_the_same_exposition_text() {
    if !daemon_can_run() || !tools_installed(&["promtool"]) {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::AcceptAndClose);
    let config = watched_relay_config("", "127.0.0.1", "www", free_port(), backend.port());
    let daemon = Daemon::start("metrics-json", &config);
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(10));
    // `-j` is for rows; the exposition format is already machine-read, so
    // it comes out as the text format, not wrapped in JSON.
    let output = relayctl(&daemon.socket, &["-j", "show", "metrics"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout_text(&output);
    assert_promtool_accepts(&text);
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
    let plain = stdout_text(&relayctl(&daemon.socket, &["show", "metrics"]));
    let names = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_string()))
            .collect()
    };
    assert_eq!(names(&text), names(&plain));
    // Other `show` commands do answer JSON lines under -j.
    let rows = stdout_text(&relayctl(&daemon.socket, &["-j", "show", "summary"]));
    assert!(!rows.trim().is_empty());
    for line in rows.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}
