//! The kernel side against a real kernel, in network namespaces the tests
//! create (`e2e::RouteLab`): routes of a router appear with both gateways
//! as one multipath route, lose a gateway, get it back, carry traffic to
//! the gateway left; routes of other protocols survive every flush; `rtable`
//! is a Linux table; IPv6 too; `rtlabel` becomes the realm; what a
//! restart finds is flushed or kept as the new configuration says; the
//! kernel's refusals come back with its reason. iproute2 is the witness:
//! every assertion reads `ip -j route`, not this crate.

use e2e::{route_lab_or_skip, RouteLab, RELAYD_PROTOCOL};
use relayd_config::{parse_str, LoadOptions, ObjectId};
use relayd_route::{
    Desired, GatewayState, Installer, KernelError, Realms, Route, RoutePlan, RouteSocket,
};
use std::collections::BTreeSet;
use std::path::Path;

fn plan(config: &str) -> RoutePlan {
    let config = parse_str(config, "test.conf", &LoadOptions::default()).expect("valid config");
    let realms = Realms::parse("9 uplink\n", Some(Path::new("rt_realms")));
    RoutePlan::new(&config, &realms).unwrap_or_else(|e| panic!("{e}"))
}

/// The host ids of the first router's gateways, in table order.
fn hosts(plan: &RoutePlan) -> Vec<ObjectId> {
    plan.routers()[0].gateways.iter().map(|g| g.host).collect()
}

/// The routes `plan` wants with hosts `up` up, all others down.
fn with_up(plan: &RoutePlan, up: &[ObjectId]) -> Desired {
    let up: BTreeSet<ObjectId> = up.iter().copied().collect();
    plan.desired(|gateway| {
        if up.contains(&gateway.host) {
            GatewayState::Up
        } else {
            GatewayState::Down
        }
    })
}

fn open_installer(lab: &RouteLab) -> Installer {
    lab.in_router(|| {
        let socket = RouteSocket::open().expect("open rtnetlink");
        Installer::new(socket).expect("read installed routes")
    })
}

/// Applies `desired` and insists every change went through.
fn apply(installer: &mut Installer, desired: &Desired) -> usize {
    let applied = installer.apply(desired);
    let failed: Vec<String> = applied.failed.iter().map(|e| e.to_string()).collect();
    assert!(failed.is_empty(), "refused: {failed:?}");
    applied.done.len()
}

const TWO_GATEWAYS: &str = "table <gw> { 10.78.1.2, 10.78.2.2 }\n\
                            router \"uplinks\" {\n route 198.51.100.0/24\n \
                            forward to <gw> check icmp\n}\n";

#[test]
fn a_route_appears_with_both_gateways_loses_one_and_gets_it_back() {
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let plan = plan(TWO_GATEWAYS);
    let h = hosts(&plan);
    let mut installer = open_installer(&lab);
    assert!(installer.installed().is_empty());

    assert_eq!(apply(&mut installer, &with_up(&plan, &h)), 1);
    let both = ["198.51.100.0/24 table main metric 0 via 10.78.1.2,10.78.2.2"];
    assert_eq!(lab.routes("-4", RELAYD_PROTOCOL), both);

    assert_eq!(apply(&mut installer, &with_up(&plan, &h[1..])), 1);
    assert_eq!(
        lab.routes("-4", RELAYD_PROTOCOL),
        ["198.51.100.0/24 table main metric 0 via 10.78.2.2"]
    );

    assert_eq!(apply(&mut installer, &with_up(&plan, &h)), 1);
    assert_eq!(lab.routes("-4", RELAYD_PROTOCOL), both);
    assert_eq!(apply(&mut installer, &with_up(&plan, &h)), 0, "idempotent");

    assert_eq!(apply(&mut installer, &with_up(&plan, &[])), 1);
    assert_eq!(lab.routes("-4", RELAYD_PROTOCOL), Vec::<String>::new());
}

#[test]
fn the_route_carries_traffic_to_the_gateway_left() {
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let plan = plan(TWO_GATEWAYS);
    let h = hosts(&plan);
    let mut installer = open_installer(&lab);
    // Without a route, 198.51.100.0/24 is unreachable from the router.
    assert!(!lab.reaches(1));
    apply(&mut installer, &with_up(&plan, &h[..1]));
    assert!(lab.reaches(1), "through gateway 1");
    apply(&mut installer, &with_up(&plan, &h[1..]));
    assert!(lab.reaches(2), "through gateway 2");
    assert!(
        !lab.reaches(1),
        "gateway 1's address is no longer routed to gateway 1"
    );
}

#[test]
fn routes_of_other_protocols_survive_every_flush() {
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let plan = plan(TWO_GATEWAYS);
    let h = hosts(&plan);
    // The test's own routes: at relayd's destination with another metric,
    // and elsewhere.
    lab.ip_in_router("route add 198.51.100.0/24 via 10.78.1.2 proto static metric 7");
    lab.ip_in_router("route add 203.0.113.0/24 via 10.78.2.2 proto static metric 0");
    let foreign = [
        "198.51.100.0/24 table main metric 7 via 10.78.1.2",
        "203.0.113.0/24 table main metric 0 via 10.78.2.2",
    ];
    let mut installer = open_installer(&lab);
    assert!(
        installer.installed().is_empty(),
        "static routes are not relayd's"
    );
    apply(&mut installer, &with_up(&plan, &h));
    apply(&mut installer, &Desired::default());
    assert_eq!(lab.routes("-4", RELAYD_PROTOCOL), Vec::<String>::new());
    assert_eq!(lab.routes("-4", "static"), foreign);

    // A route of another program at relayd's key: relayd's add is refused
    // and the other route stays as it was.
    lab.ip_in_router("route add 198.51.100.0/24 via 10.78.2.2 proto static");
    let applied = installer.apply(&with_up(&plan, &h));
    assert!(applied.done.is_empty());
    let [refusal] = &applied.failed[..] else {
        panic!("one refusal: {:?}", applied.failed)
    };
    assert!(
        matches!(refusal.error, KernelError::Occupied { .. }),
        "{refusal}"
    );
    assert_eq!(
        refusal.to_string(),
        "router uplinks: add 198.51.100.0/24 table main metric 0 via 10.78.1.2, 10.78.2.2: \
         a route of another program is at this destination and metric; relayd leaves it alone"
    );
    assert_eq!(
        lab.routes("-4", "static"),
        [
            "198.51.100.0/24 table main metric 0 via 10.78.2.2",
            foreign[0],
            foreign[1],
        ]
    );
    assert!(installer.installed().is_empty());
}

#[test]
fn an_ipv6_route_of_another_program_is_never_joined() {
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    // Linux joins IPv6 routes of equal destination and metric into one
    // multipath route unless the add is exclusive.
    lab.ip_in_router("-6 route add 2001:db8:99::/48 via fd78:2::2 proto static");
    let plan = plan(
        "table <gw> { fd78:1::2 }\n\
         router \"six\" {\n route 2001:db8:99::/48\n forward to <gw> check icmp\n}\n",
    );
    let mut installer = open_installer(&lab);
    let applied = installer.apply(&with_up(&plan, &hosts(&plan)));
    assert!(
        matches!(&applied.failed[..], [refusal] if matches!(refusal.error, KernelError::Occupied { .. })),
        "{:?}",
        applied.failed
    );
    assert_eq!(
        lab.routes("-6", "static"),
        ["2001:db8:99::/48 table main metric 1024 via fd78:2::2"]
    );
    assert_eq!(lab.routes("-6", RELAYD_PROTOCOL), Vec::<String>::new());
}

#[test]
fn a_restart_flushes_what_the_configuration_no_longer_wants() {
    let Some(lab) = route_lab_or_skip(3) else {
        return;
    };
    let before = plan(
        "table <gw> { 10.78.1.2, 10.78.2.2, 10.78.3.2 }\n\
         router \"old\" {\n route 198.51.100.0/24\n route 203.0.113.0/24\n \
         forward to <gw> check icmp\n}\n",
    );
    let mut first_run = open_installer(&lab);
    apply(&mut first_run, &with_up(&before, &hosts(&before)));
    drop(first_run); // relayd exits and leaves its routes

    // The new configuration keeps one destination and two gateways; no
    // host has been checked yet.
    let after = plan(TWO_GATEWAYS);
    let mut second_run = open_installer(&lab);
    assert_eq!(second_run.installed().len(), 2, "the earlier run's routes");
    apply(&mut second_run, &after.desired(|_| GatewayState::Unknown));
    assert_eq!(
        lab.routes("-4", RELAYD_PROTOCOL),
        ["198.51.100.0/24 table main metric 0 via 10.78.1.2,10.78.2.2"]
    );
    // The first checks: gateway 1 is down.
    let h = hosts(&after);
    let first_checks = after.desired(|gateway| {
        if gateway.host == h[0] {
            GatewayState::Down
        } else {
            GatewayState::Unknown
        }
    });
    apply(&mut second_run, &first_checks);
    assert_eq!(
        lab.routes("-4", RELAYD_PROTOCOL),
        ["198.51.100.0/24 table main metric 0 via 10.78.2.2"]
    );
}

#[test]
fn rtable_is_a_linux_table_and_priorities_are_metrics() {
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let plan = plan(
        "table <gw> { 10.78.1.2, 10.78.2.2 priority 52 }\n\
         router \"uplinks\" {\n route 0.0.0.0/0\n forward to <gw> check icmp\n rtable 7\n}\n",
    );
    let h = hosts(&plan);
    let main_before = lab
        .router_ip(&["route", "show", "table", "main"])
        .expect("main");
    let mut installer = open_installer(&lab);
    apply(&mut installer, &with_up(&plan, &h));
    assert_eq!(
        lab.routes("-4", RELAYD_PROTOCOL),
        [
            "default table 7 metric 0 via 10.78.1.2",
            "default table 7 metric 52 via 10.78.2.2",
        ]
    );
    assert_eq!(
        lab.router_ip(&["route", "show", "table", "main"])
            .expect("main"),
        main_before,
        "nothing in the main table"
    );
    let listed: Vec<String> = lab.in_router(|| {
        let mut socket = RouteSocket::open().expect("open rtnetlink");
        let in_7 = socket.list(Some(7)).expect("list table 7");
        let in_main = socket
            .list(Some(relayd_route::MAIN_TABLE))
            .expect("list main");
        assert!(in_main.is_empty(), "{in_main:?}");
        in_7.iter().map(Route::to_string).collect()
    });
    assert_eq!(
        listed,
        [
            "0.0.0.0/0 table 7 metric 0 via 10.78.1.2",
            "0.0.0.0/0 table 7 metric 52 via 10.78.2.2",
        ]
    );
    // The preferred gateway goes down: the metric 52 route is left.
    apply(&mut installer, &with_up(&plan, &h[1..]));
    assert_eq!(
        lab.routes("-4", RELAYD_PROTOCOL),
        ["default table 7 metric 52 via 10.78.2.2"]
    );
}

#[test]
fn ipv6_routes_appear_lose_a_gateway_and_get_it_back() {
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let plan = plan(
        "table <gw> { fd78:1::2, fd78:2::2 }\n\
         router \"six\" {\n route 2001:db8:99::/48\n forward to <gw> check icmp\n rtable 6\n}\n",
    );
    let h = hosts(&plan);
    let mut installer = open_installer(&lab);
    let both = ["2001:db8:99::/48 table 6 metric 1024 via fd78:1::2,fd78:2::2"];
    apply(&mut installer, &with_up(&plan, &h));
    assert_eq!(lab.routes("-6", RELAYD_PROTOCOL), both);
    apply(&mut installer, &with_up(&plan, &h[..1]));
    assert_eq!(
        lab.routes("-6", RELAYD_PROTOCOL),
        ["2001:db8:99::/48 table 6 metric 1024 via fd78:1::2"]
    );
    apply(&mut installer, &with_up(&plan, &h));
    assert_eq!(lab.routes("-6", RELAYD_PROTOCOL), both);
    assert_eq!(apply(&mut installer, &with_up(&plan, &h)), 0, "idempotent");
    // What a new socket reads back is what was installed.
    let reread = open_installer(&lab);
    assert_eq!(reread.installed(), installer.installed());
    apply(&mut installer, &Desired::default());
    assert_eq!(lab.routes("-6", RELAYD_PROTOCOL), Vec::<String>::new());
}

#[test]
fn rtlabel_becomes_the_realm_of_each_nexthop() {
    let Some(lab) = route_lab_or_skip(2) else {
        return;
    };
    let plan = plan(&TWO_GATEWAYS.replace("check icmp\n", "check icmp\n rtlabel \"uplink\"\n"));
    let h = hosts(&plan);
    let mut installer = open_installer(&lab);
    apply(&mut installer, &with_up(&plan, &h));
    assert_eq!(
        lab.routes("-4", RELAYD_PROTOCOL),
        ["198.51.100.0/24 table main metric 0 via 10.78.1.2,10.78.2.2 realm 9"]
    );
    apply(&mut installer, &with_up(&plan, &h[..1]));
    assert_eq!(
        lab.routes("-4", RELAYD_PROTOCOL),
        ["198.51.100.0/24 table main metric 0 via 10.78.1.2 realm 9"]
    );
    assert_eq!(apply(&mut installer, &with_up(&plan, &h[..1])), 0);
}

#[test]
fn the_kernels_refusal_comes_back_with_its_reason() {
    let Some(lab) = route_lab_or_skip(1) else {
        return;
    };
    // 10.78.9.2 is on no link of the router.
    let plan = plan(
        "table <gw> { 10.78.9.2 }\n\
         router \"far\" {\n route 198.51.100.0/24\n forward to <gw> check icmp\n}\n",
    );
    let mut installer = open_installer(&lab);
    let applied = installer.apply(&with_up(&plan, &hosts(&plan)));
    let [refusal] = &applied.failed[..] else {
        panic!("one refusal: {:?}", applied.failed)
    };
    let KernelError::Refused { reason, .. } = &refusal.error else {
        panic!("a refusal: {refusal}")
    };
    assert!(reason.is_some(), "the kernel's reason: {refusal}");
    let text = refusal.to_string();
    assert!(
        text.starts_with("router far: add 198.51.100.0/24 table main metric 0 via 10.78.9.2: "),
        "{text}"
    );
    assert!(text.contains("gateway"), "{text}");
    assert!(applied.resync.is_none());
    assert!(installer.installed().is_empty());
}
