//! End-to-end: forwarding targets beyond a fixed address: `transparent
//! forward` (the backend sees the client's address; the parent opens the
//! IP_TRANSPARENT socket), and `forward to destination` on a connection
//! that was not redirected (no original destination: the session is
//! refused, the relay goes on). Needs root; skips otherwise.

mod relay_common;

use e2e::{daemon_can_run, free_port, Daemon};
use relay_common::{connect, connect_between, connect_from, read_line, Backend, Behaviour};
use std::io::Read;

#[test]
fn transparent_forward_connects_from_the_client_address() {
    if !daemon_can_run("transparent_forward_connects_from_the_client_address") {
        return;
    }
    let backend = Backend::start("127.0.0.1:0", "peer", Behaviour::TellPeer);
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
    if !daemon_can_run("forward_to_destination_without_a_redirect_closes_the_session") {
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

/// A network namespace of this test with only `lo` up; removed on drop.
struct Namespace(String);

impl Namespace {
    fn create(tag: &str) -> Result<Namespace, String> {
        let name = format!("relay-{tag}-{}", std::process::id());
        run(&["ip", "netns", "add", &name])?;
        let ns = Namespace(name);
        run(&["ip", "-n", &ns.0, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs `body` on a thread inside the namespace: sockets it creates
    /// belong there.
    fn run<T: Send + 'static>(&self, body: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open the namespace");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            body()
        })
        .join()
        .expect("thread in the namespace")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.0]);
    }
}

fn run(command: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new(command[0])
        .args(&command[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", command[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            command.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `forward to destination` behind an nftables redirect: a client of
/// 127.0.0.9 connecting to 127.0.0.5:7000 is redirected to the relay, which
/// finds the original destination (SO_ORIGINAL_DST) and connects there. In
/// a namespace of the test's own, so the redirect touches nothing else.
#[test]
fn forward_to_destination_behind_a_redirect_reaches_the_original_destination() {
    let test = "forward_to_destination_behind_a_redirect_reaches_the_original_destination";
    if !daemon_can_run(test) {
        return;
    }
    let ns = match Namespace::create("natlook") {
        Ok(ns) => ns,
        Err(e) => return eprintln!("SKIPPED {test}: no network namespace: {e}"),
    };
    let port = free_port();
    if let Err(e) = run(&["ip", "netns", "exec", &ns.0, "nft", "list", "tables"]) {
        return eprintln!("SKIPPED {test}: nftables unavailable: {e}");
    }
    let dir = e2e::ScratchDir::new("natlook-rules");
    let rules = dir.join("rules.nft");
    std::fs::write(
        &rules,
        format!(
            "table ip relaytest {{\n\tchain out {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\t\
             ip saddr 127.0.0.9 ip daddr 127.0.0.5 tcp dport 7000 redirect to :{port}\n\t}}\n}}\n"
        ),
    )
    .unwrap();
    let rules = rules.to_string_lossy().into_owned();
    run(&["ip", "netns", "exec", &ns.0, "nft", "-f", &rules]).expect("load the redirect");
    let backend = ns.run(|| Backend::start("127.0.0.5:7000", "original", Behaviour::TellPeer));
    for keyword in ["destination", "nat lookup"] {
        let config = format!(
            "prefork 1\n\
             relay natlook {{\n\
             \tlisten on 127.0.0.1 port {port}\n\
             \tforward to {keyword}\n\
             }}\n"
        );
        let daemon = Daemon::start_with_prefix(
            "relay-natlook",
            &config,
            &[],
            &["ip", "netns", "exec", &ns.0],
        );
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
