//! `check send ... expect ...` and `check binary ...` against real servers.

mod support;

use relayd_check::{check_host, HostError, Outcome, Target};
use relayd_config::Check;
use support::{closed_port, serve, serve_tls, Reply, BOUND, LONG, SHORT};

async fn send(target: &Target, send: &str, expect: &str, tls: bool) -> Outcome {
    let check = Check::Send {
        send: send.into(),
        expect: expect.into(),
        tls,
    };
    check_host(&check, target, LONG, None).await
}

async fn binary(target: &Target, send: &[u8], expect: &[u8], tls: bool) -> Outcome {
    let check = Check::Binary {
        send: send.to_vec(),
        expect: expect.to_vec(),
        tls,
    };
    check_host(&check, target, LONG, None).await
}

fn after(request_end: &[u8], response: &[u8]) -> Reply {
    Reply::AfterRequest {
        request_end: request_end.to_vec(),
        response: response.to_vec(),
    }
}

#[tokio::test]
async fn empty_send_reads_the_banner() {
    let server = serve(Reply::Banner(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec())).await;
    let outcome = send(&server.target(), "", "SSH-2.0*", false).await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(outcome.error, HostError::SendExpectOk);
}

#[tokio::test]
async fn wrong_banner_fails() {
    let server = serve(Reply::Banner(b"220 smtp ready\r\n".to_vec())).await;
    let outcome = send(&server.target(), "", "SSH-2.0*", false).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::SendExpectFail);
    assert_eq!(outcome.error.to_string(), "send/expect failed");
}

#[tokio::test]
async fn request_and_answer() {
    let server = serve(after(b"PING\r\n", b"+PONG\r\n")).await;
    let outcome = send(&server.target(), "PING\r\n", "+PONG*", false).await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(server.requests(), vec![b"PING\r\n".to_vec()]);
}

#[tokio::test]
async fn answer_over_tls() {
    let server = serve_tls(after(b"PING\r\n", b"+PONG\r\n")).await;
    let outcome = send(&server.target(), "PING\r\n", "+PONG*", true).await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(outcome.error, HostError::SendExpectOk);
}

#[tokio::test]
async fn unmatched_banner_is_judged_when_time_is_up() {
    // The server says something, never what is expected, and stays
    // connected: judged on what arrived when the time is up.
    let server = serve(Reply::BannerAndHold(b"220 smtp ready\r\n".to_vec())).await;
    let check = Check::Send {
        send: String::new(),
        expect: "SSH-2.0*".into(),
        tls: false,
    };
    let outcome = check_host(&check, &server.target(), SHORT, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::SendExpectFail);
    assert!(outcome.elapsed >= SHORT, "{outcome:?}");
    assert!(outcome.elapsed < BOUND, "{outcome:?}");
}

#[tokio::test]
async fn silent_server_times_out_reading() {
    let server = serve(Reply::Silent).await;
    let check = Check::Send {
        send: String::new(),
        expect: "*".into(),
        tls: false,
    };
    let outcome = check_host(&check, &server.target(), SHORT, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::TcpReadTimeout);
    assert!(outcome.elapsed < BOUND, "{outcome:?}");
}

#[tokio::test]
async fn tls_against_a_plain_server_fails() {
    let server = serve(Reply::Banner(b"SSH-2.0-x\r\n".to_vec())).await;
    let outcome = send(&server.target(), "", "SSH-2.0*", true).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::TlsConnectFail);
}

#[tokio::test]
async fn closed_port_is_down() {
    let outcome = send(&closed_port().await, "", "*", false).await;
    assert_eq!(outcome.error, HostError::TcpConnectFail);
}

#[tokio::test]
async fn binary_prefix_matches() {
    let server = serve(after(&[0xde, 0xad], &[0xbe, 0xef, 0x00, 0x01, 0x02])).await;
    let outcome = binary(&server.target(), &[0xde, 0xad], &[0xbe, 0xef, 0x00], false).await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(outcome.error, HostError::SendExpectOk);
    assert_eq!(server.requests(), vec![vec![0xde, 0xad]]);
}

#[tokio::test]
async fn binary_mismatch_fails() {
    let server = serve(after(&[0x01], &[0xbe, 0xee, 0x00])).await;
    let outcome = binary(&server.target(), &[0x01], &[0xbe, 0xef], false).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::SendExpectFail);
}

#[tokio::test]
async fn binary_short_answer_fails() {
    let server = serve(after(&[0x01], &[0xbe])).await;
    let outcome = binary(&server.target(), &[0x01], &[0xbe, 0xef], false).await;
    assert_eq!(outcome.error, HostError::SendExpectFail);
}

#[tokio::test]
async fn binary_over_tls() {
    let server = serve_tls(after(&[0x05], &[0x06, 0x07])).await;
    let outcome = binary(&server.target(), &[0x05], &[0x06, 0x07], true).await;
    assert!(outcome.up, "{outcome:?}");
}
