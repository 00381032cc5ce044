//! TLS to backends: `forward with tls` checks nothing without `tls ca
//! file` (as relayd, said once in the log), verifies the chain with it
//! (a backend whose certificate does not verify gets no session, logged
//! with relay and host), `tls verify name` checks the name too; TLS on
//! both sides, and `tls client ca` requiring client certificates.

use e2e::{
    curl_https, daemon_can_run, free_port, or_skip, output_text, tools_installed, wait_until,
    Daemon, SslDir, TlsServer,
};
use std::process::{Command, Output};
use std::time::Duration;

fn tools() -> bool {
    daemon_can_run() && tools_installed(&["openssl", "curl", "python3"])
}

fn curl_plain(port: u16, path: &str) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20", "-i"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("run curl")
}

/// A backend with a certificate for backend.test issued by CA `good`.
fn backend(ssl: &SslDir) -> Option<TlsServer> {
    ssl.ca("good");
    ssl.signed("backend", "good", &["backend.test"]);
    let server = or_skip(TlsServer::start_with(
        &ssl.certificate("backend"),
        &ssl.key("backend"),
    ))?;
    server.serve_file("hello.txt", "hello over tls\n");
    Some(server)
}

/// A relay `NAME` on `port` with protocol options `tls`, forwarding with
/// TLS to the backend.
fn relay(name: &str, kind: &str, port: u16, backend: u16, tls: &str) -> String {
    format!(
        "{kind} protocol {name} {{\n{tls}\n}}\n\
         relay {name} {{\n listen on 127.0.0.1 port {port}\n protocol {name}\n \
         forward with tls to 127.0.0.1 port {backend}\n}}\n"
    )
}

#[test]
fn without_ca_file_nothing_is_checked_and_the_log_says_so() {
    if !tools() {
        return;
    }
    let ssl = SslDir::new("tls-fwd-plain");
    let Some(server) = backend(&ssl) else { return };
    let port = free_port();
    let config = format!("prefork 1\n{}", relay("open", "tcp", port, server.port, ""));
    let daemon = Daemon::start_with_ssl("tls-fwd-plain", &config, &ssl);
    let out = curl_plain(port, "/hello.txt");
    assert!(
        output_text(&out.stdout).contains("hello over tls"),
        "{}\n{}\nlog:\n{}",
        output_text(&out.stdout),
        output_text(&out.stderr),
        daemon.log_text()
    );
    let log = daemon.log_text();
    assert_eq!(
        log.matches("relay open: forward with tls: backend certificates are not verified")
            .count(),
        1,
        "{log}"
    );
}

#[test]
fn ca_file_verifies_the_chain_and_a_stranger_gets_no_session() {
    if !tools() {
        return;
    }
    let ssl = SslDir::new("tls-fwd-ca");
    let Some(server) = backend(&ssl) else { return };
    let other = ssl.ca("other");
    let good = ssl.certificate("good");
    let (trusting, suspicious, named, misnamed) =
        (free_port(), free_port(), free_port(), free_port());
    let ca_file = |path: &std::path::Path| format!(" tls ca file \"{}\"", path.display());
    let config = format!(
        "prefork 1\n{}{}{}{}",
        relay("trusting", "http", trusting, server.port, &ca_file(&good)),
        relay(
            "suspicious",
            "http",
            suspicious,
            server.port,
            &format!("{}\n return error", ca_file(&other))
        ),
        relay(
            "named",
            "http",
            named,
            server.port,
            &format!("{}\n tls verify name backend.test", ca_file(&good))
        ),
        relay(
            "misnamed",
            "tcp",
            misnamed,
            server.port,
            &format!("{}\n tls verify name other.test", ca_file(&good))
        ),
    );
    let daemon = Daemon::start_with_ssl("tls-fwd-ca", &config, &ssl);
    for port in [trusting, named] {
        let out = curl_plain(port, "/hello.txt");
        assert!(
            output_text(&out.stdout).contains("hello over tls"),
            "port {port}: {}\n{}\nlog:\n{}",
            output_text(&out.stdout),
            output_text(&out.stderr),
            daemon.log_text()
        );
    }
    let refused = curl_plain(suspicious, "/hello.txt");
    let answer = output_text(&refused.stdout);
    assert!(!answer.contains("hello over tls"), "{answer}");
    assert!(
        answer.starts_with("HTTP/1.0 502"),
        "an error page: {answer}"
    );
    let misnamed_answer = curl_plain(misnamed, "/hello.txt");
    assert!(!output_text(&misnamed_answer.stdout).contains("hello over tls"));
    let backend = format!("127.0.0.1:{}", server.port);
    let logged = wait_until(Duration::from_secs(5), || {
        let log = daemon.log_text();
        ["suspicious", "misnamed"].iter().all(|relay| {
            log.lines().any(|l| {
                l.contains(&format!("relay {relay}"))
                    && l.contains(&backend)
                    && l.contains("TLS handshake failed")
            })
        })
    });
    assert!(
        logged,
        "refusals logged with relay and host:\n{}",
        daemon.log_text()
    );
}

#[test]
fn tls_on_both_sides_with_client_certificates_required() {
    if !tools() {
        return;
    }
    let ssl = SslDir::new("tls-both");
    let Some(server) = backend(&ssl) else { return };
    ssl.ca("clients");
    ssl.signed("alice", "clients", &["alice.test"]);
    ssl.signed("www", "good", &["www.test"]);
    let port = free_port();
    let config = format!(
        "prefork 1\nhttp protocol both {{\n tls keypair www\n tls ca file \"{}\"\n \
         tls client ca \"{}\"\n}}\n\
         relay both {{\n listen on 127.0.0.1 port {port} tls\n protocol both\n \
         forward with tls to 127.0.0.1 port {}\n}}\n",
        ssl.certificate("good").display(),
        ssl.certificate("clients").display(),
        server.port
    );
    let daemon = Daemon::start_with_ssl("tls-both", &config, &ssl);
    let good = ssl.certificate("good");
    let (cert, key) = (ssl.certificate("alice"), ssl.key("alice"));
    let client = [
        "--cert",
        cert.to_str().expect("utf-8"),
        "--key",
        key.to_str().expect("utf-8"),
    ];
    let out = curl_https("www.test", port, &good, &client, &["/hello.txt"]);
    assert!(
        output_text(&out.stdout).contains("hello over tls"),
        "{}\nlog:\n{}",
        output_text(&out.stderr),
        daemon.log_text()
    );
    let anonymous = curl_https("www.test", port, &good, &[], &["/hello.txt"]);
    assert!(
        !output_text(&anonymous.stdout).contains("hello over tls"),
        "a client without a certificate got through"
    );
    // A certificate of another CA is refused too.
    let stranger = SslDir::new("tls-both-stranger");
    stranger.ca("elsewhere");
    stranger.signed("mallory", "elsewhere", &["mallory.test"]);
    let (cert, key) = (stranger.certificate("mallory"), stranger.key("mallory"));
    let foreign = [
        "--cert",
        cert.to_str().expect("utf-8"),
        "--key",
        key.to_str().expect("utf-8"),
    ];
    let refused = curl_https("www.test", port, &good, &foreign, &["/hello.txt"]);
    assert!(!output_text(&refused.stdout).contains("hello over tls"));
}
