//! End-to-end: reloads under load lose nothing. Clients loop against an
//! HTTP relay (a connection per request, and keep-alive) and a TCP relay
//! while relayd reloads 20 times, with relays added and removed, a reload
//! whose socket cannot be bound and one that does not parse in between:
//! no connection is refused or reset and every answer is whole; hosts of
//! both configurations keep their state (one state change line each);
//! a session opened before a reload ends under the old configuration.

use e2e::{
    daemon_can_run, free_port, host_state, read_line, send_signal, stdout_text, wait_hosts_up,
    wait_until, ClientLoop, Daemon, LoadAnswer, LoadBackend, LoopKind, TcpBackend, TcpBehaviour,
};
use std::io::Write;
use std::time::Duration;

struct Ports {
    http: u16,
    tcp: u16,
    web: u16,
    echo: u16,
}

/// Two relays that stay, and `extra` relays on ports of their own that
/// come and go.
fn config(ports: &Ports, extra: &[u16]) -> String {
    let mut text = format!(
        "prefork 2\n\
         log state changes\n\
         interval 1\n\
         table <web> {{ 127.0.0.1 }}\n\
         table <echo> {{ 127.0.0.1 }}\n\
         http protocol p {{ }}\n\
         relay web {{\n\
         \tlisten on 127.0.0.1 port {}\n\
         \tprotocol p\n\
         \tforward to <web> port {} check tcp\n\
         }}\n\
         relay echo {{\n\
         \tlisten on 127.0.0.1 port {}\n\
         \tforward to <echo> port {} check tcp\n\
         }}\n",
        ports.http, ports.web, ports.tcp, ports.echo
    );
    for port in extra {
        text += &format!(
            "relay extra{port} {{\n\
             \tlisten on 127.0.0.1 port {port}\n\
             \tforward to 127.0.0.1 port {}\n\
             }}\n",
            ports.echo
        );
    }
    text
}

fn state_change_lines(daemon: &Daemon) -> usize {
    daemon
        .log_text()
        .lines()
        .filter(|l| l.contains("state unknown -> up"))
        .count()
}

fn reloads_done(daemon: &Daemon) -> usize {
    daemon
        .log_text()
        .matches("reload: configuration running")
        .count()
}

/// Check rounds the hce finished (its `-v` lines).
fn rounds_done(daemon: &Daemon) -> usize {
    daemon.log_text().matches(": round done in ").count()
}

#[test]
fn twenty_reloads_under_load_lose_nothing() {
    if !daemon_can_run() {
        return;
    }
    let web = LoadBackend::start("a", LoadAnswer::Http);
    let echo = LoadBackend::start("e", LoadAnswer::Echo);
    let ports = Ports {
        http: free_port(),
        tcp: free_port(),
        web: web.port,
        echo: echo.port,
    };
    let (one, two) = (free_port(), free_port());
    let daemon = Daemon::start("hitless", &config(&ports, &[one]));
    wait_hosts_up(&daemon, 2);
    let changes = state_change_lines(&daemon);
    assert_eq!(changes, 2, "{}", daemon.log_text());

    let loops = [
        ClientLoop::start(ports.http, LoopKind::HttpPerRequest),
        ClientLoop::start(ports.http, LoopKind::HttpPerRequest),
        ClientLoop::start(ports.http, LoopKind::HttpKeepAlive),
        ClientLoop::start(ports.tcp, LoopKind::TcpEcho),
    ];
    // A port another program holds without SO_REUSEPORT cannot be bound.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a taken port");
    let taken_port = taken.local_addr().expect("its port").port();
    for round in 0..20 {
        let extra = if round % 2 == 0 { [two] } else { [one] };
        daemon.rewrite_config(&config(&ports, &extra));
        let out = if round % 5 == 4 {
            send_signal(daemon.pid, "HUP");
            let reloaded = wait_until(Duration::from_secs(20), || {
                reloads_done(&daemon) == round + 1
            });
            assert!(reloaded, "SIGHUP {round}:\n{}", daemon.log_text());
            continue;
        } else {
            daemon.relayctl(&["reload"])
        };
        assert!(
            out.status.success(),
            "reload {round}: {}\n{}",
            stdout_text(&out),
            daemon.log_text()
        );
        if round == 7 {
            daemon.rewrite_config(&config(&ports, &[taken_port]));
            let out = daemon.relayctl(&["reload"]);
            assert!(!out.status.success(), "binding a taken port must fail");
            daemon.rewrite_config("relay broken {\n\tlisten on\n");
            let out = daemon.relayctl(&["reload"]);
            assert!(!out.status.success(), "a broken file must fail");
        }
    }
    let counts: Vec<_> = loops.into_iter().map(ClientLoop::finish).collect();
    for (n, count) in counts.iter().enumerate() {
        assert!(count.ok > 0, "loop {n} got nothing through: {count:?}");
        assert_eq!(
            count.failures(),
            0,
            "loop {n} lost requests across 20 reloads: {count:?}\n{}",
            daemon.log_text()
        );
    }
    eprintln!("requests through 20 reloads: {counts:?}");
    drop(taken);
    // Both tables are checked again after the last reload.
    let rounds = rounds_done(&daemon);
    let checked = wait_until(Duration::from_secs(20), || {
        rounds_done(&daemon) >= rounds + 2
    });
    assert!(
        checked,
        "no check after the reloads:\n{}",
        daemon.log_text()
    );
    assert_eq!(
        state_change_lines(&daemon),
        changes,
        "hosts of both configurations changed state:\n{}",
        daemon.log_text()
    );
    assert_eq!(host_state(&daemon, "127.0.0.1").as_deref(), Some("up"));
}

#[test]
fn a_session_opened_before_a_reload_ends_under_the_old_configuration() {
    if !daemon_can_run() {
        return;
    }
    let old = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Named("old".into()));
    let new = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Named("new".into()));
    let port = free_port();
    let relay = |backend: u16| {
        format!(
            "prefork 1\n\
             relay r {{\n\
             \tlisten on 127.0.0.1 port {port}\n\
             \tforward to 127.0.0.1 port {backend}\n\
             }}\n"
        )
    };
    let daemon = Daemon::start("before-reload", &relay(old.port()));
    let mut session = e2e::connect(port);
    assert_eq!(read_line(&mut session).expect("name"), "old");
    daemon.rewrite_config(&relay(new.port()));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "reload: {}", daemon.log_text());
    assert_eq!(e2e::which_backend(port), "new", "new sessions, new config");
    // The old session still flows both ways, then ends normally.
    session.write_all(b"still here\n").expect("write");
    assert_eq!(read_line(&mut session).expect("echo"), "still here");
    session
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    assert_eq!(read_line(&mut session).expect("end"), "");
}
