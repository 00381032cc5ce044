//! TLS termination: `listen on ... tls` for tcp and http relays, the
//! certificate chosen by SNI, HTTPS keep-alive and chunked uploads, and
//! key files that cannot be used refused before anything runs.

use e2e::{
    bin, curl_https, daemon_can_run, free_port, output_text, pattern, s_client, tls_relay_config,
    tools_installed, wait_until, Daemon, HttpBackend, SslDir, TcpBackend, TcpBehaviour, TlsRelay,
};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn tools() -> bool {
    daemon_can_run() && tools_installed(&["openssl", "curl"])
}

#[test]
fn a_tcp_relay_terminates_tls_with_the_default_keypair() {
    if !tools() {
        return;
    }
    let ssl = SslDir::new("tls-default");
    // No keypair: relayd's default, named after the listen address.
    let ca = ssl.keypair("127.0.0.1", &["localhost"]);
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::pong());
    let port = free_port();
    let config = format!(
        "prefork 1\nrelay plain {{\n listen on 127.0.0.1 port {port} tls\n \
         forward to 127.0.0.1 port {}\n}}\n",
        backend.port()
    );
    let daemon = Daemon::start_with_ssl("tls-default", &config, &ssl);
    let out = s_client(port, "localhost", &ca, b"ping\n");
    let got = output_text(&out.stdout);
    assert!(
        got.contains("pong"),
        "s_client got {got:?}; stderr {}\nlog:\n{}",
        output_text(&out.stderr),
        daemon.log_text()
    );
    assert_eq!(backend.accepted(), 1);
    // A certificate the client does not trust: no session reaches the backend.
    let other = SslDir::new("tls-default-other");
    let stranger = other.keypair("stranger", &["localhost"]);
    let refused = s_client(port, "localhost", &stranger, b"ping\n");
    assert!(!output_text(&refused.stdout).contains("pong"));
    assert_eq!(backend.accepted(), 1, "an unverified client got through");
}

fn https_config(port: u16, backend: u16, keypairs: &[&str]) -> String {
    tls_relay_config(1, "http", port, backend, keypairs, &[])
}

#[test]
fn https_keeps_alive_and_streams_a_chunked_put() {
    if !tools() {
        return;
    }
    let backend = HttpBackend::start("one");
    let relay = TlsRelay::start("tls-https", "http", backend.port(), &[]);
    let (port, ca, daemon) = (relay.port, &relay.ca, &relay.daemon);
    let out = curl_https("www.test", port, ca, &["-i"], &["/a", "/b"]);
    let got = output_text(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {}\nlog:\n{}",
        output_text(&out.stderr),
        daemon.log_text()
    );
    assert_eq!(got.matches("HTTP/1.1 200").count(), 2, "{got}");
    // Both requests on one client connection, hence one backend connection.
    assert_eq!(got.matches("X-Connection: 1").count(), 2, "{got}");
    assert_eq!(backend.accepted(), 1);
    assert_eq!(
        backend.request_lines(),
        ["GET /a HTTP/1.1", "GET /b HTTP/1.1"]
    );

    let upload = pattern(1 << 20, 21);
    let mut put = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("www.test:{port}:127.0.0.1"))
        .args(["-T", "-", "-H", "Expect:"])
        .arg(format!("https://www.test:{port}/echo"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run curl");
    let mut stdin = put.stdin.take().expect("stdin");
    let writer = {
        let upload = upload.clone();
        std::thread::spawn(move || stdin.write_all(&upload))
    };
    let put = put.wait_with_output().expect("curl output");
    writer.join().expect("writer").expect("write upload");
    assert!(
        put.status.success(),
        "curl -T: {}",
        output_text(&put.stderr)
    );
    assert!(put.stdout == upload, "the chunked PUT came back changed");
    let chunked = backend
        .seen()
        .iter()
        .filter(|m| m.head.start.starts_with("PUT /echo"))
        .flat_map(|m| m.head.headers.clone())
        .any(|h| h.eq_ignore_ascii_case("transfer-encoding: chunked"));
    assert!(
        chunked,
        "curl sent the PUT chunked: {:?}",
        backend.request_lines()
    );
}

#[test]
fn sni_chooses_between_two_keypairs_and_the_first_is_the_default() {
    if !tools() {
        return;
    }
    let ssl = SslDir::new("tls-sni");
    let one = ssl.keypair("one", &["one.test"]);
    let two = ssl.keypair("two", &["two.test"]);
    let backend = HttpBackend::start("sni");
    let port = free_port();
    let config = https_config(port, backend.port(), &["one", "two"]);
    let daemon = Daemon::start_with_ssl("tls-sni", &config, &ssl);
    for (name, ca) in [("one.test", &one), ("two.test", &two)] {
        let out = curl_https(name, port, ca, &[], &["/"]);
        assert!(
            out.status.success(),
            "{name}: {}\nlog:\n{}",
            output_text(&out.stderr),
            daemon.log_text()
        );
    }
    // The other keypair's certificate is not what two.test gets.
    let wrong = curl_https("two.test", port, &one, &[], &["/"]);
    assert!(!wrong.status.success(), "two.test verified against one.crt");
    // A name no certificate has: the first keypair.
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let default = s_client(port, "other.test", &one, request);
    assert!(
        output_text(&default.stdout).contains("HTTP/1.1 200"),
        "{}",
        output_text(&default.stderr)
    );
    let not_two = s_client(port, "other.test", &two, request);
    assert!(!output_text(&not_two.stdout).contains("HTTP/1.1 200"));
}

#[test]
fn a_key_that_is_not_its_certificates_is_refused_naming_file_and_line() {
    if !tools() {
        return;
    }
    let ssl = SslDir::new("tls-mismatch");
    ssl.keypair("www", &["www.test"]);
    ssl.keypair("other", &["other.test"]);
    std::fs::copy(ssl.key("other"), ssl.key("www")).expect("swap the key");
    let dir = e2e::ScratchDir::new("tls-mismatch-conf");
    let config = dir.write(
        "relayd.conf",
        &format!(
            "socket \"{}\"\n{}",
            dir.join("relayd.sock").display(),
            https_config(free_port(), free_port(), &["www"])
        ),
    );
    let key = ssl.key("www").display().to_string();
    for args in [&["-n"][..], &["-d"][..]] {
        let mut relayd = Command::new(bin("relayd"))
            .args(args)
            .arg("-f")
            .arg(&config)
            .env(e2e::SSL_DIR_VAR, &ssl.dir.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run relayd");
        let exited = wait_until(Duration::from_secs(20), || {
            matches!(relayd.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = relayd.kill();
        }
        let out = relayd.wait_with_output().expect("relayd output");
        let stderr = output_text(&out.stderr);
        assert!(
            exited && !out.status.success(),
            "relayd {args:?} accepted it:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("relayd.conf:4: private key {key}: ")),
            "relayd {args:?}:\n{stderr}"
        );
    }
}

#[test]
fn the_ocsp_staple_of_a_keypair_reaches_the_client() {
    if !tools() {
        return;
    }
    let ssl = SslDir::new("tls-ocsp");
    let ca = ssl.ca("ocspca");
    ssl.signed("www", "ocspca", &["www"]);
    ssl.ocsp_staple("www", "ocspca");
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::pong());
    let port = free_port();
    let config = tls_relay_config(1, "tcp", port, backend.port(), &["www"], &[]);
    let daemon = Daemon::start_with_ssl("tls-ocsp", &config, &ssl);
    let out = Command::new("openssl")
        .args(["s_client", "-status", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "www", "-verify_return_error", "-CAfile"])
        .arg(&ca)
        .stdin(Stdio::null())
        .output()
        .expect("run s_client");
    let text = output_text(&out.stdout);
    assert!(
        text.contains("OCSP Response Status: successful") && text.contains("Cert Status: good"),
        "{text}\n{}\nlog:\n{}",
        output_text(&out.stderr),
        daemon.log_text()
    );
}

#[test]
fn an_idle_tls_session_is_listed_then_closed_after_the_session_timeout() {
    if !tools() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let relay = TlsRelay::start("tls-timeout", "tcp", backend.port(), &["session timeout 2"]);
    let (port, ca, daemon) = (relay.port, &relay.ca, &relay.daemon);
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "www.test", "-CAfile"])
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run s_client");
    let listed = wait_until(Duration::from_secs(10), || {
        output_text(&daemon.relayctl(&["show", "sessions"]).stdout)
            .lines()
            .any(|l| l.starts_with("session "))
    });
    assert!(
        listed,
        "the TLS session is not in show sessions:\n{}",
        daemon.log_text()
    );
    // Nothing is sent: the relay closes the session, and s_client exits,
    // with its stdin still open.
    let ended = wait_until(Duration::from_secs(20), || {
        matches!(client.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = client.kill();
    }
    let _ = client.wait();
    assert!(
        ended,
        "an idle TLS session outlived its timeout:\n{}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains("session timeout"),
        "{}",
        daemon.log_text()
    );
}
