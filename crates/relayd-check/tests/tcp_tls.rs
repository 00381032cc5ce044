//! `check tcp` and `check tls` against real servers on 127.0.0.1.

mod support;

use relayd_check::{check_host, HostError};
use relayd_config::Check;
use support::{blackhole, closed_port, serve, serve_tls, Reply, BOUND, LONG, SHORT};

#[tokio::test]
async fn tcp_is_up_when_the_port_accepts() {
    let server = serve(Reply::Silent).await;
    let outcome = check_host(&Check::Tcp, &server.target(), LONG, None).await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(outcome.error, HostError::TcpConnectOk);
    assert!(outcome.elapsed < LONG);
}

#[tokio::test]
async fn tcp_with_ip_ttl_still_reaches_loopback() {
    let server = serve(Reply::Silent).await;
    let mut target = server.target();
    target.ip_ttl = Some(1);
    let outcome = check_host(&Check::Tcp, &target, LONG, None).await;
    assert!(outcome.up, "{outcome:?}");
}

#[tokio::test]
async fn tcp_is_down_on_a_closed_port() {
    let outcome = check_host(&Check::Tcp, &closed_port().await, LONG, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::TcpConnectFail);
    assert_eq!(outcome.error.to_string(), "tcp connect failed");
}

#[tokio::test]
async fn tcp_times_out_when_syns_are_dropped() {
    let (target, _fillers, _listener) = blackhole().await;
    let outcome = check_host(&Check::Tcp, &target, SHORT, None).await;
    assert!(!outcome.up, "{outcome:?}");
    assert_eq!(outcome.error, HostError::TcpConnectTimeout);
    assert!(outcome.elapsed >= SHORT, "{outcome:?}");
    assert!(
        outcome.elapsed < BOUND,
        "bounded by the timeout: {outcome:?}"
    );
}

#[tokio::test]
async fn tls_is_up_after_a_handshake_with_a_self_signed_server() {
    let server = serve_tls(Reply::Silent).await;
    let outcome = check_host(&Check::Tls, &server.target(), LONG, None).await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(outcome.error, HostError::TlsConnectOk);
}

#[tokio::test]
async fn tls_fails_against_a_plain_server() {
    let server = serve(Reply::Banner(b"HTTP/1.0 400 Bad Request\r\n\r\n".to_vec())).await;
    let outcome = check_host(&Check::Tls, &server.target(), LONG, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::TlsConnectFail);
}

#[tokio::test]
async fn tls_times_out_against_a_silent_plain_server() {
    let server = serve(Reply::Silent).await;
    let outcome = check_host(&Check::Tls, &server.target(), SHORT, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::TlsConnectTimeout);
    assert!(outcome.elapsed < BOUND, "{outcome:?}");
}

#[tokio::test]
async fn tls_is_down_on_a_closed_port() {
    let outcome = check_host(&Check::Tls, &closed_port().await, LONG, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::TcpConnectFail);
}

#[tokio::test]
async fn no_check_and_script_are_not_run_here() {
    let target = closed_port().await;
    for check in [
        Check::None,
        Check::Script {
            path: "/bin/true".into(),
        },
    ] {
        let outcome = check_host(&check, &target, SHORT, None).await;
        assert!(!outcome.up);
        assert_eq!(outcome.error, HostError::None);
    }
}
