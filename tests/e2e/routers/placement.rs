//! Where the routes go: relayd.conf(5)'s EXAMPLES router as an operator
//! copies it (its addresses moved into the lab), `rtable`, `priority` and
//! `rtlabel` as table, metric and realm, and an IPv6 router.

use e2e::{
    bin, daemon_can_run, man_examples, read_text, repo_root, route_lab_or_skip, stdout_text,
    Daemon, ScratchDir, RELAYD_PROTOCOL, ROUTE_CHANGE,
};
use std::process::Command;

/// The manual's router example with its gateways replaced by the lab's.
fn manual_router_example() -> String {
    let page = read_text(&repo_root().join("man/relayd.conf.5"));
    let example = man_examples(&page)
        .into_iter()
        .find(|block| block.contains("router \"uplinks\""))
        .expect("relayd.conf.5 EXAMPLES has the uplinks router");
    assert!(
        example.contains("192.0.2.1") && example.contains("198.51.100.1"),
        "the example's gateways changed:\n{example}"
    );
    example
        .replace("192.0.2.1", "10.78.1.2")
        .replace("198.51.100.1", "10.78.2.2")
}

#[test]
fn the_manual_router_example_passes_the_check_and_routes_the_default_route() {
    if !daemon_can_run() {
        return;
    }
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let example = manual_router_example();
    let dir = ScratchDir::new("router-example");
    let file = dir.write("example.conf", &example);
    let checked = Command::new(bin("relayd"))
        .arg("-n")
        .arg("-f")
        .arg(&file)
        .output()
        .expect("run relayd -n");
    assert!(
        checked.status.success(),
        "relayd -n refuses the example: {}\n{example}",
        String::from_utf8_lossy(&checked.stderr)
    );

    // As written (10 s checks): the first round runs at start.
    let daemon = Daemon::start_in(&lab.router, "router-example", &example);
    lab.expect_relayd_routes(
        &daemon,
        &["default table main metric 0 via 10.78.1.2,10.78.2.2"],
    );
}

#[test]
fn rtable_priority_and_rtlabel_are_table_metric_and_realm() {
    if !daemon_can_run() {
        return;
    }
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let config = "interval 1\nprefork 1\n\
                  table <gw> { 10.78.1.2, 10.78.2.2 priority 20 }\n\
                  router \"backup\" {\n\troute 198.51.100.0/24\n\
                  \tforward to <gw> check icmp\n\trtable 7\n\trtlabel \"5\"\n}\n";
    let daemon = Daemon::start_in(&lab.router, "router-rtable", config);
    lab.expect_relayd_routes(
        &daemon,
        &[
            "198.51.100.0/24 table 7 metric 0 via 10.78.1.2 realm 5",
            "198.51.100.0/24 table 7 metric 20 via 10.78.2.2 realm 5",
        ],
    );

    let shown = stdout_text(&daemon.relayctl(&["show", "routers"]));
    for line in ["rtable: 7", "rtlabel: 5", "route: 198.51.100.0/24"] {
        assert!(shown.contains(line), "no {line:?} in:\n{shown}");
    }
    let json = stdout_text(&daemon.relayctl(&["-j", "show", "routers"]));
    let router = json
        .lines()
        .find(|line| line.contains("\"type\":\"router\""))
        .unwrap_or_else(|| panic!("no router row in:\n{json}"));
    assert!(router.contains("\"rtable\":7"), "{router}");
    assert!(router.contains("\"name\":\"backup\""), "{router}");
}

#[test]
fn an_ipv6_router_routes_through_both_gateways() {
    if !daemon_can_run() {
        return;
    }
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let config = "interval 1\nprefork 1\n\
                  table <gw6> { fd78:1::2, fd78:2::2 }\n\
                  router \"six\" {\n\troute 2001:db8:5::/48\n\tforward to <gw6> check icmp\n}\n";
    let daemon = Daemon::start_in(&lab.router, "router-ipv6", config);
    let expected = ["2001:db8:5::/48 table main metric 1024 via fd78:1::2,fd78:2::2"];
    if let Err(seen) = lab.wait_for_routes("-6", RELAYD_PROTOCOL, &expected, ROUTE_CHANGE) {
        panic!(
            "relayd's IPv6 routes are {seen:?}, not {expected:?}\nrelayd log:\n{}",
            daemon.log_text()
        );
    }
}
