//! End-to-end: every stream check method of relayd.conf(5) against real
//! servers on 127.0.0.x, each up against a right server and down against a
//! wrong one (wrong code, digest, banner or answer, a closed port, a server
//! that accepts and never answers), plus `check script` run by the parent.
//! Needs root, and python3 and openssl(1) for the TLS server.

use e2e::{
    daemon_can_run, expect_state, free_port, host_detail, or_skip, show_hosts, user_ids, Daemon,
    ScratchDir, TcpBackend, TcpBehaviour, TlsServer, DAEMON_USER,
};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Long enough for a first check round on a loaded machine.
const FIRST_ROUND: Duration = Duration::from_secs(4);

/// One table with one host, used by a relay of its own with `check`.
struct Case {
    host: &'static str,
    port: u16,
    check: String,
}

fn start(label: &str, cases: &[Case]) -> Daemon {
    let mut body = String::from("prefork 1\ninterval 1\nlog state changes\n");
    for (n, case) in cases.iter().enumerate() {
        body += &format!(
            "table <t{n}> {{ {} }}\n\
             relay r{n} {{\n\
             \tlisten on 127.0.0.1 port {}\n\
             \tforward to <t{n}> port {} {}\n\
             }}\n",
            case.host,
            free_port(),
            case.port,
            case.check
        );
    }
    Daemon::start(label, &body)
}

fn backend(host: &str, behaviour: TcpBehaviour) -> TcpBackend {
    let ip: Ipv4Addr = host.parse().expect("IPv4 host");
    TcpBackend::start((ip, 0), behaviour)
}

fn expect_error(daemon: &Daemon, host: &str, error: &str) {
    let detail = host_detail(daemon, host);
    assert!(
        detail.contains(&format!("error: {error}")),
        "host {host}: expected error {error:?}, got {detail:?}\n{}",
        show_hosts(daemon)
    );
}

#[test]
fn check_tls_needs_a_full_handshake() {
    if !daemon_can_run() {
        return;
    }
    let Some(tls) = or_skip(TlsServer::start()) else {
        return;
    };
    let plain = backend("127.0.0.21", TcpBehaviour::AcceptAndClose);
    let silent = backend("127.0.0.22", TcpBehaviour::Silent);
    let daemon = start(
        "check-tls",
        &[
            Case {
                host: "127.0.0.1",
                port: tls.port,
                check: "check tls".into(),
            },
            Case {
                host: "127.0.0.21",
                port: plain.addr.port(),
                check: "check tls".into(),
            },
            Case {
                host: "127.0.0.22",
                port: silent.addr.port(),
                check: "check tls".into(),
            },
        ],
    );
    expect_state(&daemon, "127.0.0.1", "up", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.21", "down", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.22", "down", FIRST_ROUND);
    expect_error(&daemon, "127.0.0.22", "tls connect timeout");
}

#[test]
fn check_http_code_compares_the_status_code() {
    if !daemon_can_run() {
        return;
    }
    let ok = backend("127.0.0.31", TcpBehaviour::http_answer("200 OK", "fine\n"));
    let missing = backend(
        "127.0.0.32",
        TcpBehaviour::http_answer("404 Not Found", "no\n"),
    );
    let garbage = backend(
        "127.0.0.33",
        TcpBehaviour::Reply {
            until: b"\r\n\r\n".to_vec(),
            answer: b"garbage\r\n\r\n".to_vec(),
        },
    );
    let silent = backend("127.0.0.34", TcpBehaviour::Silent);
    // Without the TLS server the https case is skipped (or fails).
    let tls = or_skip(TlsServer::start());
    let code_200 = "check http \"/\" code 200".to_string();
    let mut cases = vec![
        Case {
            host: "127.0.0.31",
            port: ok.addr.port(),
            check: code_200.clone(),
        },
        Case {
            host: "127.0.0.32",
            port: missing.addr.port(),
            check: code_200.clone(),
        },
        Case {
            host: "127.0.0.33",
            port: garbage.addr.port(),
            check: code_200.clone(),
        },
        Case {
            host: "127.0.0.34",
            port: silent.addr.port(),
            check: code_200.clone(),
        },
        // A TLS server is not an HTTP server.
        Case {
            host: "127.0.0.35",
            port: ok.addr.port(),
            check: "check https \"/\" code 200".into(),
        },
    ];
    if let Some(tls) = &tls {
        cases.push(Case {
            host: "127.0.0.1",
            port: tls.port,
            check: "check https \"/\" host \"localhost\" code 200".into(),
        });
    }
    // 127.0.0.35 has no listener on that port: connection refused.
    let daemon = start("check-http", &cases);
    expect_state(&daemon, "127.0.0.31", "up", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.32", "down", FIRST_ROUND);
    expect_error(&daemon, "127.0.0.32", "http code mismatch");
    expect_state(&daemon, "127.0.0.33", "down", FIRST_ROUND);
    expect_error(&daemon, "127.0.0.33", "http code malformed");
    expect_state(&daemon, "127.0.0.34", "down", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.35", "down", FIRST_ROUND);
    if tls.is_some() {
        expect_state(&daemon, "127.0.0.1", "up", FIRST_ROUND);
    }
}

#[test]
fn check_http_digest_hashes_the_body() {
    if !daemon_can_run() {
        return;
    }
    // printf 'hello relayd\n' | sha1sum / md5sum
    let sha1 = "24edf487ddc9b043d8fad0bdd05c866de52ace1b";
    let md5 = "253be3ee493d94e0a87821fbb11d8715";
    let right = backend(
        "127.0.0.41",
        TcpBehaviour::http_answer("200 OK", "hello relayd\n"),
    );
    let wrong = backend(
        "127.0.0.42",
        TcpBehaviour::http_answer("200 OK", "hello world\n"),
    );
    let right_md5 = backend(
        "127.0.0.43",
        TcpBehaviour::http_answer("200 OK", "hello relayd\n"),
    );
    // Without the TLS server the https case is skipped (or fails).
    let tls = or_skip(TlsServer::start());
    let mut cases = vec![
        Case {
            host: "127.0.0.41",
            port: right.addr.port(),
            check: format!("check http \"/index.txt\" digest \"{sha1}\""),
        },
        Case {
            host: "127.0.0.42",
            port: wrong.addr.port(),
            check: format!("check http \"/index.txt\" digest \"{sha1}\""),
        },
        Case {
            host: "127.0.0.43",
            port: right_md5.addr.port(),
            check: format!("check http \"/\" digest \"{md5}\""),
        },
    ];
    if let Some(tls) = &tls {
        tls.serve_file("index.txt", "hello relayd\n");
        cases.push(Case {
            host: "127.0.0.1",
            port: tls.port,
            check: format!("check https \"/index.txt\" digest \"{sha1}\""),
        });
    }
    let daemon = start("check-digest", &cases);
    expect_state(&daemon, "127.0.0.41", "up", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.42", "down", FIRST_ROUND);
    expect_error(&daemon, "127.0.0.42", "http digest mismatch");
    expect_state(&daemon, "127.0.0.43", "up", FIRST_ROUND);
    if tls.is_some() {
        expect_state(&daemon, "127.0.0.1", "up", FIRST_ROUND);
    }
}

#[test]
fn check_send_expect_matches_a_glob_and_reads_banners() {
    if !daemon_can_run() {
        return;
    }
    let answer = |text: &str| TcpBehaviour::Reply {
        until: b"PING".to_vec(),
        answer: text.as_bytes().to_vec(),
    };
    let pong = backend("127.0.0.51", answer("PONG ok\r\n"));
    let error = backend("127.0.0.52", answer("ERR\r\n"));
    let silent = backend("127.0.0.53", TcpBehaviour::Silent);
    let banner = backend(
        "127.0.0.54",
        TcpBehaviour::Banner(b"220 ready\r\n".to_vec()),
    );
    let refusal = backend(
        "127.0.0.55",
        TcpBehaviour::Banner(b"554 go away\r\n".to_vec()),
    );
    let ping = "check send \"PING\" expect \"PONG*\"".to_string();
    let banner_check = "check send nothing expect \"220 *\"".to_string();
    let daemon = start(
        "check-send",
        &[
            Case {
                host: "127.0.0.51",
                port: pong.addr.port(),
                check: ping.clone(),
            },
            Case {
                host: "127.0.0.52",
                port: error.addr.port(),
                check: ping.clone(),
            },
            Case {
                host: "127.0.0.53",
                port: silent.addr.port(),
                check: ping.clone(),
            },
            Case {
                host: "127.0.0.54",
                port: banner.addr.port(),
                check: banner_check.clone(),
            },
            Case {
                host: "127.0.0.55",
                port: refusal.addr.port(),
                check: banner_check.clone(),
            },
        ],
    );
    expect_state(&daemon, "127.0.0.51", "up", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.52", "down", FIRST_ROUND);
    expect_error(&daemon, "127.0.0.52", "send/expect failed");
    expect_state(&daemon, "127.0.0.53", "down", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.54", "up", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.55", "down", FIRST_ROUND);
}

#[test]
fn check_binary_compares_bytes() {
    if !daemon_can_run() {
        return;
    }
    let answer = |bytes: &[u8]| TcpBehaviour::Reply {
        until: vec![0x01, 0x02],
        answer: bytes.to_vec(),
    };
    let right = backend("127.0.0.61", answer(&[0x0a, 0x0b, 0x0c]));
    let wrong = backend("127.0.0.62", answer(&[0xff, 0xff]));
    let check = "check binary send \"0102\" expect \"0a0b\"".to_string();
    let daemon = start(
        "check-binary",
        &[
            Case {
                host: "127.0.0.61",
                port: right.addr.port(),
                check: check.clone(),
            },
            Case {
                host: "127.0.0.62",
                port: wrong.addr.port(),
                check: check.clone(),
            },
        ],
    );
    expect_state(&daemon, "127.0.0.61", "up", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.62", "down", FIRST_ROUND);
    expect_error(&daemon, "127.0.0.62", "send/expect failed");
}

#[test]
fn check_script_runs_unprivileged_with_the_host_name() {
    if !daemon_can_run() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (uid, _) = user_ids(DAEMON_USER).expect("daemon user");
    let dir = ScratchDir::new("check-script");
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod scratch dir");
    let script = dir.join("check.sh");
    // Up (exit 1) only for .71 and only as the unprivileged user; .73
    // outlives the timeout and is killed.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             [ \"$(id -u)\" = {uid} ] || exit 0\n\
             case \"$1\" in\n\
             127.0.0.71) exit 1 ;;\n\
             127.0.0.73) sleep 5; exit 1 ;;\n\
             esac\n\
             exit 0\n"
        ),
    )
    .expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("chmod script");
    let check = format!("check script \"{}\"", script.display());
    let cases: Vec<Case> = ["127.0.0.71", "127.0.0.72", "127.0.0.73"]
        .into_iter()
        .map(|host| Case {
            host,
            port: 80,
            check: check.clone(),
        })
        .collect();
    let daemon = start("check-script", &cases);
    expect_state(&daemon, "127.0.0.71", "up", FIRST_ROUND);
    expect_state(&daemon, "127.0.0.72", "down", FIRST_ROUND);
    expect_error(&daemon, "127.0.0.72", "script failed");
    expect_state(&daemon, "127.0.0.73", "down", FIRST_ROUND);
    expect_error(&daemon, "127.0.0.73", "script timeout");
}
