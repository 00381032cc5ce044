//! Network namespaces for the routers' tests (relayd-route's kernel tests
//! and the daemon's tests/e2e/routers): a router namespace (where the
//! routes go, and where relayd runs) joined over veth pairs to gateway
//! namespaces 1..=n. Router side 10.78.I.1/24 and fd78:I::1/64, gateway I
//! at 10.78.I.2 and fd78:I::2, answering ping, with 198.51.100.I/32 on its
//! loopback, a TCP listener there, and its default routes back through the
//! router. Addresses exist inside these namespaces only; everything goes
//! on drop.
//!
//! The tests need root and iproute2: without them they skip, or fail under
//! `RELAYD_E2E_REQUIRED=1` (skip_or_fail).

use crate::daemon::Daemon;
use crate::netns::{ip, Namespace};
use crate::process::wait_until;
use crate::require::{running_as_root, skip_or_fail, tools_installed};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// The port each gateway listens on at 198.51.100.I.
const LISTEN_PORT: u16 = 7;

/// relayd's route protocol, as iproute2 takes it without rt_protos.d.
pub const RELAYD_PROTOCOL: &str = "147";

/// How long relayd may take to change a route in the daemon's tests: a
/// check interval of 1 s, one failed check to go down, slack for a loaded
/// machine.
pub const ROUTE_CHANGE: Duration = Duration::from_secs(10);

/// A relayd.conf with one router, `uplinks`, routing `route` through the
/// lab's gateways 1 and 2, checked every second.
pub fn uplinks_config(route: &str) -> String {
    format!(
        "interval 1\nprefork 1\n\
         table <gw> {{ 10.78.1.2, 10.78.2.2 }}\n\
         router \"uplinks\" {{\n\troute {route}\n\tforward to <gw> check icmp\n}}\n"
    )
}

/// The route to `destination` through gateways 1 and 2, as
/// [`RouteLab::routes`] lists it.
pub fn through_both_gateways(destination: &str) -> String {
    format!("{destination} table main metric 0 via 10.78.1.2,10.78.2.2")
}

pub struct RouteLab {
    pub router: Namespace,
    /// Each gateway's namespace, with its listener (kept open: the kernel
    /// completes connections into its queue without an accept).
    gateways: Vec<(Namespace, TcpListener)>,
}

/// The lab with `gateways` gateways, or `None` when it cannot be built
/// here (skipped, or failed under `RELAYD_E2E_REQUIRED=1`).
pub fn route_lab_or_skip(gateways: u8) -> Option<RouteLab> {
    if !running_as_root() || !tools_installed(&["ip", "sysctl"]) {
        return None;
    }
    match RouteLab::new(gateways) {
        Ok(lab) => Some(lab),
        Err(why) => {
            skip_or_fail(&why);
            None
        }
    }
}

impl RouteLab {
    fn new(gateways: u8) -> Result<RouteLab, String> {
        let mut lab = RouteLab {
            router: Namespace::create("route")?,
            gateways: Vec::new(),
        };
        for i in 1..=gateways {
            let ns = Namespace::create(&format!("gw{i}"))?;
            lab.link(i, &ns.name)?;
            let address = SocketAddr::from(([198, 51, 100, i], LISTEN_PORT));
            let listener = ns
                .run(move || TcpListener::bind(address))
                .map_err(|e| format!("listen on {address}: {e}"))?;
            lab.gateways.push((ns, listener));
        }
        Ok(lab)
    }

    fn link(&self, i: u8, ns: &str) -> Result<(), String> {
        let r = &self.router.name;
        for command in [
            format!("-n {r} link add g{i} type veth peer name eth0 netns {ns}"),
            format!("-n {r} addr add 10.78.{i}.1/24 dev g{i}"),
            format!("-n {r} addr add fd78:{i}::1/64 dev g{i} nodad"),
            format!("-n {r} link set g{i} up"),
            format!("-n {ns} addr add 10.78.{i}.2/24 dev eth0"),
            format!("-n {ns} addr add fd78:{i}::2/64 dev eth0 nodad"),
            format!("-n {ns} link set eth0 up"),
            format!("-n {ns} addr add 198.51.100.{i}/32 dev lo"),
            format!("-n {ns} route add default via 10.78.{i}.1"),
            format!("-n {ns} -6 route add default via fd78:{i}::1"),
        ] {
            ip(&command.split_whitespace().collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Makes gateway `i` (from 1) answer ping, or ignore it, so that a
    /// `check icmp` of it succeeds or fails while its link stays up.
    pub fn answer_ping(&self, i: u8, answer: bool) {
        let (gateway, _) = &self.gateways[usize::from(i) - 1];
        let setting = format!("net.ipv4.icmp_echo_ignore_all={}", u8::from(!answer));
        gateway
            .exec(&["sysctl", "-q", "-w", &setting])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs `body` on a thread in the router namespace (a socket it opens
    /// belongs there for good).
    pub fn in_router<T: Send + 'static>(&self, body: impl FnOnce() -> T + Send + 'static) -> T {
        self.router.run(body)
    }

    /// `ip ARGS` in the router namespace: its stdout.
    pub fn router_ip(&self, args: &[&str]) -> Result<String, String> {
        let mut command = vec!["ip"];
        command.extend_from_slice(args);
        self.router.exec(&command)
    }

    /// Runs `ip COMMAND` in the router namespace, its words split at
    /// blanks (`route add 192.0.2.0/24 via 10.78.1.2 proto static`); panics
    /// with ip's error.
    pub fn ip_in_router(&self, command: &str) {
        let words: Vec<&str> = command.split_whitespace().collect();
        if let Err(e) = self.router_ip(&words) {
            panic!("{e}");
        }
    }

    /// The routes of protocol `protocol` in every table of the router, as
    /// iproute2 shows them, one line each:
    /// `DEST table TABLE metric M via GW[,GW...] [realm R]`, sorted.
    pub fn routes(&self, family: &str, protocol: &str) -> Vec<String> {
        let json = self
            .router_ip(&[
                "-j", family, "route", "show", "table", "all", "proto", protocol,
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let routes: serde_json::Value = serde_json::from_str(&json).expect("ip -j json");
        let mut lines: Vec<String> = routes
            .as_array()
            .expect("a list of routes")
            .iter()
            .map(describe)
            .collect();
        lines.sort();
        lines
    }

    /// Waits up to `within` until [`RouteLab::routes`] of `family` and
    /// `protocol` are `expected`; `Err` with the routes last seen.
    pub fn wait_for_routes(
        &self,
        family: &str,
        protocol: &str,
        expected: &[&str],
        within: Duration,
    ) -> Result<(), Vec<String>> {
        let mut seen = Vec::new();
        let reached = wait_until(within, || {
            seen = self.routes(family, protocol);
            seen == expected
        });
        if reached {
            Ok(())
        } else {
            Err(seen)
        }
    }

    /// Waits until relayd's IPv4 routes are `expected`; panics with what
    /// iproute2 showed and `daemon`'s log otherwise.
    pub fn expect_relayd_routes(&self, daemon: &Daemon, expected: &[&str]) {
        if let Err(seen) = self.wait_for_routes("-4", RELAYD_PROTOCOL, expected, ROUTE_CHANGE) {
            panic!(
                "relayd's routes are {seen:?}, not {expected:?}\nrelayd log:\n{}",
                daemon.log_text()
            );
        }
    }

    /// Whether a TCP connection from the router reaches gateway `i`'s
    /// listener at 198.51.100.`i`.
    pub fn reaches(&self, i: u8) -> bool {
        let address = SocketAddr::from(([198, 51, 100, i], LISTEN_PORT));
        self.in_router(move || {
            TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
        })
    }
}

fn describe(route: &serde_json::Value) -> String {
    let text = |field: &str| {
        route
            .get(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let destination = text("dst").unwrap_or_default();
    let table = text("table").unwrap_or_else(|| "main".to_string());
    let metric = route.get("metric").and_then(|m| m.as_u64()).unwrap_or(0);
    let hops: Vec<&serde_json::Value> = match route.get("nexthops").and_then(|n| n.as_array()) {
        Some(hops) => hops.iter().collect(),
        None => vec![route],
    };
    let mut gateways: Vec<String> = hops
        .iter()
        .filter_map(|hop| {
            hop.get("gateway")
                .and_then(|g| g.as_str())
                .map(str::to_string)
        })
        .collect();
    gateways.sort();
    let realm = hops.iter().find_map(|hop| {
        hop.get("flow")
            .and_then(|f| f.get("to"))
            .and_then(|t| t.as_str())
    });
    let mut line = format!(
        "{destination} table {table} metric {metric} via {}",
        gateways.join(",")
    );
    if let Some(realm) = realm {
        line.push_str(&format!(" realm {realm}"));
    }
    line
}
