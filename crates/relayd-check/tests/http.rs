//! `check http|https ... code N | digest D` against real servers.

mod support;

use relayd_check::{check_host, HostError, Outcome, Target};
use relayd_config::{Check, HttpExpect};
use support::{closed_port, serve, serve_tls, Reply, BOUND, LONG, SHORT};

const HELLO_PAGE: &str = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello";
const HELLO_SHA1: &str = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";
const HELLO_MD5: &str = "5d41402abc4b2a76b9719d911017c592";

async fn http(target: &Target, tls: bool, host: Option<&str>, expect: HttpExpect) -> Outcome {
    let check = Check::Http {
        tls,
        path: "/health".into(),
        host: host.map(str::to_owned),
        expect,
    };
    check_host(&check, target, LONG, None).await
}

#[tokio::test]
async fn code_matches() {
    let server = serve(Reply::http("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")).await;
    let outcome = http(&server.target(), false, None, HttpExpect::Code(200)).await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(outcome.error, HostError::HttpCodeOk);
    assert_eq!(outcome.http_code, Some(200));
    // relayd's request for a code check.
    assert_eq!(
        server.requests(),
        vec![b"HEAD /health HTTP/1.0\r\n\r\n".to_vec()]
    );
}

#[tokio::test]
async fn host_name_makes_an_http_1_1_request() {
    let server = serve(Reply::http("HTTP/1.1 204 No Content\r\n\r\n")).await;
    let outcome = http(
        &server.target(),
        false,
        Some("www.example"),
        HttpExpect::Code(204),
    )
    .await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(
        server.requests(),
        vec![b"HEAD /health HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n".to_vec()]
    );
}

#[tokio::test]
async fn wrong_code_is_a_mismatch() {
    let server = serve(Reply::http("HTTP/1.0 404 Not Found\r\n\r\n")).await;
    let outcome = http(&server.target(), false, None, HttpExpect::Code(200)).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::HttpCodeFail);
    assert_eq!(outcome.error.to_string(), "http code mismatch");
    assert_eq!(outcome.http_code, Some(404));
}

#[tokio::test]
async fn non_http_answer_is_malformed() {
    let server = serve(Reply::http("SSH-2.0-OpenSSH_9.6\r\n")).await;
    let outcome = http(&server.target(), false, None, HttpExpect::Code(200)).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::HttpCodeError);
    assert_eq!(outcome.error.to_string(), "http code malformed");
}

#[tokio::test]
async fn digest_sha1_and_md5_match() {
    let server = serve(Reply::http(HELLO_PAGE)).await;
    for digest in [HELLO_SHA1, HELLO_MD5] {
        let outcome = http(
            &server.target(),
            false,
            None,
            HttpExpect::Digest(digest.into()),
        )
        .await;
        assert!(outcome.up, "{digest}: {outcome:?}");
        assert_eq!(outcome.error, HostError::HttpDigestOk);
    }
    assert!(server.requests()[0].starts_with(b"GET /health HTTP/1.0\r\n"));
}

#[tokio::test]
async fn wrong_digest_is_a_mismatch() {
    let server = serve(Reply::http(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhellO",
    ))
    .await;
    let outcome = http(
        &server.target(),
        false,
        None,
        HttpExpect::Digest(HELLO_SHA1.into()),
    )
    .await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::HttpDigestFail);
}

#[tokio::test]
async fn digest_without_end_of_headers_is_malformed() {
    let server = serve(Reply::http("HTTP/1.0 200 OK\r\n")).await;
    let outcome = http(
        &server.target(),
        false,
        None,
        HttpExpect::Digest(HELLO_MD5.into()),
    )
    .await;
    assert_eq!(outcome.error, HostError::HttpDigestError);
}

#[tokio::test]
async fn https_code_and_digest() {
    let server = serve_tls(Reply::http(HELLO_PAGE)).await;
    let outcome = http(&server.target(), true, None, HttpExpect::Code(200)).await;
    assert!(outcome.up, "{outcome:?}");
    let outcome = http(
        &server.target(),
        true,
        None,
        HttpExpect::Digest(HELLO_SHA1.into()),
    )
    .await;
    assert!(outcome.up, "{outcome:?}");
    let outcome = http(
        &server.target(),
        true,
        Some("localhost"),
        HttpExpect::Code(200),
    )
    .await;
    assert!(outcome.up, "with SNI: {outcome:?}");
}

#[tokio::test]
async fn silent_server_times_out_reading() {
    let server = serve(Reply::Silent).await;
    let check = Check::Http {
        tls: false,
        path: "/".into(),
        host: None,
        expect: HttpExpect::Code(200),
    };
    let outcome = check_host(&check, &server.target(), SHORT, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::TcpReadTimeout);
    assert!(outcome.elapsed < BOUND, "{outcome:?}");
}

#[tokio::test]
async fn https_against_a_silent_tls_server_times_out_reading() {
    let server = serve_tls(Reply::Silent).await;
    let check = Check::Http {
        tls: true,
        path: "/".into(),
        host: None,
        expect: HttpExpect::Code(200),
    };
    let outcome = check_host(&check, &server.target(), SHORT, None).await;
    assert_eq!(outcome.error, HostError::TlsReadTimeout);
}

#[tokio::test]
async fn closed_port_is_down() {
    let outcome = http(&closed_port().await, false, None, HttpExpect::Code(200)).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::TcpConnectFail);
}

#[tokio::test]
async fn code_is_judged_without_waiting_for_the_close() {
    // A server that keeps the connection open after its status line.
    let server = serve(Reply::BannerAndHold(b"HTTP/1.1 200 OK\r\n".to_vec())).await;
    let check = Check::Http {
        tls: false,
        path: "/".into(),
        host: None,
        expect: HttpExpect::Code(200),
    };
    let outcome = check_host(&check, &server.target(), LONG, None).await;
    assert!(outcome.up, "{outcome:?}");
    assert!(outcome.elapsed < SHORT, "{outcome:?}");
}
