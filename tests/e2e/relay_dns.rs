//! End-to-end: `dns protocol` relays between dig and unbound, Debian's
//! own client and server, inside a network namespace of the test (so the
//! relay listens on port 53 of that namespace's loopback). Shown here: the
//! client's fixed ID comes back while the backend sees other IDs (counted
//! by nftables on the backend's port), two backends share the queries by
//! mode, a stopped backend is skipped once the hce saw it down, and bad
//! input (junk, answers with an unknown ID or from a host not asked, a
//! flood of queries to a silent backend) is dropped and counted, never
//! answered; `forward to nat lookup` / `destination` sends each query that
//! a DNAT rule brought to the relay where the client sent it (conntrack,
//! asked by the pfe) and drops one that nothing redirected. Needs root,
//! iproute2, nftables, unbound and dig.

use e2e::{
    bin, daemon_can_run, dig, dig_with, expect_state, or_skip, relay_bytes, stdout_text,
    tools_installed, wait_hosts_up, wait_until, Daemon, Namespace, ScratchDir, Unbound,
    TWO_INTERVALS, WHO,
};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

/// Where the relay listens in the namespace, and the backends' port.
const RELAY: &str = "127.0.0.1";
const BACKEND_PORT: u16 = 5300;
/// A query ID of the client's choosing.
const CLIENT_ID: u16 = 0x1234;

fn namespace_or_skip() -> Option<Namespace> {
    if !daemon_can_run() || !tools_installed(&["ip", "nft", "unbound", "dig"]) {
        return None;
    }
    or_skip(Namespace::create("dns"))
}

fn unbound_or_skip(ns: &Namespace, addr: &str, name: &str) -> Option<Unbound> {
    or_skip(Unbound::start(ns, addr, BACKEND_PORT, name))
}

/// A dns relay `resolver` on RELAY:53 over table <resolvers>.
fn resolver_config(hosts: &str, mode: &str) -> String {
    format!(
        "prefork 1\n\
         interval 1\n\
         table <resolvers> {{ {hosts} }}\n\
         dns protocol dns {{ }}\n\
         relay resolver {{\n\
         \tlisten on {RELAY} port 53\n\
         \tprotocol dns\n\
         \tforward to <resolvers> port {BACKEND_PORT} mode {mode} check tcp\n\
         }}\n"
    )
}

/// `n` queries through the relay with the client's fixed ID: the TXT
/// answer of each (the backend's name); panics on a lost query.
fn ask(ns: &Namespace, daemon: &Daemon, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let answer = dig(ns, RELAY, 53, WHO, CLIENT_ID)
                .unwrap_or_else(|e| panic!("{e}\nrelayd log:\n{}", daemon.log_text()));
            assert_eq!(answer.id, CLIENT_ID, "{answer:?}");
            assert_eq!(answer.status, "NOERROR", "{answer:?}");
            answer.txt.join(" ")
        })
        .collect()
}

fn tally(names: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for name in names {
        *counts.entry(name.as_str()).or_insert(0) += 1;
    }
    counts
}

/// The detail lines of relay `name` in `show relays`.
fn relay_details(daemon: &Daemon, name: &str) -> String {
    let text = stdout_text(&daemon.relayctl(&["show", "relays"]));
    let mut lines = text.lines().skip_while(|l| {
        let columns: Vec<&str> = l.split('\t').map(str::trim).collect();
        !(columns.get(1) == Some(&"relay") && columns.get(2) == Some(&name))
    });
    let _row = lines.next();
    lines
        .take_while(|l| l.starts_with('\t'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The figure before `what` on the `dropped:` line of relay `name`.
fn dropped(daemon: &Daemon, name: &str, what: &str) -> u64 {
    let details = relay_details(daemon, name);
    let Some(line) = details.lines().find(|l| l.contains("dropped:")) else {
        return 0;
    };
    line.split("dropped:")
        .nth(1)
        .into_iter()
        .flat_map(|rest| rest.split(','))
        .find_map(|part| {
            let part = part.trim();
            part.strip_suffix(what)
                .and_then(|figure| figure.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// nftables counters in the namespace: every UDP datagram to the backends'
/// port, and those carrying CLIENT_ID as their DNS ID (the 16 bits after
/// the 8-byte UDP header).
fn count_backend_ids(ns: &Namespace) -> Result<(), String> {
    let script = format!(
        "add table inet tap\n\
         add counter inet tap to_backend\n\
         add counter inet tap client_id\n\
         add chain inet tap input {{ type filter hook input priority 0; }}\n\
         add rule inet tap input udp dport {BACKEND_PORT} counter name to_backend\n\
         add rule inet tap input udp dport {BACKEND_PORT} @th,64,16 {CLIENT_ID} counter name client_id\n"
    );
    let scratch = ScratchDir::new("dns-tap");
    let path = scratch.write("tap.nft", &script);
    ns.exec(&["nft", "-f", &path.display().to_string()])
        .map(|_| ())
        .map_err(|e| format!("nftables unusable: {e}"))
}

fn packets(ns: &Namespace, counter: &str) -> u64 {
    let text = ns
        .exec(&["nft", "list", "counter", "inet", "tap", counter])
        .unwrap_or_default();
    text.split_whitespace()
        .skip_while(|word| *word != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_client_gets_its_id_back_while_the_backend_sees_others() {
    let Some(ns) = namespace_or_skip() else {
        return;
    };
    let Some(_one) = unbound_or_skip(&ns, "127.0.0.2", "one") else {
        return;
    };
    let Some(()) = or_skip(count_backend_ids(&ns)) else {
        return;
    };
    let daemon = Daemon::start_in(&ns, "dns-ids", &resolver_config("127.0.0.2", "roundrobin"));
    wait_hosts_up(&daemon, 1);
    let names = ask(&ns, &daemon, 8);
    assert!(names.iter().all(|n| n == "one"), "{names:?}");
    let (sent, with_client_id) = (packets(&ns, "to_backend"), packets(&ns, "client_id"));
    assert!(sent >= 8, "{sent} queries reached the backend");
    // A random ID equals the client's once in 65535 queries.
    assert!(
        with_client_id <= 1,
        "{with_client_id} of {sent} queries reached the backend with the client's ID"
    );
    // Every query was a session of the relay, and none is left.
    let counted = wait_until(Duration::from_secs(5), || {
        relay_details(&daemon, "resolver").contains("total: 8 sessions")
    });
    assert!(counted, "{}", relay_details(&daemon, "resolver"));
    let details = relay_details(&daemon, "resolver");
    assert!(
        details.contains("dropped: 0 malformed, 0 unknown id, 0 wrong source, 0 table full"),
        "{details}"
    );
    // The relay's byte counters: each query is at least a 12-byte header
    // and a question, each answer repeats the question and adds a TXT.
    let (least_in, mut bytes) = (8 * (12 + 4 + 2), (0, 0));
    let counted = wait_until(Duration::from_secs(5), || {
        let text = stdout_text(&daemon.relayctl(&["show", "metrics"]));
        bytes = (
            relay_bytes(&text, "resolver", "in").unwrap_or(0),
            relay_bytes(&text, "resolver", "out").unwrap_or(0),
        );
        bytes.0 >= least_in && bytes.1 > bytes.0
    });
    assert!(
        counted,
        "bytes (in, out) {bytes:?}: at least {least_in} in, more out"
    );
}

#[test]
fn two_backends_share_the_queries_by_mode_and_a_stopped_one_is_skipped() {
    let Some(ns) = namespace_or_skip() else {
        return;
    };
    let Some(mut one) = unbound_or_skip(&ns, "127.0.0.2", "one") else {
        return;
    };
    let Some(mut two) = unbound_or_skip(&ns, "127.0.0.3", "two") else {
        return;
    };
    let hosts = "127.0.0.2 127.0.0.3";
    let daemon = Daemon::start_in(&ns, "dns-modes", &resolver_config(hosts, "roundrobin"));
    wait_hosts_up(&daemon, 2);
    let names = ask(&ns, &daemon, 6);
    assert_eq!(
        tally(&names),
        HashMap::from([("one", 3), ("two", 3)]),
        "{names:?}"
    );
    assert!(
        names.windows(2).all(|pair| pair[0] != pair[1]),
        "round robin alternates: {names:?}"
    );

    // source-hash: one client, one backend.
    daemon.rewrite_config(&resolver_config(hosts, "source-hash"));
    let out = daemon.relayctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_hosts_up(&daemon, 2);
    let names = ask(&ns, &daemon, 6);
    assert!(names.iter().all(|n| *n == names[0]), "{names:?}");

    // Its backend stops: once the hce saw it down, the other answers.
    let (stopped, other, host) = if names[0] == "one" {
        (&mut one, "two", "127.0.0.2")
    } else {
        (&mut two, "one", "127.0.0.3")
    };
    stopped.stop();
    expect_state(&daemon, host, "down", TWO_INTERVALS);
    let names = ask(&ns, &daemon, 4);
    assert!(names.iter().all(|n| n == other), "{names:?}");
}

/// A DNS query for `a.test. A` with `id`, as bytes.
fn raw_query(id: u16) -> Vec<u8> {
    let mut message = id.to_be_bytes().to_vec();
    message.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    message.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
    message
}

/// The query turned into an empty answer with `id` and response code
/// `rcode` (0 NOERROR, 3 NXDOMAIN, 5 REFUSED).
fn raw_answer(query: &[u8], id: u16, rcode: u8) -> Vec<u8> {
    let mut message = query.to_vec();
    message[..2].copy_from_slice(&id.to_be_bytes());
    message[2] |= 0x80;
    message[3] = (message[3] & 0xf0) | rcode;
    message
}

/// A backend that misbehaves before it answers: for every query, a
/// REFUSED answer with another ID, an NXDOMAIN answer with the right ID
/// from another port, four bytes of junk, then the NOERROR answer. Runs on
/// a thread in `ns` for `answers` queries.
fn misbehaving_backend(ns: &Namespace, addr: &str, answers: usize) -> std::thread::JoinHandle<()> {
    let addr: SocketAddr = format!("{addr}:{BACKEND_PORT}").parse().unwrap();
    let (ready, started) = std::sync::mpsc::channel();
    let thread = ns.spawn(move || {
        let socket = UdpSocket::bind(addr).expect("bind the backend");
        let stranger = UdpSocket::bind((addr.ip(), 0)).expect("bind a second socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let _ = ready.send(());
        let mut buffer = [0u8; 512];
        for _ in 0..answers {
            let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                return;
            };
            let query = &buffer[..len];
            let id = u16::from_be_bytes([query[0], query[1]]);
            let _ = socket.send_to(&raw_answer(query, id.wrapping_add(1).max(1), 5), from);
            let _ = stranger.send_to(&raw_answer(query, id, 3), from);
            let _ = socket.send_to(b"junk", from);
            std::thread::sleep(Duration::from_millis(50));
            let _ = socket.send_to(&raw_answer(query, id, 0), from);
        }
    });
    started
        .recv_timeout(Duration::from_secs(5))
        .expect("backend ready");
    thread
}

#[test]
fn bad_input_is_dropped_and_counted_and_never_answered() {
    let Some(ns) = namespace_or_skip() else {
        return;
    };
    let backend = misbehaving_backend(&ns, "127.0.0.4", 2);
    let config = format!(
        "prefork 1\n\
         interval 1\n\
         dns protocol dns {{ }}\n\
         relay picky {{\n\
         \tlisten on {RELAY} port 53\n\
         \tprotocol dns\n\
         \tforward to 127.0.0.4 port {BACKEND_PORT}\n\
         }}\n"
    );
    let daemon = Daemon::start_in(&ns, "dns-bad", &config);

    // Junk and an answer sent to the listener: no session, no reply.
    let relay: SocketAddr = format!("{RELAY}:53").parse().unwrap();
    let replies = ns.run(move || {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        for junk in [
            &b""[..],
            b"x",
            &raw_query(7)[..11],
            &raw_answer(&raw_query(7), 7, 0),
        ] {
            client.send_to(junk, relay).unwrap();
        }
        let mut buffer = [0u8; 512];
        client.recv_from(&mut buffer).is_ok()
    });
    assert!(!replies, "the relay answered junk");
    let counted = wait_until(Duration::from_secs(5), || {
        dropped(&daemon, "picky", "malformed") >= 4
    });
    assert!(counted, "{}", relay_details(&daemon, "picky"));

    // dig takes only the NOERROR answer with its ID, from the relay.
    for _ in 0..2 {
        let answer = dig(&ns, RELAY, 53, WHO, CLIENT_ID)
            .unwrap_or_else(|e| panic!("{e}\nrelayd log:\n{}", daemon.log_text()));
        assert_eq!((answer.id, answer.status.as_str()), (CLIENT_ID, "NOERROR"));
    }
    let _ = backend.join();
    let counted = wait_until(Duration::from_secs(5), || {
        dropped(&daemon, "picky", "unknown id") == 2
            && dropped(&daemon, "picky", "wrong source") == 2
            && dropped(&daemon, "picky", "malformed") == 4 + 2
    });
    assert!(counted, "{}", relay_details(&daemon, "picky"));
}

#[test]
fn a_flood_to_a_silent_backend_fills_a_bounded_table_and_the_relay_goes_on() {
    let Some(ns) = namespace_or_skip() else {
        return;
    };
    let Some(_one) = unbound_or_skip(&ns, "127.0.0.2", "one") else {
        return;
    };
    // Nothing listens on 127.0.0.5: queries there are never answered.
    let config = format!(
        "{}\
         relay sink {{\n\
         \tlisten on {RELAY} port 54\n\
         \tprotocol dns\n\
         \tforward to 127.0.0.5 port {BACKEND_PORT}\n\
         \tsession timeout 4\n\
         }}\n",
        resolver_config("127.0.0.2", "roundrobin")
    );
    let daemon = Daemon::start_in(&ns, "dns-flood", &config);
    wait_hosts_up(&daemon, 1);
    let sink: SocketAddr = format!("{RELAY}:54").parse().unwrap();
    // Paced (5,000 a second, under the session timeout in all) so that a
    // relay slowed by a loaded machine still takes more than its table
    // holds before the first ones expire: what the kernel's receive
    // buffer drops never reaches the table.
    const FLOOD: u16 = 12_000;
    ns.run(move || {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        for id in 1..=FLOOD {
            let _ = client.send_to(&raw_query(id), sink);
            if id % 50 == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let full = wait_until(Duration::from_secs(5), || {
        dropped(&daemon, "sink", "table full") > 0
    });
    assert!(full, "{}", relay_details(&daemon, "sink"));
    // The other relay still answers while the sink's table is full.
    assert_eq!(ask(&ns, &daemon, 1), ["one"]);
    let sessions = stdout_text(&daemon.relayctl(&["show", "sessions"]));
    let pending = sessions
        .lines()
        .filter(|l| l.starts_with("session "))
        .count();
    assert!(
        (4000..=4096).contains(&pending),
        "{pending} sessions listed; the table holds at most 4096"
    );
    // The session timeout ends the rest, counted.
    let expired = wait_until(Duration::from_secs(10), || {
        stdout_text(&daemon.relayctl(&["show", "sessions"])).is_empty()
    });
    assert!(expired, "pending queries outlived their timeout");
    // Counters reach relayctl with the next statistics tick.
    let counted = wait_until(Duration::from_secs(5), || {
        dropped(&daemon, "sink", "timeout") as usize == pending
    });
    assert!(counted, "{}", relay_details(&daemon, "sink"));
    let evicted = dropped(&daemon, "sink", "table full");
    assert!(
        evicted + pending as u64 <= u64::from(FLOOD),
        "{}",
        relay_details(&daemon, "sink")
    );
}

#[test]
fn what_a_dns_relay_cannot_do_here_is_refused_with_its_line() {
    let dir = ScratchDir::new("dns-check");
    let check = |name: &str, text: &str| {
        let path = dir.write(name, text);
        let output = Command::new(bin("relayd"))
            .arg("-nf")
            .arg(&path)
            .output()
            .unwrap();
        (path, output)
    };
    for (name, forward) in [
        (
            "table.conf",
            "forward to <r> port 53 mode loadbalance check tcp",
        ),
        ("natlook.conf", "forward to nat lookup"),
        ("destination.conf", "forward to destination"),
    ] {
        let (_, output) = check(
            name,
            &format!(
                "table <r> {{ 127.0.0.2 }}\ndns protocol dns {{ tcp {{ socket buffer 65536 }} }}\n\
                 relay resolver {{\n\tlisten on 127.0.0.1 port 53\n\tprotocol dns\n\t{forward}\n}}\n"
            ),
        );
        assert!(
            output.status.success(),
            "{forward}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (refused, output) = check(
        "transparent.conf",
        "dns protocol dns { }\n\nrelay resolver {\n\tlisten on 127.0.0.1 port 53\n\
         \tprotocol dns\n\ttransparent forward to nat lookup\n}\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stderr);
    let place = format!(
        "{}:3: relay resolver: transparent forward",
        refused.display()
    );
    assert!(text.contains(&place), "{text}");
}

/// Where `nat lookup` queries are sent before the redirection: an unbound
/// listens there, and the test's DNAT rules bring the clients' queries to
/// the relays instead.
const ORIGINAL: &str = "127.0.0.53";
/// The clients' source addresses: each has its DNAT rule to one relay, and
/// `UNTRACKED` sends without conntrack.
const TO_NATLOOK: &str = "127.0.0.9";
const TO_DESTINATION: &str = "127.0.0.10";
const UNTRACKED: &str = "127.0.0.11";

/// DNAT rules in `ns`, as an operator's (or a relayd `redirect`) would be:
/// queries to ORIGINAL:53 from each client address go to its relay's port,
/// and UNTRACKED's datagrams are not tracked at all. Only the clients'
/// sources match, so the relays' own queries to ORIGINAL go through.
fn redirect_to_relays(ns: &Namespace, natlook: u16, destination: u16) -> Result<(), String> {
    let script = format!(
        "add table ip divert\n\
         add chain ip divert out {{ type nat hook output priority -100; }}\n\
         add rule ip divert out ip saddr {TO_NATLOOK} ip daddr {ORIGINAL} udp dport 53 \
         dnat to {RELAY}:{natlook}\n\
         add rule ip divert out ip saddr {TO_DESTINATION} ip daddr {ORIGINAL} udp dport 53 \
         dnat to {RELAY}:{destination}\n\
         add chain ip divert raw {{ type filter hook output priority -300; }}\n\
         add rule ip divert raw ip saddr {UNTRACKED} notrack\n"
    );
    let scratch = ScratchDir::new("dns-divert");
    let path = scratch.write("divert.nft", &script);
    ns.exec(&["nft", "-f", &path.display().to_string()])
        .map(|_| ())
        .map_err(|e| format!("nftables unusable: {e}"))
}

#[test]
fn nat_lookup_sends_each_redirected_query_to_its_original_destination() {
    let Some(ns) = namespace_or_skip() else {
        return;
    };
    let Some(_original) = or_skip(Unbound::start(&ns, ORIGINAL, 53, "original")) else {
        return;
    };
    let (natlook, destination) = (5353, 5354);
    let Some(()) = or_skip(redirect_to_relays(&ns, natlook, destination)) else {
        return;
    };
    // Two relay processes: each asks the pfe itself and must get its own
    // answers (queries from one address spread over both by source port).
    let config = format!(
        "prefork 2\n\
         interval 1\n\
         dns protocol dns {{ }}\n\
         relay natlook {{\n\
         \tlisten on {RELAY} port {natlook}\n\
         \tprotocol dns\n\
         \tforward to nat lookup\n\
         }}\n\
         relay todest {{\n\
         \tlisten on {RELAY} port {destination}\n\
         \tprotocol dns\n\
         \tforward to destination\n\
         }}\n"
    );
    let daemon = Daemon::start_in(&ns, "dns-natlook", &config);
    for (relay, source) in [("natlook", TO_NATLOOK), ("todest", TO_DESTINATION)] {
        for _ in 0..6 {
            let answer = dig_with(&ns, ORIGINAL, 53, WHO, CLIENT_ID, &["-b", source])
                .unwrap_or_else(|e| panic!("{relay}: {e}\nrelayd log:\n{}", daemon.log_text()));
            assert_eq!(answer.id, CLIENT_ID, "{answer:?}");
            assert_eq!(answer.txt, ["original"], "{relay}: {answer:?}");
        }
        // The queries went through the relay, not around it.
        let counted = wait_until(Duration::from_secs(5), || {
            relay_details(&daemon, relay).contains("total: 6 sessions")
        });
        assert!(counted, "{relay}: {}", relay_details(&daemon, relay));
    }

    // Straight to the relay (conntrack's entry says so) and untracked: no
    // original destination, nothing sent, each dropped and counted.
    for source in ["127.0.0.1", UNTRACKED] {
        let straight = dig_with(&ns, RELAY, natlook, WHO, CLIENT_ID, &["-b", source]);
        assert!(straight.is_err(), "from {source}: {straight:?}");
    }
    let counted = wait_until(Duration::from_secs(5), || {
        dropped(&daemon, "natlook", "no destination") == 2
    });
    assert!(counted, "{}", relay_details(&daemon, "natlook"));
    assert_eq!(dropped(&daemon, "todest", "no destination"), 0);
}

/// A DNS server of the test's on `addr` port 53 in `ns`: answers each of
/// `answers` queries NOERROR with the query's ID and records where each
/// came from. Started before it returns.
fn recording_server(
    ns: &Namespace,
    addr: SocketAddr,
    answers: usize,
) -> std::thread::JoinHandle<Vec<SocketAddr>> {
    let (ready, started) = std::sync::mpsc::channel();
    let thread = ns.spawn(move || {
        let socket = UdpSocket::bind(addr).expect("bind the server");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let _ = ready.send(());
        let mut senders = Vec::new();
        let mut buffer = [0u8; 512];
        for _ in 0..answers {
            let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                break;
            };
            let query = &buffer[..len];
            let id = u16::from_be_bytes([query[0], query[1]]);
            let _ = socket.send_to(&raw_answer(query, id, 0), from);
            senders.push(from);
        }
        senders
    });
    started
        .recv_timeout(Duration::from_secs(5))
        .expect("server ready");
    thread
}

#[test]
fn nat_lookup_finds_the_original_destination_of_ipv6_queries_too() {
    let Some(ns) = namespace_or_skip() else {
        return;
    };
    let (original, client, relay) = ("fd00:53::53", "fd00:53::9", "fd00:53::1");
    for addr in [original, client, relay] {
        let with_prefix = format!("{addr}/128");
        let added = ns.exec(&[
            "ip",
            "-6",
            "addr",
            "add",
            &with_prefix,
            "dev",
            "lo",
            "nodad",
        ]);
        let Some(_) = or_skip(added) else {
            return;
        };
    }
    let port = 5355;
    let script = format!(
        "add table ip6 divert\n\
         add chain ip6 divert out {{ type nat hook output priority -100; }}\n\
         add rule ip6 divert out ip6 saddr {client} ip6 daddr {original} udp dport 53 \
         dnat to [{relay}]:{port}\n"
    );
    let scratch = ScratchDir::new("dns-divert6");
    let path = scratch.write("divert6.nft", &script);
    let Some(_) = or_skip(ns.exec(&["nft", "-f", &path.display().to_string()])) else {
        return;
    };
    let server = recording_server(&ns, format!("[{original}]:53").parse().unwrap(), 3);
    let config = format!(
        "prefork 1\n\
         interval 1\n\
         dns protocol dns {{ }}\n\
         relay natlook6 {{\n\
         \tlisten on {relay} port {port}\n\
         \tprotocol dns\n\
         \tforward to nat lookup\n\
         }}\n"
    );
    let daemon = Daemon::start_in(&ns, "dns-natlook6", &config);
    for _ in 0..3 {
        let answer = dig_with(&ns, original, 53, WHO, CLIENT_ID, &["-6", "-b", client])
            .unwrap_or_else(|e| panic!("{e}\nrelayd log:\n{}", daemon.log_text()));
        assert_eq!((answer.id, answer.status.as_str()), (CLIENT_ID, "NOERROR"));
    }
    let senders = server.join().expect("the server");
    assert_eq!(senders.len(), 3, "{senders:?}");
    // Each query reached the server from a socket of the relay's, not
    // from the client: the relay asked conntrack where it was going.
    let client_ip: std::net::IpAddr = client.parse().unwrap();
    assert!(
        senders.iter().all(|from| from.ip() != client_ip),
        "{senders:?}"
    );
    let counted = wait_until(Duration::from_secs(5), || {
        relay_details(&daemon, "natlook6").contains("total: 3 sessions")
    });
    assert!(counted, "{}", relay_details(&daemon, "natlook6"));
}
