//! Privilege separation for TLS: after handshakes, the private key's
//! secret is in the memory of the ca processes and of no other relayd
//! process (not the parent, not a relay), and the ca processes are not
//! dumpable.

use e2e::{
    cmdline, curl_https, daemon_can_run, free_port, memory_holds, output_text, tls_relay_config,
    tools_installed, Daemon, HttpBackend, SslDir,
};

#[test]
fn the_private_key_is_only_in_the_ca_processes() {
    if !daemon_can_run() || !tools_installed(&["openssl", "curl"]) {
        return;
    }
    let ssl = SslDir::new("tls-isolation");
    let ca = ssl.keypair("www", &["www.test"]);
    let secret = ssl.ec_secret("www");
    let backend = HttpBackend::start("isolated");
    let port = free_port();
    let config = tls_relay_config(2, "http", port, backend.port(), &["www"], &[]);
    let mut daemon = Daemon::start_with_ssl("tls-isolation", &config, &ssl);
    for n in 0..6 {
        let out = curl_https("www.test", port, &ca, &[], &[&format!("/{n}")]);
        assert!(
            out.status.success(),
            "curl: {}\nlog:\n{}",
            output_text(&out.stderr),
            daemon.log_text()
        );
    }
    let mut processes = vec![(daemon.pid, "relayd: parent".to_string())];
    processes.extend(daemon.children().into_iter().map(|pid| (pid, cmdline(pid))));
    // As the key file's DER has it (big-endian), and as aws-lc keeps it
    // (little-endian words).
    let reversed: Vec<u8> = secret.iter().rev().copied().collect();
    let mut holders = Vec::new();
    for (pid, title) in &processes {
        if memory_holds(*pid, &secret) || memory_holds(*pid, &reversed) {
            holders.push(title.clone());
        }
    }
    let cas: Vec<&String> = holders
        .iter()
        .filter(|t| t.starts_with("relayd: ca"))
        .collect();
    assert!(!cas.is_empty(), "no ca holds the key: {processes:?}");
    assert_eq!(
        cas.len(),
        holders.len(),
        "the key's secret is outside the ca processes: {holders:?}"
    );
    for (pid, title) in processes
        .iter()
        .filter(|(_, t)| t.starts_with("relayd: ca"))
    {
        let owner = std::fs::metadata(format!("/proc/{pid}/mem"))
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .expect("stat mem");
        assert_eq!(
            owner, 0,
            "{title} is dumpable: its memory belongs to its user"
        );
    }
}
