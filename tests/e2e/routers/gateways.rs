//! One router through two gateways: the route has both while both answer
//! their checks, loses the one that stops answering and gets it back,
//! follows host and router switches, lives through a reload, and relayd
//! never touches the routes of other programs beside it.

use e2e::{
    daemon_can_run, expect_state, route_lab_or_skip, stdout_text, summary_rows,
    through_both_gateways, uplinks_config, Daemon, Monitor, RouteLab, RELAYD_PROTOCOL,
    ROUTE_CHANGE, TWO_INTERVALS,
};
use std::time::Duration;

const DESTINATION: &str = "198.51.100.0/24";

/// The routes of other programs the test adds: a fallback at a metric of
/// its own, as relayd.conf(5) advises (protocol static), and a route to
/// another destination (`ip route add`'s protocol, boot).
fn add_foreign_routes(lab: &RouteLab) {
    for route in [
        "route add 198.51.100.0/24 via 10.78.1.2 metric 100 proto static",
        "route add 192.0.2.0/24 via 10.78.2.2",
    ] {
        lab.ip_in_router(route);
    }
}

fn assert_foreign_routes_intact(lab: &RouteLab, when: &str) {
    assert_eq!(
        lab.routes("-4", "static"),
        ["198.51.100.0/24 table main metric 100 via 10.78.1.2"],
        "{when}"
    );
    assert_eq!(
        lab.routes("-4", "boot"),
        ["192.0.2.0/24 table main metric 0 via 10.78.2.2"],
        "{when}"
    );
}

fn succeeds(daemon: &Daemon, args: &[&str]) {
    let output = daemon.relayctl(args);
    assert!(
        output.status.success(),
        "relayctl {args:?}: {}{}",
        stdout_text(&output),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_route_follows_its_gateways_checks_and_switches() {
    if !daemon_can_run() {
        return;
    }
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    add_foreign_routes(&lab);
    let mut daemon = Daemon::start_in(&lab.router, "router-gateways", &uplinks_config(DESTINATION));
    let both = through_both_gateways(DESTINATION);
    lab.expect_relayd_routes(&daemon, &[&both]);
    assert_foreign_routes_intact(&lab, "at start");

    // Gateway 2 stops answering ping: its nexthop goes, and comes back.
    lab.answer_ping(2, false);
    lab.expect_relayd_routes(
        &daemon,
        &["198.51.100.0/24 table main metric 0 via 10.78.1.2"],
    );
    expect_state(&daemon, "10.78.2.2", "down", ROUTE_CHANGE);
    lab.answer_ping(2, true);
    lab.expect_relayd_routes(&daemon, &[&both]);

    // A disabled host is no gateway.
    succeeds(&daemon, &["host", "disable", "10.78.1.2"]);
    lab.expect_relayd_routes(
        &daemon,
        &["198.51.100.0/24 table main metric 0 via 10.78.2.2"],
    );
    succeeds(&daemon, &["host", "enable", "10.78.1.2"]);
    lab.expect_relayd_routes(&daemon, &[&both]);

    // router disable: no routes, shown disabled without its routes.
    let monitor = Monitor::start(&daemon.socket);
    // The monitor subscribes asynchronously: switch until it saw the
    // event, within a bounded time; the router ends up disabled.
    let saw_disable = |events: &[String]| {
        events
            .iter()
            .any(|line| line.starts_with("ctl_router_disable:"))
    };
    let mut events = Vec::new();
    for attempt in 0..50 {
        if attempt > 0 {
            succeeds(&daemon, &["router", "enable", "uplinks"]);
        }
        succeeds(&daemon, &["router", "disable", "uplinks"]);
        monitor.collect(&mut events, Duration::from_millis(100));
        if saw_disable(&events) {
            break;
        }
    }
    assert!(saw_disable(&events), "monitor saw {events:?}");
    lab.expect_relayd_routes(&daemon, &[]);
    assert_foreign_routes_intact(&lab, "after router disable");
    let shown = stdout_text(&daemon.relayctl(&["show", "routers"]));
    let router = summary_rows(&shown)
        .into_iter()
        .find(|row| row.kind == "router")
        .unwrap_or_else(|| panic!("no router row:\n{shown}"));
    assert_eq!(
        (router.name.as_str(), router.status.as_str()),
        ("uplinks", "disabled")
    );
    assert!(!shown.contains("route:"), "{shown}");

    // router enable: back at once through the gateways that are up.
    succeeds(&daemon, &["router", "enable", &router.id.to_string()]);
    lab.expect_relayd_routes(&daemon, &[&both]);
    let shown = stdout_text(&daemon.relayctl(&["show", "routers"]));
    assert!(shown.contains("route: 198.51.100.0/24"), "{shown}");

    // A reload keeps the routes: its gateways are unknown until checked,
    // then up again.
    succeeds(&daemon, &["reload"]);
    assert_eq!(lab.routes("-4", RELAYD_PROTOCOL), [both.as_str()]);
    std::thread::sleep(TWO_INTERVALS);
    assert_eq!(lab.routes("-4", RELAYD_PROTOCOL), [both.as_str()]);
    assert_foreign_routes_intact(&lab, "after reload");

    let unknown = daemon.relayctl(&["router", "disable", "nosuch"]);
    assert!(!unknown.status.success());
    assert_eq!(
        stdout_text(&unknown),
        "command failed: no such router nosuch\n"
    );

    // relayd stops: its routes and the others stay.
    succeeds(&daemon, &["stop"]);
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(lab.routes("-4", RELAYD_PROTOCOL), [both.as_str()]);
    assert_foreign_routes_intact(&lab, "after relayd stopped");
}
