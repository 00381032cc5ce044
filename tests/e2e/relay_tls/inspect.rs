//! TLS inspection: a client of 127.0.0.9 connecting to an HTTPS backend
//! is redirected (nftables, in a namespace of the test's own) to a relay
//! with `forward with tls to destination`, `tls ca cert` and an encrypted
//! `tls ca key`. The relay connects to the original destination with the
//! client's SNI and presents a copy of the backend's certificate: the
//! backend's subject and names, issued by the test's inspection CA, which
//! the client verifies against that CA alone, for tcp and http relays;
//! the copy is cached (the second session sees the same bytes). A backend whose certificate `tls
//! ca file` refuses closes the session, logged with relay and host. The
//! CA key's secret is in the memory of the ca processes only. An
//! inspected HTTP session that needs a second backend connection (the
//! backend closed the idle one, or closed under the next request, which
//! is sent again) sends the client's SNI on it too. And inspection
//! without `ca file` is a warning at load naming the line.

use super::recording::{Ending, SniBackend};
use e2e::{
    bin, cmdline, daemon_can_run, free_port, memory_holds, or_skip, output_text, tools_installed,
    Daemon, Namespace, ScratchDir, SslDir, TlsServer,
};
use std::process::Command;

const CLIENT: &str = "127.0.0.9";

/// `openssl s_client` from the client address to 127.0.0.1:PORT inside
/// `ns`, asking for `name` and trusting `ca` only; sends a GET and prints
/// the chain. Its stdout (empty when the handshake failed).
fn inspected_client(ns: &Namespace, port: u16, name: &str, ca: &std::path::Path) -> String {
    let script = format!(
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 10 openssl s_client -bind {CLIENT}:0 \
         -connect 127.0.0.1:{port} -servername {name} -CAfile {} -verify_return_error \
         -showcerts -ign_eof 2>&1",
        ca.display()
    );
    // A refused handshake is a failing command: what it printed is enough.
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sh", "-c", &script])
        .output()
        .expect("run openssl s_client in the namespace");
    output_text(&out.stdout)
}

/// The PEM certificates of an s_client `-showcerts` output.
fn certificates(output: &str) -> Vec<String> {
    output
        .split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|rest| rest.split("-----END CERTIFICATE-----").next())
        .map(str::to_string)
        .collect()
}

fn config(kind: &str, port: u16, ssl: &SslDir, ca_file: Option<&std::path::Path>) -> String {
    let ca_file = ca_file.map_or(String::new(), |path| {
        format!(" tls ca file \"{}\"\n", path.display())
    });
    format!(
        "prefork 1\n\
         {kind} protocol inspect {{\n tls keypair \"relay\"\n tls ca cert \"{}\"\n \
         tls ca key \"{}\" password \"secret\"\n{ca_file}}}\n\
         relay inspect {{\n listen on 127.0.0.1 port {port} tls\n protocol inspect\n \
         forward with tls to destination\n}}\n",
        ssl.certificate("inspector").display(),
        ssl.dir.join("private/inspector.enc.key").display(),
    )
}

#[test]
fn the_client_sees_the_backends_certificate_issued_by_the_inspection_ca() {
    if !daemon_can_run() || !tools_installed(&["ip", "nft", "openssl", "python3"]) {
        return;
    }
    let Some(ns) = or_skip(Namespace::create("tlsinspect")) else {
        return;
    };
    let ssl = SslDir::new("tls-inspect");
    ssl.ca("inspector");
    ssl.encrypted_key("inspector", "secret");
    ssl.ca("origin");
    ssl.signed("site", "origin", &["site.test", "www.site.test"]);
    ssl.keypair("rogue", &["site.test"]);
    ssl.keypair("relay", &["relay.test"]);
    let (site_cert, site_key) = (ssl.certificate("site"), ssl.key("site"));
    let site = ns.run(move || TlsServer::start_with(&site_cert, &site_key));
    let Some(site) = or_skip(site) else { return };
    site.serve_file("index.html", "behind the inspection\n");
    let (rogue_cert, rogue_key) = (ssl.certificate("rogue"), ssl.key("rogue"));
    let rogue = ns.run(move || TlsServer::start_with(&rogue_cert, &rogue_key));
    let Some(rogue) = or_skip(rogue) else { return };
    let port = free_port();
    let dir = ScratchDir::new("tls-inspect-rules");
    let rules = dir.write(
        "rules.nft",
        &format!(
            "table ip relaytest {{\n\tchain out {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\t\
             ip saddr {CLIENT} ip daddr 127.0.0.1 tcp dport {{ {}, {} }} redirect to :{port}\n\t}}\n}}\n",
            site.port, rogue.port
        ),
    );
    let rules = rules.to_string_lossy().into_owned();
    if or_skip(
        ns.exec(&["nft", "-f", &rules])
            .map_err(|e| format!("nftables: {e}")),
    )
    .is_none()
    {
        return;
    }
    // The same inspection for both protocols (relayd.conf(5)'s example is
    // an http relay); one daemon after the other on the redirect's port.
    for kind in ["tcp", "http"] {
        inspect_with(kind, &ns, &ssl, port, (&site, &rogue));
    }
    drop((site, rogue));
}

/// One relay of protocol `kind` on `port` inspecting `site`, refusing
/// `rogue`, with the CA key's secret only in the ca processes.
fn inspect_with(
    kind: &str,
    ns: &Namespace,
    ssl: &SslDir,
    port: u16,
    (site, rogue): (&TlsServer, &TlsServer),
) {
    let (var, ssl_path) = ssl.env();
    let mut daemon = Daemon::start_in_with_env(
        ns,
        "relay-tls-inspect",
        &config(kind, port, ssl, Some(&ssl.certificate("origin"))),
        &[(var, &ssl_path)],
    );
    let inspector = ssl.certificate("inspector");

    let first = inspected_client(ns, site.port, "www.site.test", &inspector);
    let log = || daemon.log_text();
    assert!(
        first.contains("Verify return code: 0 (ok)"),
        "the client verifies the copy against the inspection CA:\n{first}\nlog:\n{}",
        log()
    );
    assert!(first.contains("CN = site.test"), "{first}");
    assert!(first.contains("i:CN = Test CA inspector"), "{first}");
    // python's server closes without close_notify, which the relay takes
    // as a read error (the client is reset): the head is what is certain.
    assert!(
        first.contains("HTTP/1.0 200 OK") && first.contains("Content-Length: 22"),
        "the request reached the backend:\n{first}"
    );
    let minted = certificates(&first);
    assert_eq!(minted.len(), 1, "{first}");
    let text = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf -- '-----BEGIN CERTIFICATE-----{}-----END CERTIFICATE-----\\n' | openssl x509 -noout -text",
            minted[0]
        ))
        .output()
        .expect("openssl x509");
    let text = output_text(&text.stdout);
    assert!(
        text.contains("DNS:site.test") && text.contains("DNS:www.site.test"),
        "the backend's subjectAltNames are kept:\n{text}"
    );

    let second = inspected_client(ns, site.port, "www.site.test", &inspector);
    assert_eq!(
        certificates(&second),
        minted,
        "the second session gets the cached copy"
    );

    // A backend certificate `tls ca file` does not verify: closed, logged.
    let refused = inspected_client(ns, rogue.port, "site.test", &inspector);
    assert!(
        certificates(&refused).is_empty() && !refused.contains("HTTP/1.0"),
        "a rogue backend was presented as trusted:\n{refused}"
    );
    let logged = e2e::wait_until(std::time::Duration::from_secs(5), || {
        log().lines().any(|l| {
            l.contains("relay inspect")
                && l.contains(&format!("127.0.0.1:{}", rogue.port))
                && l.contains("TLS")
        })
    });
    assert!(logged, "no log line with relay and host:\n{}", log());

    // The CA key's secret, decrypted in ca N only: in no other process
    // (as isolation.rs checks for keypairs).
    let secret = ssl.ec_secret("inspector");
    let reversed: Vec<u8> = secret.iter().rev().copied().collect();
    let mut processes = vec![(daemon.pid, "relayd: parent".to_string())];
    processes.extend(daemon.children().into_iter().map(|pid| (pid, cmdline(pid))));
    let holders: Vec<&String> = processes
        .iter()
        .filter(|(pid, _)| memory_holds(*pid, &secret) || memory_holds(*pid, &reversed))
        .map(|(_, title)| title)
        .collect();
    assert!(
        holders.iter().any(|t| t.starts_with("relayd: ca")),
        "no ca holds the CA key: {processes:?}"
    );
    assert!(
        holders.iter().all(|t| t.starts_with("relayd: ca")),
        "the CA key's secret is outside the ca processes: {holders:?}"
    );
    drop(daemon);
}

/// Two requests on one inspected client connection, one second apart,
/// to 127.0.0.1:`port` (redirected to the relay) asking for `name`; the
/// second says `Connection: close`. What the client read.
fn two_requests(ns: &Namespace, port: u16, name: &str, ca: &std::path::Path) -> String {
    let request = |path: &str, last: &str| {
        format!("printf 'GET /{path} HTTP/1.1\\r\\nHost: {name}\\r\\n{last}\\r\\n'")
    };
    let script = format!(
        "({}; sleep 1; {}; sleep 3) | timeout 10 openssl s_client -bind {CLIENT}:0 \
         -connect 127.0.0.1:{port} -servername {name} -CAfile {} -verify_return_error \
         -quiet 2>&1",
        request("one", ""),
        request("two", "Connection: close\\r\\n"),
        ca.display()
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sh", "-c", &script])
        .output()
        .expect("run openssl s_client in the namespace");
    output_text(&out.stdout)
}

#[test]
fn every_backend_connection_of_an_inspected_session_carries_the_clients_sni() {
    if !daemon_can_run() || !tools_installed(&["ip", "nft", "openssl"]) {
        return;
    }
    let Some(ns) = or_skip(Namespace::create("tlssni")) else {
        return;
    };
    let ssl = SslDir::new("tls-inspect-sni");
    ssl.ca("inspector");
    ssl.encrypted_key("inspector", "secret");
    ssl.ca("origin");
    ssl.signed("site", "origin", &["site.test", "www.site.test"]);
    ssl.keypair("relay", &["relay.test"]);
    // One backend closing each connection after its answer (the session's
    // idle backend is gone at the next request: a new connection), one
    // closing under the next request (sent again on a new connection).
    let backend = |ending| {
        let listener = ns.run(|| std::net::TcpListener::bind("127.0.0.1:0"));
        let listener = listener.expect("a listener in the namespace");
        SniBackend::start(listener, &ssl.certificate("site"), &ssl.key("site"), ending)
    };
    let backends = [backend(Ending::AfterAnswer), backend(Ending::AtNextRequest)];
    let port = free_port();
    let dir = ScratchDir::new("tls-inspect-sni-rules");
    let rules = dir.write(
        "rules.nft",
        &format!(
            "table ip relaytest {{\n\tchain out {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\t\
             ip saddr {CLIENT} ip daddr 127.0.0.1 tcp dport {{ {}, {} }} redirect to :{port}\n\t}}\n}}\n",
            backends[0].port, backends[1].port
        ),
    );
    let rules = rules.to_string_lossy().into_owned();
    if or_skip(
        ns.exec(&["nft", "-f", &rules])
            .map_err(|e| format!("nftables: {e}")),
    )
    .is_none()
    {
        return;
    }
    let (var, ssl_path) = ssl.env();
    let daemon = Daemon::start_in_with_env(
        &ns,
        "relay-tls-inspect-sni",
        &config("http", port, &ssl, Some(&ssl.certificate("origin"))),
        &[(var, &ssl_path)],
    );
    let inspector = ssl.certificate("inspector");
    // How the relay came to the second connection, as it logs it.
    let ways = ["closed its idle connection", "sending it again"];
    for (backend, way) in backends.iter().zip(ways) {
        let read = two_requests(&ns, backend.port, "www.site.test", &inspector);
        let answers = read.matches("HTTP/1.1 200 OK").count();
        assert!(
            answers == 2 && read.contains("connection 1") && read.contains("connection 2"),
            "two answers over two backend connections:\n{read}\nlog:\n{}",
            daemon.log_text()
        );
        let sent = Some("www.site.test".to_string());
        assert_eq!(
            backend.names(),
            [sent.clone(), sent],
            "the client's SNI on both backend connections; log:\n{}",
            daemon.log_text()
        );
        let log = daemon.log_text();
        let logged = log
            .lines()
            .any(|l| l.contains(&format!("backend 127.0.0.1:{}", backend.port)) && l.contains(way));
        assert!(logged, "no \"{way}\" for {}:\n{log}", backend.port);
    }
    drop(daemon);
    drop(backends);
}

#[test]
fn inspection_without_ca_file_is_a_warning_naming_the_line() {
    if !tools_installed(&["openssl"]) {
        return;
    }
    let ssl = SslDir::new("tls-inspect-warn");
    ssl.ca("inspector");
    ssl.encrypted_key("inspector", "secret");
    ssl.keypair("relay", &["relay.test"]);
    let dir = ScratchDir::new("tls-inspect-warn-conf");
    // `relayd -n` of `text`, with this test's /etc/ssl.
    let check = |name: &str, text: &str| {
        Command::new(bin("relayd"))
            .args(["-n", "-f"])
            .arg(dir.write(name, text))
            .env(e2e::SSL_DIR_VAR, &ssl.dir.path)
            .output()
            .expect("run relayd -n")
    };
    let out = check("relayd.conf", &config("tcp", 8443, &ssl, None));
    let stderr = output_text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("relayd.conf:4: ") && l.contains("without tls ca file")),
        "{stderr}"
    );
    // A wrong password fails `relayd -n`, naming the file and line.
    let wrong = config("tcp", 8443, &ssl, None).replace("\"secret\"", "\"wrong\"");
    let out = check("wrong.conf", &wrong);
    let stderr = output_text(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("wrong.conf:5: ")
            && stderr.contains("inspector.enc.key"),
        "{stderr}"
    );
}
