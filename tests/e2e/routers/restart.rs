//! Routes across the daemon's life: they stay when relayd stops (as
//! OpenBSD's relayd leaves them), the next start removes those its
//! configuration does not route, a reload without routers removes them
//! all, and a route of another program where relayd's would go keeps
//! relayd's out.

use e2e::{
    daemon_can_run, free_port, route_lab_or_skip, stdout_text, through_both_gateways,
    uplinks_config, wait_until, Daemon, RELAYD_PROTOCOL, ROUTE_CHANGE,
};
use std::time::Duration;

#[test]
fn routes_stay_at_exit_and_the_next_start_removes_what_it_does_not_route() {
    if !daemon_can_run() {
        return;
    }
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let first_route = through_both_gateways("198.51.100.0/24");
    let mut first = Daemon::start_in(
        &lab.router,
        "router-first",
        &uplinks_config("198.51.100.0/24"),
    );
    lab.expect_relayd_routes(&first, &[&first_route]);

    let stopped = first.relayctl(&["stop"]);
    assert!(stopped.status.success(), "{}", stdout_text(&stopped));
    assert_eq!(first.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(
        lab.routes("-4", RELAYD_PROTOCOL),
        [first_route.as_str()],
        "relayd left its routes in place"
    );

    // Another destination: the old route goes at start, the new one comes
    // with the first checks.
    let second_route = through_both_gateways("203.0.113.0/24");
    let second = Daemon::start_in(
        &lab.router,
        "router-second",
        &uplinks_config("203.0.113.0/24"),
    );
    lab.expect_relayd_routes(&second, &[&second_route]);

    // A configuration without routers flushes the routes of the last one.
    let port = free_port();
    second.rewrite_config(&format!(
        "prefork 1\nrelay \"r\" {{\n\tlisten on 127.0.0.1 port {port}\n\
         \tforward to 127.0.0.1 port {}\n}}\n",
        free_port()
    ));
    let reloaded = second.relayctl(&["reload"]);
    assert!(reloaded.status.success(), "{}", stdout_text(&reloaded));
    lab.expect_relayd_routes(&second, &[]);
}

#[test]
fn a_route_of_another_program_where_relayds_would_go_keeps_it_out() {
    if !daemon_can_run() {
        return;
    }
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let foreign = ["198.51.100.0/24 table main metric 0 via 10.78.2.2"];
    lab.ip_in_router("route add 198.51.100.0/24 via 10.78.2.2 proto static");
    let daemon = Daemon::start_in(
        &lab.router,
        "router-occupied",
        &uplinks_config("198.51.100.0/24"),
    );
    let warned = wait_until(ROUTE_CHANGE, || {
        daemon
            .log_text()
            .contains("a route of another program is at this destination and metric")
    });
    assert!(warned, "no warning; relayd log:\n{}", daemon.log_text());
    assert_eq!(lab.routes("-4", "static"), foreign);
    assert_eq!(lab.routes("-4", RELAYD_PROTOCOL), Vec::<String>::new());

    // Once the other route is gone, relayd's comes at its next change.
    lab.ip_in_router("route del 198.51.100.0/24 proto static");
    for switch in ["disable", "enable"] {
        let output = daemon.relayctl(&["router", switch, "uplinks"]);
        assert!(output.status.success(), "{}", stdout_text(&output));
    }
    lab.expect_relayd_routes(&daemon, &[&through_both_gateways("198.51.100.0/24")]);
}
