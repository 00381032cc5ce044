//! Network namespaces for the kernel tests: a router namespace (where the
//! routes go) joined over veth pairs to gateway namespaces 1..=n. Router
//! side 10.78.I.1/24 and fd78:I::1/64, gateway I at 10.78.I.2 and
//! fd78:I::2, each with 198.51.100.I/32 and 2001:db8:99::I/128 on its
//! loopback and its default routes back through the router. Addresses
//! exist inside these namespaces only. Everything is removed on drop.
//!
//! The tests need root and iproute2. Without them they print why and pass,
//! unless `RELAYD_E2E_REQUIRED=1` (the suite's switch) makes that a
//! failure.

use std::os::fd::AsFd;
use std::process::{Command, Output, Stdio};

pub struct Lab {
    pub router: String,
    pub gateways: Vec<String>,
}

fn run(program: &str, args: &[&str]) -> Result<Output, String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))
}

/// Runs `ip ARGS`; its stdout, or why it failed.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let out = run("ip", args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The lab for `test`, or `None` after saying why it cannot be built
/// here; with `RELAYD_E2E_REQUIRED=1` that is a failure instead.
pub fn lab_or_skip(test: &str, gateways: u8) -> Option<Lab> {
    let built = if nix::unistd::geteuid().is_root() {
        Lab::new(test, gateways)
    } else {
        Err("not running as root".to_string())
    };
    match built {
        Ok(lab) => Some(lab),
        Err(why) if std::env::var("RELAYD_E2E_REQUIRED").as_deref() == Ok("1") => {
            panic!("{test}: {why} (RELAYD_E2E_REQUIRED=1)")
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

impl Lab {
    fn new(test: &str, gateways: u8) -> Result<Lab, String> {
        let pid = std::process::id();
        let tag: String = test
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect();
        let name = |role: &str| format!("rdrt{role}-{tag}-{pid}");
        let mut lab = Lab {
            router: name("r"),
            gateways: Vec::new(),
        };
        ip(&["netns", "add", &lab.router])?;
        ip(&["-n", &lab.router, "link", "set", "lo", "up"])?;
        for i in 1..=gateways {
            let ns = name(&format!("g{i}"));
            ip(&["netns", "add", &ns])?;
            lab.gateways.push(ns.clone());
            lab.link(i, &ns)?;
        }
        Ok(lab)
    }

    fn link(&self, i: u8, ns: &str) -> Result<(), String> {
        let r = &self.router;
        for command in [
            format!("-n {r} link add g{i} type veth peer name eth0 netns {ns}"),
            format!("-n {r} addr add 10.78.{i}.1/24 dev g{i}"),
            format!("-n {r} addr add fd78:{i}::1/64 dev g{i} nodad"),
            format!("-n {r} link set g{i} up"),
            format!("-n {ns} addr add 10.78.{i}.2/24 dev eth0"),
            format!("-n {ns} addr add fd78:{i}::2/64 dev eth0 nodad"),
            format!("-n {ns} link set eth0 up"),
            format!("-n {ns} link set lo up"),
            format!("-n {ns} addr add 198.51.100.{i}/32 dev lo"),
            format!("-n {ns} addr add 2001:db8:99::{i}/128 dev lo"),
            format!("-n {ns} route add default via 10.78.{i}.1"),
            format!("-n {ns} -6 route add default via fd78:{i}::1"),
        ] {
            ip(&command.split_whitespace().collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Runs `body` on a thread that moved into the router namespace (a
    /// socket it opens belongs there for good).
    pub fn in_router<T: Send + 'static>(&self, body: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.router);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            body()
        })
        .join()
        .expect("thread in the router namespace")
    }

    /// `ip ARGS` in the router namespace.
    pub fn router_ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", self.router.as_str()];
        all.extend_from_slice(args);
        ip(&all)
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

    /// Whether one ping from the router reaches `address`.
    pub fn ping(&self, address: &str) -> bool {
        let mut args = vec![
            "netns",
            "exec",
            self.router.as_str(),
            "ping",
            "-c",
            "1",
            "-W",
            "1",
        ];
        args.push(address);
        run("ip", &args)
            .map(|out| out.status.success())
            .unwrap_or(false)
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

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.gateways.iter().chain(std::iter::once(&self.router)) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}
