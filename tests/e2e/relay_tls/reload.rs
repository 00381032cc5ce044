//! Reload with a renewed certificate and key (an ACME renewal): new
//! sessions get the new certificate, a session open across the reload
//! goes on.

use e2e::{
    curl_https, daemon_can_run, free_port, output_text, tls_relay_config, tools_installed,
    wait_until, Daemon, HttpBackend, SslDir,
};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_renewed_certificate_serves_new_sessions_and_an_open_one_goes_on() {
    if !daemon_can_run() || !tools_installed(&["openssl", "curl"]) {
        return;
    }
    let ssl = SslDir::new("tls-renew");
    ssl.keypair("www", &["www.test"]);
    let old = ssl.dir.join("old.pem");
    std::fs::copy(ssl.certificate("www"), &old).expect("keep the old certificate");
    let backend = HttpBackend::start("renewed");
    let port = free_port();
    let config = tls_relay_config(2, "http", port, backend.port(), &["www"], &[]);
    let daemon = Daemon::start_with_ssl("tls-renew", &config, &ssl);
    // A session that stays open across the reload.
    let mut open = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "www.test", "-CAfile"])
        .arg(&old)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run s_client");
    let mut input = open.stdin.take().expect("stdin");
    let mut output = open.stdout.take().expect("stdout");
    let seen = Arc::new(Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = output.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                seen.lock().expect("seen").push_str(&text);
            }
        })
    };
    let answered = |n: usize| {
        wait_until(Duration::from_secs(10), || {
            seen.lock().expect("seen").matches("HTTP/1.1 200").count() >= n
        })
    };
    input
        .write_all(b"GET /before HTTP/1.1\r\nHost: www.test\r\n\r\n")
        .expect("request");
    assert!(
        answered(1),
        "no answer before the reload:\n{}",
        daemon.log_text()
    );

    ssl.keypair("www", &["www.test"]);
    let new = ssl.certificate("www");
    let reload = daemon.relayctl(&["reload"]);
    assert!(
        reload.status.success(),
        "reload: {}{}\nlog:\n{}",
        output_text(&reload.stdout),
        output_text(&reload.stderr),
        daemon.log_text()
    );
    let fresh = curl_https("www.test", port, &new, &[], &["/fresh"]);
    assert!(
        fresh.status.success(),
        "the new certificate: {}\nlog:\n{}",
        output_text(&fresh.stderr),
        daemon.log_text()
    );
    let stale = curl_https("www.test", port, &old, &[], &["/stale"]);
    assert!(
        !stale.status.success(),
        "a new session got the old certificate"
    );

    input
        .write_all(b"GET /after HTTP/1.1\r\nHost: www.test\r\n\r\n")
        .expect("request after the reload");
    assert!(
        answered(2),
        "the open session did not go on: {}\nlog:\n{}",
        seen.lock().expect("seen"),
        daemon.log_text()
    );
    drop(input);
    let _ = open.kill();
    let _ = open.wait();
    let _ = reader.join();
    let lines = backend.request_lines();
    assert!(
        lines.contains(&"GET /after HTTP/1.1".to_string()),
        "{lines:?}"
    );
}
