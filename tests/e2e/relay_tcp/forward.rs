//! End-to-end: forwarding targets beyond a fixed address: `transparent
//! forward` (the backend sees the client's address; the parent opens the
//! IP_TRANSPARENT socket), and `forward to destination` on a connection
//! that was not redirected (no original destination: the session is
//! refused, the relay goes on). Needs root, and ip(8) and nft(8) for the
//! redirect.

use e2e::{
    connect, connect_between, connect_from, daemon_can_run, free_port, or_skip, read_line,
    tools_installed, Daemon, Namespace, ScratchDir, TcpBackend, TcpBehaviour,
};
use std::io::Read;

#[test]
fn transparent_forward_connects_from_the_client_address() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::TellPeer);
    let port = free_port();
    let config = format!(
        "prefork 1\n\
         relay tproxy {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \ttransparent forward to 127.0.0.1 port {}\n\
         }}\n",
        backend.port()
    );
    let daemon = Daemon::start("relay-transparent", &config);
    for client in ["127.0.2.9", "127.0.3.10"] {
        let mut stream = connect_from(client, port);
        assert_eq!(
            read_line(&mut stream).unwrap(),
            client,
            "log:\n{}",
            daemon.log_text()
        );
    }
}

#[test]
fn forward_to_destination_without_a_redirect_closes_the_session() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let config = format!(
        "prefork 1\n\
         relay natlook {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to destination\n\
         }}\n"
    );
    let daemon = Daemon::start("relay-destination", &config);
    let mut stream = connect(port);
    let mut buffer = [0u8; 8];
    assert_eq!(
        stream.read(&mut buffer).unwrap_or(0),
        0,
        "log:\n{}",
        daemon.log_text()
    );
    // A relay that does not relay still answers relayctl.
    assert!(daemon.relayctl(&["show", "relays"]).status.success());
}

/// `forward to destination` behind an nftables redirect: a client of
/// 127.0.0.9 connecting to 127.0.0.5:7000 is redirected to the relay, which
/// finds the original destination (SO_ORIGINAL_DST) and connects there. In
/// a namespace of the test's own, so the redirect touches nothing else.
#[test]
fn forward_to_destination_behind_a_redirect_reaches_the_original_destination() {
    if !daemon_can_run() || !tools_installed(&["ip", "nft"]) {
        return;
    }
    let Some(ns) = or_skip(Namespace::create("natlook")) else {
        return;
    };
    let port = free_port();
    let nftables = ns
        .exec(&["nft", "list", "tables"])
        .map_err(|e| format!("nftables unavailable: {e}"));
    if or_skip(nftables).is_none() {
        return;
    }
    let dir = ScratchDir::new("natlook-rules");
    let rules = dir.write(
        "rules.nft",
        &format!(
            "table ip relaytest {{\n\tchain out {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\t\
             ip saddr 127.0.0.9 ip daddr 127.0.0.5 tcp dport 7000 redirect to :{port}\n\t}}\n}}\n"
        ),
    );
    let rules = rules.to_string_lossy().into_owned();
    ns.exec(&["nft", "-f", &rules]).expect("load the redirect");
    let backend = ns.run(|| TcpBackend::start("127.0.0.5:7000", TcpBehaviour::TellPeer));
    for keyword in ["destination", "nat lookup"] {
        let config = format!(
            "prefork 1\n\
             relay natlook {{\n\
             \tlisten on 127.0.0.1 port {port}\n\
             \tforward to {keyword}\n\
             }}\n"
        );
        let daemon = Daemon::start_in(&ns, "relay-natlook", &config);
        let original = "127.0.0.5:7000".parse().unwrap();
        let seen = ns.run(move || read_line(&mut connect_between("127.0.0.9", original)));
        // The backend answers with the peer it sees: the relay, not the
        // client, so the connection did go through relayd.
        assert_eq!(
            seen.unwrap(),
            "127.0.0.1",
            "{keyword}; log:\n{}",
            daemon.log_text()
        );
        drop(daemon);
    }
    drop(backend);
}
