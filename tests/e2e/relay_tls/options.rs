//! relayd.conf's `tls` options: each accepted, accepted with a warning
//! naming its line, or refused naming file, line and option (`relayd
//! -n`); protocol versions as switched; session tickets shared by every
//! relay process, and no resumption without them.

use e2e::{
    bin, daemon_can_run, free_port, output_text, tools_installed, Daemon, ScratchDir, SslDir,
};
use std::process::{Command, Stdio};

/// `relayd -n` on an https relay whose protocol has `option` on line 3.
fn check(ssl: &SslDir, option: &str) -> (bool, String) {
    let dir = ScratchDir::new("tls-option");
    let config = dir.write(
        "relayd.conf",
        &format!(
            "http protocol p {{\n tls keypair www\n {option}\n}}\n\
             relay r {{\n listen on 127.0.0.1 port 8443 tls\n protocol p\n \
             forward to 127.0.0.1 port 80\n}}\n"
        ),
    );
    let out = Command::new(bin("relayd"))
        .arg("-n")
        .arg("-f")
        .arg(&config)
        .env(e2e::SSL_DIR_VAR, &ssl.dir.path)
        .output()
        .expect("run relayd -n");
    (out.status.success(), output_text(&out.stderr))
}

#[test]
fn every_tls_option_is_accepted_warned_about_or_refused_by_name() {
    if !tools_installed(&["openssl"]) {
        return;
    }
    let ssl = SslDir::new("tls-options");
    ssl.keypair("www", &["www.test"]);
    let accepted = [
        "tls ciphers \"HIGH:!aNULL\"",
        "tls ciphers \"secure\"",
        "tls ciphers \"ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384\"",
        "tls ecdhe \"X25519,P-256\"",
        "tls ecdhe \"default\"",
        "tls no edh",
        "tls session tickets",
        "tls no session tickets",
        "tls no cipher-server-preference",
        "tls { no tlsv1.2 }",
        "tls { no tlsv1.3 }",
        "tls no client-renegotiation",
    ];
    for option in accepted {
        let (ok, stderr) = check(&ssl, option);
        assert!(ok, "{option} refused:\n{stderr}");
        assert!(
            !stderr.contains("relayd.conf:3:"),
            "{option} warned:\n{stderr}"
        );
    }
    let warned = [
        ("tls sslv3", "tls sslv3 ignored"),
        ("tls tlsv1.0", "tls tlsv1.0 ignored"),
        ("tls tlsv1.1", "tls tlsv1.1 ignored"),
        (
            "tls client-renegotiation",
            "tls client-renegotiation ignored",
        ),
    ];
    for (option, words) in warned {
        let (ok, stderr) = check(&ssl, option);
        assert!(ok, "{option} refused:\n{stderr}");
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("relayd.conf:3: ") && l.contains(words)),
            "{option}: no warning naming its line:\n{stderr}"
        );
    }
    for option in ["tls edh", "tls edh params legacy", "tls edh params auto"] {
        let (ok, stderr) = check(&ssl, option);
        assert!(!ok, "{option} accepted:\n{stderr}");
        assert!(
            stderr.contains("relayd.conf:3: protocol p: tls edh: "),
            "{option}:\n{stderr}"
        );
    }
    // An inspection CA where relayd.conf(5)'s conditions do not hold (no
    // `forward with tls to destination`): accepted, not silently.
    let (ok, stderr) = check(&ssl, "tls ca cert \"/nonexistent/ca.crt\"");
    assert!(
        ok && stderr
            .lines()
            .any(|l| l.contains("relayd.conf:3: ") && l.contains("TLS inspection needs")),
        "{stderr}"
    );
}

/// `openssl s_client` with `args`, stdin closed: the handshake and the
/// session line (`New, ...` or `Reused, ...`).
fn handshake(port: u16, ca: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "www.test", "-verify_return_error", "-CAfile"])
        .arg(ca)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run s_client");
    output_text(&out.stdout)
}

#[test]
fn versions_follow_the_switches() {
    if !daemon_can_run() || !tools_installed(&["openssl"]) {
        return;
    }
    let ssl = SslDir::new("tls-versions");
    let ca = ssl.keypair("www", &["www.test"]);
    let (only13, only12) = (free_port(), free_port());
    let config = format!(
        "prefork 1\n\
         tcp protocol p13 {{\n tls keypair www\n tls no tlsv1.2\n}}\n\
         tcp protocol p12 {{\n tls keypair www\n tls no tlsv1.3\n}}\n\
         relay r13 {{\n listen on 127.0.0.1 port {only13} tls\n protocol p13\n \
         forward to 127.0.0.1 port {}\n}}\n\
         relay r12 {{\n listen on 127.0.0.1 port {only12} tls\n protocol p12\n \
         forward to 127.0.0.1 port {}\n}}\n",
        free_port(),
        free_port()
    );
    let daemon = Daemon::start_with_ssl("tls-versions", &config, &ssl);
    let spoke = |port, version| {
        handshake(port, &ca, &[version]).contains(&format!("New, TLSv1.{}", &version[6..]))
    };
    assert!(spoke(only13, "-tls1_3"), "{}", daemon.log_text());
    assert!(!spoke(only13, "-tls1_2"));
    assert!(spoke(only12, "-tls1_2"), "{}", daemon.log_text());
    assert!(!spoke(only12, "-tls1_3"));
}

#[test]
fn session_tickets_resume_on_any_process_and_only_when_on() {
    if !daemon_can_run() || !tools_installed(&["openssl"]) {
        return;
    }
    let ssl = SslDir::new("tls-tickets");
    let ca = ssl.keypair("www", &["www.test"]);
    let (with, without) = (free_port(), free_port());
    let config = format!(
        "prefork 3\n\
         tcp protocol resuming {{\n tls keypair www\n tls session tickets\n}}\n\
         tcp protocol fresh {{\n tls keypair www\n}}\n\
         relay resumes {{\n listen on 127.0.0.1 port {with} tls\n protocol resuming\n \
         forward to 127.0.0.1 port {}\n}}\n\
         relay never {{\n listen on 127.0.0.1 port {without} tls\n protocol fresh\n \
         forward to 127.0.0.1 port {}\n}}\n",
        free_port(),
        free_port()
    );
    let daemon = Daemon::start_with_ssl("tls-tickets", &config, &ssl);
    let dir = ScratchDir::new("tls-tickets-sessions");
    for (port, resumes) in [(with, true), (without, false)] {
        let session = dir.join(&format!("{port}.pem"));
        let session = session.to_str().expect("utf-8");
        let first = handshake(port, &ca, &["-tls1_2", "-sess_out", session]);
        assert!(
            first.contains("New, TLSv1.2"),
            "{first}\nlog:\n{}",
            daemon.log_text()
        );
        // SO_REUSEPORT spreads these over the three relay processes: each
        // resumes only if every process has the keys that made the ticket.
        for attempt in 0..6 {
            let again = handshake(port, &ca, &["-tls1_2", "-sess_in", session]);
            let reused = again.contains("Reused, TLSv1.2");
            assert_eq!(reused, resumes, "port {port}, attempt {attempt}:\n{again}");
        }
    }
}
