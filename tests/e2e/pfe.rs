//! End-to-end: redirections on nftables, across network namespaces the
//! test creates and removes. relayd runs in a "router" namespace with
//! forwarding on; a client namespace and backend namespaces hang off it
//! over veth pairs, with addresses of the test's own (10.77.0.0/16 inside
//! those namespaces only). Backends are small TCP servers on threads moved
//! into their namespaces; each answers its name.
//!
//! Shown here: traffic reaches the backends per the mode, a stopped backend
//! gets no new connections once the hce saw it down, all down -> backup
//! table, `relayctl redirect disable|enable`, statistics from the nftables
//! counter, `nft list table inet relayd` with the rules and maps, a clean
//! table after shutdown, the bytes of redirected connections both ways
//! (forwarded and from the router itself) in `relayd_redirect_bytes_total`, a stale table removed at start, none left by a
//! killed pfe (its parent removes it), and least-states
//! refused; UDP too. relayd.conf(5)'s example redirections, their names
//! translated to the lab's addresses: `relayd -n` accepts them, warning
//! about the IPv6 listen line no host can serve, the "sorry page" one
//! serves HTTP through interface trunk0, and the dns one carries dig's UDP
//! and TCP queries to two unbound servers. Needs root, iproute2 and
//! nf_tables (python3, unbound and dig for the examples).

use e2e::{
    bin, daemon_can_run, dig_with, ip, metric_sample, or_skip, read_text, repo_root, send_signal,
    stdout_text, summary_rows, tools_installed, wait_until, Daemon, Namespace, ScratchDir, Unbound,
    WHO,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Where clients connect (the router's address on the client side).
const ROUTER: &str = "10.77.0.1";
const BACKEND_PORT: u16 = 8080;

// ---------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------

/// `nft list table inet relayd` inside the router: the table, or `None`.
fn relayd_table(router: &Namespace) -> Option<String> {
    router
        .exec(&["nft", "list", "table", "inet", "relayd"])
        .ok()
}

/// A backend host of the lab: a TCP and UDP server on BACKEND_PORT, on a
/// thread inside its namespace, answering its name to every connection and
/// datagram until stopped.
struct LabBackend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LabBackend {
    fn start(ns: &Namespace, name: &str) -> LabBackend {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let name = name.to_string();
        let stopped = Arc::clone(&stop);
        let thread = ns.spawn(move || {
            let listener = TcpListener::bind(("0.0.0.0", BACKEND_PORT)).expect("bind backend");
            listener.set_nonblocking(true).expect("nonblocking");
            let udp = UdpSocket::bind(("0.0.0.0", BACKEND_PORT)).expect("bind udp backend");
            udp.set_nonblocking(true).expect("nonblocking");
            let _ = ready_tx.send(());
            let mut datagram = [0u8; 512];
            while !stopped.load(Ordering::Relaxed) {
                let mut idle = true;
                if let Ok((mut stream, _)) = listener.accept() {
                    idle = false;
                    let _ = stream.set_nonblocking(false);
                    // Health checks hang up at once: a failed write is fine.
                    let _ = stream.write_all(format!("{name}\n").as_bytes());
                }
                if let Ok((_, from)) = udp.recv_from(&mut datagram) {
                    idle = false;
                    let _ = udp.send_to(name.as_bytes(), from);
                }
                if idle {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("backend ready");
        LabBackend {
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket: new connections are refused.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LabBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The namespaces of one test: router, client, backends 1..=n with
/// addresses 10.77.I.2 (router side 10.77.I.1). Removed on drop.
struct Lab {
    router: Namespace,
    client: Namespace,
    backends: Vec<Namespace>,
}

impl Lab {
    /// Builds the lab, or says why it cannot be built here (`Err`).
    fn new(backends: u8) -> Result<Lab, String> {
        let lab = Lab {
            router: Namespace::create("router")?,
            client: Namespace::create("client")?,
            backends: (1..=backends)
                .map(|i| Namespace::create(&format!("b{i}")))
                .collect::<Result<_, _>>()?,
        };
        lab.router
            .exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .map_err(|e| format!("cannot turn forwarding on in the router namespace: {e}"))?;
        lab.link(0, &lab.client)?;
        for (i, backend) in (1..).zip(&lab.backends) {
            lab.link(i, backend)?;
        }
        // nf_tables must work in the router namespace.
        lab.router
            .exec(&["nft", "add", "table", "inet", "relayd_probe"])
            .map_err(|e| format!("nftables unusable: {e}"))?;
        let _ = lab
            .router
            .exec(&["nft", "delete", "table", "inet", "relayd_probe"]);
        Ok(lab)
    }

    /// A veth pair router <-> `ns`, subnet 10.77.`i`.0/24, default route
    /// of `ns` via the router.
    fn link(&self, i: u8, ns: &Namespace) -> Result<(), String> {
        let router_end = format!("r{i}");
        let router_addr = format!("10.77.{i}.1/24");
        let peer_addr = format!("10.77.{i}.2/24");
        let gateway = format!("10.77.{i}.1");
        let (r, ns) = (self.router.name.as_str(), ns.name.as_str());
        ip(&[
            "-n",
            r,
            "link",
            "add",
            &router_end,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        ])?;
        ip(&["-n", r, "addr", "add", &router_addr, "dev", &router_end])?;
        ip(&["-n", r, "link", "set", &router_end, "up"])?;
        ip(&["-n", ns, "addr", "add", &peer_addr, "dev", "eth0"])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "route", "add", "default", "via", &gateway])
    }

    /// The namespace of backend host `i` (1..=n).
    fn backend(&self, i: usize) -> &Namespace {
        &self.backends[i - 1]
    }

    /// relayd -d inside the router namespace.
    fn start_relayd(&self, label: &str, config: &str) -> Daemon {
        Daemon::start_in(&self.router, label, config)
    }

    /// `n` connections from the client to ROUTER:`port`: what each read.
    fn connect(&self, port: u16, n: usize) -> Vec<Result<String, String>> {
        let addr: SocketAddr = format!("{ROUTER}:{port}").parse().unwrap();
        self.client.run(move || {
            (0..n)
                .map(|_| {
                    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                        .map_err(|e| e.to_string())?;
                    stream
                        .set_read_timeout(Some(Duration::from_secs(2)))
                        .map_err(|e| e.to_string())?;
                    let mut answer = String::new();
                    stream
                        .read_to_string(&mut answer)
                        .map_err(|e| e.to_string())?;
                    Ok(answer.trim().to_string())
                })
                .collect()
        })
    }

    /// One datagram from the client to ROUTER:`port` (from a new source
    /// port each time): the answer.
    fn ask_udp(&self, port: u16) -> Result<String, String> {
        let addr: SocketAddr = format!("{ROUTER}:{port}").parse().unwrap();
        self.client.run(move || {
            let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .map_err(|e| e.to_string())?;
            socket.send_to(b"who?", addr).map_err(|e| e.to_string())?;
            let mut answer = [0u8; 64];
            let (n, _) = socket.recv_from(&mut answer).map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&answer[..n]).into_owned())
        })
    }

    /// Names answered by `n` connections; panics on a failed connection.
    fn names(&self, port: u16, n: usize) -> Vec<String> {
        self.connect(port, n)
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("connection to {ROUTER}:{port}: {e}")))
            .collect()
    }
}

/// The lab, or `None` after skipping (or failing) for what is missing.
fn lab_or_skip(backends: u8) -> Option<Lab> {
    if !daemon_can_run() || !tools_installed(&["ip", "nft", "sysctl"]) {
        return None;
    }
    or_skip(Lab::new(backends))
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

/// The status column of the redirect in `relayctl show redirects`.
fn redirect_status(daemon: &Daemon, name: &str) -> String {
    let text = stdout_text(&daemon.relayctl(&["show", "redirects"]));
    summary_rows(&text)
        .into_iter()
        .find(|r| r.kind == "redirect" && r.name == name)
        .map(|r| r.status)
        .unwrap_or_default()
}

fn wait_for_status(daemon: &Daemon, name: &str, status: &str) {
    let reached = wait_until(Duration::from_secs(15), || {
        redirect_status(daemon, name) == status
    });
    assert!(
        reached,
        "redirect {name} never became {status:?} (is {:?}); log:\n{}",
        redirect_status(daemon, name),
        daemon.log_text()
    );
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

fn failover_config() -> String {
    format!(
        "interval 1\n\
         table <web> {{ 10.77.1.2 10.77.2.2 }}\n\
         table <spare> {{ 10.77.3.2 }}\n\
         redirect www {{\n\
         \tlisten on {ROUTER} tcp port 80\n\
         \tforward to <web> port {BACKEND_PORT} mode roundrobin check tcp\n\
         \tforward to <spare> port {BACKEND_PORT} mode roundrobin check tcp\n\
         \tpftag web\n\
         }}\n"
    )
}

#[test]
fn redirect_follows_hosts_falls_back_to_backup_and_cleans_up() {
    let Some(lab) = lab_or_skip(3) else {
        return;
    };
    let mut b1 = LabBackend::start(lab.backend(1), "b1");
    let mut b2 = LabBackend::start(lab.backend(2), "b2");
    let _b3 = LabBackend::start(lab.backend(3), "b3");
    let mut daemon = lab.start_relayd("pfe-failover", &failover_config());
    wait_for_status(&daemon, "www", "active");

    // The rules and the map the redirect implies.
    let table = relayd_table(&lab.router).expect("table inet relayd exists");
    eprintln!(
        "nft list table inet relayd, in {}:\n{table}",
        lab.router.name
    );
    for part in [
        "ip daddr 10.77.0.1 tcp dport 80 counter name \"rdr_1\"",
        "dnat ip to numgen inc mod 2 map @rdr_1_v4:8080",
        "elements = { 0 : 10.77.1.2, 1 : 10.77.2.2 }",
        "comment \"redirect www tag web\"",
        "ct timeout set \"rdr_1_tcp\"",
    ] {
        assert!(table.contains(part), "missing {part:?} in\n{table}");
    }

    // Round robin: strictly alternating.
    let names = lab.names(80, 10);
    assert_eq!(count(&names, "b1"), 5, "{names:?}");
    assert_eq!(count(&names, "b2"), 5, "{names:?}");

    // b1 stops: once the hce saw it (one interval), nothing goes there.
    b1.stop();
    let gone = wait_until(Duration::from_secs(10), || {
        relayd_table(&lab.router).is_some_and(|t| !t.contains("10.77.1.2"))
    });
    assert!(gone, "b1 still in the map; log:\n{}", daemon.log_text());
    let names = lab.names(80, 6);
    assert_eq!(count(&names, "b2"), 6, "{names:?}");

    // Both down: the backup table takes over.
    b2.stop();
    wait_for_status(&daemon, "www", "active (using backup table)");
    let names = lab.names(80, 4);
    assert_eq!(count(&names, "b3"), 4, "{names:?}");

    // Disabled: no rules, connections reach the router itself and fail.
    let out = daemon.relayctl(&["redirect", "disable", "www"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_status(&daemon, "www", "disabled");
    // (The byte counters' rules, `ct status dnat ...`, stay.)
    let flushed = wait_until(Duration::from_secs(5), || {
        relayd_table(&lab.router).is_some_and(|t| !t.contains(" dnat ip to "))
    });
    assert!(flushed, "{:?}", relayd_table(&lab.router));
    assert!(lab.connect(80, 1)[0].is_err());
    let out = daemon.relayctl(&["redirect", "enable", "www"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_status(&daemon, "www", "active (using backup table)");
    assert_eq!(lab.names(80, 2), ["b3", "b3"]);

    // Statistics: the counter saw every redirected connection (22 so far).
    let counted = wait_until(Duration::from_secs(5), || {
        let text = stdout_text(&daemon.relayctl(&["show", "redirects"]));
        text.contains("total: 22 sessions")
    });
    assert!(
        counted,
        "{}",
        stdout_text(&daemon.relayctl(&["show", "redirects"]))
    );

    // Shutdown deletes the table.
    send_signal(daemon.pid, "TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(relayd_table(&lab.router), None);
}

#[test]
fn source_hash_keeps_a_client_on_one_host_and_random_spreads() {
    let Some(lab) = lab_or_skip(2) else {
        return;
    };
    let _b1 = LabBackend::start(lab.backend(1), "b1");
    let _b2 = LabBackend::start(lab.backend(2), "b2");
    let hashed = format!(
        "interval 1\n\
         table <hashed> {{ 10.77.1.2 10.77.2.2 }}\n\
         redirect hashed {{\n\
         \tlisten on {ROUTER} port 81\n\
         \tforward to <hashed> port {BACKEND_PORT} mode source-hash check tcp\n\
         }}\n"
    );
    let daemon = lab.start_relayd("pfe-modes", &hashed);
    wait_for_status(&daemon, "hashed", "active");
    assert!(!relayd_table(&lab.router).unwrap().contains("rdr_2"));
    // A reload rebuilds the table for the new configuration.
    let both = format!(
        "{hashed}\
         table <spread> {{ 10.77.1.2 10.77.2.2 }}\n\
         redirect spread {{\n\
         \tlisten on {ROUTER} port 82\n\
         \tforward to <spread> port {BACKEND_PORT} mode random check tcp\n\
         }}\n"
    );
    daemon.rewrite_config(&both);
    let out = daemon.relayctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_status(&daemon, "hashed", "active");
    wait_for_status(&daemon, "spread", "active");
    let both_up = wait_until(Duration::from_secs(10), || {
        relayd_table(&lab.router).is_some_and(|t| t.matches("mod 2").count() >= 4)
    });
    assert!(both_up, "{:?}", relayd_table(&lab.router));
    let table = relayd_table(&lab.router).unwrap();
    assert!(table.contains("jhash ip saddr mod 2 seed"), "{table}");
    assert!(table.contains("numgen random mod 2"), "{table}");

    let hashed = lab.names(81, 10);
    assert!(
        hashed.iter().all(|n| n == &hashed[0]),
        "one client, one host: {hashed:?}"
    );
    // 2^-29 odds of a false failure.
    let spread = lab.names(82, 30);
    assert!(
        count(&spread, "b1") > 0 && count(&spread, "b2") > 0,
        "{spread:?}"
    );
}

#[test]
fn a_stale_table_is_replaced_at_start_and_a_killed_pfe_leaves_none() {
    let Some(lab) = lab_or_skip(1) else {
        return;
    };
    let _b1 = LabBackend::start(lab.backend(1), "b1");
    let config = format!(
        "interval 1\n\
         table <one> {{ 10.77.1.2 }}\n\
         redirect one {{\n\
         \tlisten on {ROUTER} port 80\n\
         \tforward to <one> port {BACKEND_PORT} check tcp\n\
         }}\n"
    );
    // A table as a crashed relayd would leave it, with a rule of its own.
    let stale = "add table inet relayd\n\
                 add chain inet relayd prerouting { type nat hook prerouting priority -100; }\n\
                 add rule inet relayd prerouting tcp dport 9999 dnat ip to 10.77.1.99\n";
    let dir = ScratchDir::new("pfe-stale-rules");
    let rules = dir.write("stale.nft", stale);
    lab.router
        .exec(&["nft", "-f", &rules.to_string_lossy()])
        .expect("load the stale table");

    let mut daemon = lab.start_relayd("pfe-stale", &config);
    wait_for_status(&daemon, "one", "active");
    let table = relayd_table(&lab.router).unwrap();
    assert!(!table.contains("10.77.1.99"), "{table}");
    assert!(table.contains("map @rdr_1_v4"), "{table}");
    assert!(daemon.log_text().contains("removed stale table"));
    assert_eq!(lab.names(80, 1), ["b1"]);

    // The pfe killed outright: relayd goes down (a lost child) and its
    // parent removes the table the pfe could not...
    let pfe = daemon.child_titled("relayd: pfe");
    send_signal(pfe, "KILL");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(1));
    assert_eq!(relayd_table(&lab.router), None, "{}", daemon.log_text());
    assert!(
        daemon
            .log_text()
            .contains("removed table inet relayd a lost child left behind"),
        "{}",
        daemon.log_text()
    );
    // ... and the next relayd starts as usual.
    let mut again = lab.start_relayd("pfe-stale-again", &config);
    wait_for_status(&again, "one", "active");
    assert_eq!(lab.names(80, 1), ["b1"]);
    send_signal(again.pid, "TERM");
    assert_eq!(again.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(relayd_table(&lab.router), None);
}

#[test]
fn udp_redirects_reach_the_backend_on_the_table_port() {
    let Some(lab) = lab_or_skip(1) else {
        return;
    };
    let _b1 = LabBackend::start(lab.backend(1), "b1");
    let config = format!(
        "interval 1\n\
         table <dns> {{ 10.77.1.2 }}\n\
         redirect dns {{\n\
         \tlisten on {ROUTER} udp port 53\n\
         \tforward to <dns> port {BACKEND_PORT} check tcp\n\
         \tsession timeout 30\n\
         }}\n"
    );
    let daemon = lab.start_relayd("pfe-udp", &config);
    wait_for_status(&daemon, "dns", "active");
    let table = relayd_table(&lab.router).unwrap();
    assert!(
        table.contains("ip daddr 10.77.0.1 udp dport 53 counter name \"rdr_1\""),
        "{table}"
    );
    // UDP gets no conntrack timeout object (relayd sets TCP's only).
    assert!(!table.contains("rdr_1_tcp"), "{table}");
    for _ in 0..3 {
        assert_eq!(lab.ask_udp(53).as_deref(), Ok("b1"));
    }
}

/// A backend for byte counts: on `port` in `ns`, each connection
/// is read to its end, then `reply` bytes are sent back; each thread
/// ends with the number of bytes it read. Health checks (a connect and a
/// reset) are connections too: their count is 0.
fn byte_sink(
    ns: &Namespace,
    port: u16,
    connections: usize,
    reply: usize,
) -> JoinHandle<Vec<usize>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let sink = ns.spawn(move || {
        let listener = TcpListener::bind(("0.0.0.0", port)).expect("bind byte sink");
        let _ = ready_tx.send(());
        let mut read = Vec::new();
        // Bounded: the test makes `connections` transfers, the checks a
        // few more; a sink that saw enough non-empty ones stops.
        while read.iter().filter(|n| **n > 0).count() < connections && read.len() < 200 {
            let Ok((mut stream, _)) = listener.accept() else {
                break;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut total = 0;
            let mut buffer = [0u8; 16384];
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            if total > 0 {
                let _ = stream.write_all(&vec![b'r'; reply]);
            }
            read.push(total);
        }
        read
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("byte sink ready");
    sink
}

/// Sends `bytes` to `addr`, closes its side, reads the answer to its end:
/// how many bytes came back.
fn transfer(addr: SocketAddr, bytes: usize) -> Result<usize, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&vec![b's'; bytes])
        .map_err(|e| e.to_string())?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    Ok(answer.len())
}

/// `relayd_redirect_bytes_total` of redirect `name` in one direction.
fn redirect_bytes(daemon: &Daemon, name: &str, direction: &str) -> Option<u64> {
    let text = stdout_text(&daemon.relayctl(&["show", "metrics"]));
    metric_sample(
        &text,
        &format!("relayd_redirect_bytes_total{{redirect=\"{name}\",direction=\"{direction}\"}}"),
    )
}

/// The nat chain sees a connection's first packet only; the byte
/// counters see every packet of a redirected flow in both directions,
/// whether the client is behind the router (forwarded) or the router
/// itself (its output): what went through is counted, at least its
/// payload, and a flow to the backend that was not redirected is not.
#[test]
fn a_redirect_counts_the_bytes_of_its_flows_both_ways() {
    let Some(lab) = lab_or_skip(1) else {
        return;
    };
    const SENT: usize = 300_000;
    const REPLY: usize = 100_000;
    let sink = byte_sink(lab.backend(1), BACKEND_PORT, 2, REPLY);
    let config = format!(
        "interval 1\n\
         table <web> {{ 10.77.1.2 }}\n\
         redirect www {{\n\
         \tlisten on {ROUTER} tcp port 80\n\
         \tforward to <web> port {BACKEND_PORT} check tcp\n\
         }}\n"
    );
    let daemon = lab.start_relayd("pfe-bytes", &config);
    wait_for_status(&daemon, "www", "active");
    let table = relayd_table(&lab.router).expect("table inet relayd");
    assert!(
        table.contains("ct direction reply counter name \"rdr_1_bytes_out\""),
        "{table}"
    );
    // Reported (as 0: only the checks talked to the backend so far).
    assert!(
        wait_until(Duration::from_secs(10), || redirect_bytes(
            &daemon, "www", "in"
        ) == Some(0)),
        "{:?}",
        redirect_bytes(&daemon, "www", "in")
    );

    // From the client namespace, forwarded by the router.
    let addr: SocketAddr = format!("{ROUTER}:80").parse().unwrap();
    let back = lab.client.run(move || transfer(addr, SENT));
    assert_eq!(back, Ok(REPLY));
    let counted = |direction: &str, at_least: usize| {
        wait_until(Duration::from_secs(10), || {
            redirect_bytes(&daemon, "www", direction).is_some_and(|b| b >= at_least as u64)
        })
    };
    assert!(
        counted("in", SENT) && counted("out", REPLY),
        "in {:?}, out {:?}\n{}",
        redirect_bytes(&daemon, "www", "in"),
        redirect_bytes(&daemon, "www", "out"),
        relayd_table(&lab.router).unwrap_or_default()
    );
    let first_in = redirect_bytes(&daemon, "www", "in").unwrap_or(0);
    let first_out = redirect_bytes(&daemon, "www", "out").unwrap_or(0);
    // Payload plus headers, not twice the payload: each packet once.
    assert!(first_in < 2 * SENT as u64, "{first_in}");
    assert!(
        first_out < 2 * REPLY as u64 + SENT as u64 / 10,
        "{first_out}"
    );

    // From the router itself: DNAT'ed in its output hook.
    let back = lab.router.run(move || transfer(addr, SENT));
    assert_eq!(back, Ok(REPLY));
    assert!(
        counted("in", first_in as usize + SENT) && counted("out", first_out as usize + REPLY),
        "in {:?}, out {:?}",
        redirect_bytes(&daemon, "www", "in"),
        redirect_bytes(&daemon, "www", "out")
    );
    let reads = sink.join().expect("byte sink");
    assert_eq!(
        reads
            .iter()
            .filter(|n| **n > 0)
            .copied()
            .collect::<Vec<_>>(),
        vec![SENT, SENT],
        "{reads:?}"
    );
    eprintln!(
        "pfe: {SENT} + {SENT} bytes sent, {REPLY} + {REPLY} back: counted in {:?}, out {:?}",
        redirect_bytes(&daemon, "www", "in"),
        redirect_bytes(&daemon, "www", "out")
    );
}

/// A redirect to a host that is the router itself: a client's packets go
/// up the router's stack and its answers out of it, and the router's own
/// connection loops over `lo`, passing the output and the prerouting
/// hook, where it is counted once.
#[test]
fn a_redirect_to_the_router_itself_counts_each_packet_once() {
    let Some(lab) = lab_or_skip(0) else {
        return;
    };
    const SENT: usize = 300_000;
    const REPLY: usize = 100_000;
    let local_port = BACKEND_PORT + 1;
    let sink = byte_sink(&lab.router, local_port, 2, REPLY);
    let config = format!(
        "interval 1\n\
         table <here> {{ {ROUTER} }}\n\
         redirect here {{\n\
         \tlisten on {ROUTER} tcp port 81\n\
         \tforward to <here> port {local_port} check tcp\n\
         }}\n"
    );
    let daemon = lab.start_relayd("pfe-bytes-local", &config);
    wait_for_status(&daemon, "here", "active");
    assert!(
        wait_until(Duration::from_secs(10), || redirect_bytes(
            &daemon, "here", "in"
        ) == Some(0)),
        "{:?}",
        redirect_bytes(&daemon, "here", "in")
    );
    let addr: SocketAddr = format!("{ROUTER}:81").parse().unwrap();
    assert_eq!(lab.client.run(move || transfer(addr, SENT)), Ok(REPLY));
    assert_eq!(lab.router.run(move || transfer(addr, SENT)), Ok(REPLY));
    let reached = wait_until(Duration::from_secs(10), || {
        redirect_bytes(&daemon, "here", "in").is_some_and(|b| b >= 2 * SENT as u64)
            && redirect_bytes(&daemon, "here", "out").is_some_and(|b| b >= 2 * REPLY as u64)
    });
    let (inbound, outbound) = (
        redirect_bytes(&daemon, "here", "in").unwrap_or(0),
        redirect_bytes(&daemon, "here", "out").unwrap_or(0),
    );
    assert!(
        reached,
        "in {inbound}, out {outbound}\n{}",
        relayd_table(&lab.router).unwrap_or_default()
    );
    // Counted twice, the looped connection would make these 1.5 times
    // the payload or more.
    assert!(inbound * 4 < 2 * SENT as u64 * 5, "in {inbound}");
    assert!(
        outbound * 4 < 2 * REPLY as u64 * 5 + SENT as u64 / 2,
        "out {outbound}"
    );
    let reads = sink.join().expect("byte sink");
    assert_eq!(reads.iter().filter(|n| **n > 0).count(), 2, "{reads:?}");
    eprintln!("pfe: to the router itself, 2 x {SENT} sent, 2 x {REPLY} back: in {inbound}, out {outbound}");
}

#[test]
fn modes_nftables_cannot_express_are_refused_at_load() {
    let dir = ScratchDir::new("pfe-refused");
    let config = dir.join("relayd.conf");
    std::fs::write(
        &config,
        "table <web> { 10.77.1.2 }\n\
         redirect www {\n\
         \tlisten on 10.77.0.1 port 80\n\
         \tforward to <web> port 8080 mode least-states check tcp\n\
         }\n",
    )
    .unwrap();
    let out = Command::new(bin("relayd"))
        .arg("-n")
        .arg("-f")
        .arg(&config)
        .output()
        .expect("relayd -n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("redirection www: mode least-states is not supported on Linux"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------
// relayd.conf(5) EXAMPLES, their names translated to the lab's addresses
// ---------------------------------------------------------------------------

/// The IPv6 address `www6.example.com` becomes; no table has an IPv6 host.
const WWW6: &str = "fd00:77::1";

/// An example of relayd.conf(5) (a file of crates/relayd-config's tests)
/// with each name of `names` replaced by its address.
fn manual_example(file: &str, names: &[(&str, &str)]) -> String {
    let path = repo_root()
        .join("crates/relayd-config/tests/configs")
        .join(file);
    names.iter().fold(read_text(&path), |text, (name, addr)| {
        text.replace(name, addr)
    })
}

/// The "sorry page" example: www1-2 are lab backends, www3-4 and the
/// sorry host hosts that never answer, and the page's digest the SHA-1 of
/// `page` (the manual's digest is a placeholder).
fn sorry_page_example(page: &str) -> String {
    let digest = sha1_hex(page);
    manual_example(
        "man-sorry-page.conf",
        &[
            ("front-www1.private.example.com", "10.77.1.2"),
            ("front-www2.private.example.com", "10.77.2.2"),
            ("front-www3.private.example.com", "10.77.3.2"),
            ("front-www4.private.example.com", "10.77.4.2"),
            ("sorryhost.private.example.com", "10.77.5.2"),
            ("www6.example.com", WWW6),
            ("www.example.com", ROUTER),
            ("630aa3c2f7d1f0c5e9a1b2c3d4e5f60718293a4b", &digest),
        ],
    )
}

fn dns_example() -> String {
    manual_example(
        "man-dns.conf",
        &[
            ("dns.example.com", ROUTER),
            ("10.0.53.1", "10.77.1.2"),
            ("10.0.53.2", "10.77.2.2"),
        ],
    )
}

fn sha1_hex(text: &str) -> String {
    let dir = ScratchDir::new("sha1");
    let path = dir.write("page", text);
    let out = Command::new("sha1sum")
        .arg(&path)
        .output()
        .expect("sha1sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The line of the example's `listen on www6.example.com`.
fn www6_line() -> usize {
    let text = manual_example("man-sorry-page.conf", &[]);
    1 + text
        .lines()
        .position(|l| l.contains("listen on www6.example.com"))
        .expect("the example listens on www6")
}

#[test]
fn the_manual_example_redirections_pass_relayd_n_with_a_warning_per_listen_line() {
    let dir = ScratchDir::new("pfe-examples");
    for (name, text) in [
        ("sorry-page.conf", sorry_page_example("page\n")),
        ("dns.conf", dns_example()),
    ] {
        let path = dir.write(name, &text);
        let out = Command::new(bin("relayd"))
            .arg("-nf")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(stderr.contains("configuration OK"), "{name}: {stderr}");
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("redirects")).collect();
        if name == "dns.conf" {
            assert!(warnings.is_empty(), "{stderr}");
        } else {
            let place = format!(
                "{}:{}: redirection www: listen on {WWW6}: ",
                path.display(),
                www6_line()
            );
            assert_eq!(warnings.len(), 1, "{stderr}");
            assert!(warnings[0].starts_with(&place), "{stderr}");
            assert!(
                warnings[0].contains("no IPv6 host in <phphosts> or <sorryhost>"),
                "{stderr}"
            );
        }
    }
}

/// `python3 -m http.server` on ADDR:BACKEND_PORT inside a namespace,
/// serving `page` as `/`; killed on drop.
struct PageServer {
    child: std::process::Child,
    _dir: ScratchDir,
}

impl PageServer {
    fn start(ns: &Namespace, addr: &str, page: &str) -> PageServer {
        let dir = ScratchDir::new("page");
        dir.write("index.html", page);
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-m", "http.server"])
            .args([&BACKEND_PORT.to_string(), "--bind", addr, "--directory"])
            .arg(dir.join(""))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let target: SocketAddr = format!("{addr}:{BACKEND_PORT}").parse().unwrap();
        let up = wait_until(Duration::from_secs(10), || {
            ns.run(move || TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok())
        });
        assert!(up, "http.server on {target} did not start");
        PageServer { child, _dir: dir }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_manual_sorry_page_redirection_starts_and_its_ipv6_listen_is_warned_about() {
    if !tools_installed(&["python3", "sha1sum"]) {
        return;
    }
    let Some(lab) = lab_or_skip(2) else {
        return;
    };
    // The example listens on interface trunk0: the client's side is that.
    let r = lab.router.name.as_str();
    for step in [
        &["link", "set", "r0", "down"][..],
        &["link", "set", "r0", "name", "trunk0"],
        &["link", "set", "trunk0", "up"],
    ] {
        assert_eq!(ip(&[&["-n", r][..], step].concat()), Ok(()), "{step:?}");
    }
    let page = "no apologies needed\n";
    let _b1 = PageServer::start(lab.backend(1), "10.77.1.2", page);
    let _b2 = PageServer::start(lab.backend(2), "10.77.2.2", page);
    let daemon = lab.start_relayd("pfe-sorry-page", &sorry_page_example(page));
    wait_for_status(&daemon, "www", "active");
    let log = daemon.log_text();
    assert!(
        log.contains(&format!(
            "listen on {WWW6}: no IPv6 host in <phphosts> or <sorryhost>"
        )),
        "{log}"
    );
    // "active" can reach relayctl before the pfe's transaction with the
    // hosts that just came up is in the kernel.
    let rule = format!("iifname \"trunk0\" ip daddr {ROUTER} tcp dport 8080");
    let ruled = wait_until(Duration::from_secs(10), || {
        relayd_table(&lab.router).is_some_and(|table| table.contains(&rule))
    });
    let table = relayd_table(&lab.router).unwrap();
    assert!(ruled, "{table}");
    // No DNAT rule; its byte counters' rules (`ct original ip6 daddr`)
    // are there and count nothing.
    assert!(
        !table.contains(&format!("ip6 daddr {WWW6} tcp dport")),
        "the IPv6 listen got a rule:\n{table}"
    );
    let addr: SocketAddr = format!("{ROUTER}:8080").parse().unwrap();
    let answers: Vec<String> = lab.client.run(move || {
        (0..4)
            .map(|_| {
                let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                    .expect("connect through the redirection");
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                answer
            })
            .collect()
    });
    for answer in answers {
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
        assert!(answer.ends_with(page), "{answer}");
    }
}

#[test]
fn the_manual_dns_redirection_carries_udp_and_tcp_to_unbound() {
    if !tools_installed(&["unbound", "dig"]) {
        return;
    }
    let Some(lab) = lab_or_skip(2) else {
        return;
    };
    let Some(_one) = or_skip(Unbound::start(lab.backend(1), "10.77.1.2", 53, "one")) else {
        return;
    };
    let Some(_two) = or_skip(Unbound::start(lab.backend(2), "10.77.2.2", 53, "two")) else {
        return;
    };
    let daemon = lab.start_relayd("pfe-dns", &dns_example());
    wait_for_status(&daemon, "dns", "active");
    for transport in [&[][..], &["+tcp"]] {
        let names: Vec<String> = (0..4)
            .map(|_| {
                let answer = dig_with(&lab.client, ROUTER, 53, WHO, 77, transport)
                    .unwrap_or_else(|e| panic!("{transport:?}: {e}\n{}", daemon.log_text()));
                answer.txt.join(" ")
            })
            .collect();
        assert_eq!(count(&names, "one") + count(&names, "two"), 4, "{names:?}");
        assert!(
            count(&names, "one") > 0 && count(&names, "two") > 0,
            "round robin: {names:?}"
        );
    }
}
