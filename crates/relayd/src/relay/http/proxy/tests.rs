//! The HTTP session over in-memory streams: what the client and the
//! backend each see, byte for byte, and how the session ends.

use super::*;
use crate::relay::core::forward::ForwardErrorKind;
use crate::relay::core::testing::{closed_port, shared};
use crate::relay::http::testing::{linked_proxy, plans, plans_of, proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

/// Runs the session in a task; it hands the proxy back with how it ended.
fn spawn(mut proxy: Proxy) -> JoinHandle<(Ended, Proxy)> {
    tokio::spawn(async move {
        let ended = proxy.run().await;
        (ended, proxy)
    })
}

/// A session of relay `r` with `http protocol p { PROTOCOL }`, linked to
/// a backend: its task, the client's end and the backend's end.
fn linked_session(protocol: &str) -> (JoinHandle<(Ended, Proxy)>, DuplexStream, DuplexStream) {
    let (plan, http) = plans(protocol, "forward to 127.0.0.1 port 9");
    let (proxy, client, backend) = linked_proxy(&shared(), plan, http);
    (spawn(proxy), client, backend)
}

/// Once the session's proxy is gone, the backend's end reads nothing more.
async fn backend_saw_nothing_more(proxy: Proxy, backend: &mut DuplexStream) {
    drop(proxy);
    assert_eq!(rest(backend).await, "", "nothing else reached the backend");
}

/// Reads exactly `expected.len()` bytes and compares them.
async fn expect_bytes(peer: &mut DuplexStream, expected: &[u8]) {
    let mut got = vec![0u8; expected.len()];
    let read = tokio::time::timeout(Duration::from_secs(5), peer.read_exact(&mut got)).await;
    assert!(matches!(read, Ok(Ok(_))), "read: {read:?}");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

/// Everything until the other end closes.
async fn rest(peer: &mut DuplexStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), peer.read_to_end(&mut got)).await;
    assert!(matches!(read, Ok(Ok(_))), "read: {read:?}");
    String::from_utf8_lossy(&got).into_owned()
}

async fn finished(session: JoinHandle<(Ended, Proxy)>) -> (Ended, Proxy) {
    let joined = tokio::time::timeout(Duration::from_secs(5), session).await;
    match joined {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => panic!("the session panicked: {e}"),
        Err(_) => panic!("the session did not end"),
    }
}

#[tokio::test]
async fn keep_alive_requests_pass_unchanged_on_one_backend_connection() {
    let (session, mut client, mut backend) = linked_session("");
    let exchanges: [(&[u8], &[u8]); 2] = [
        (
            b"GET /a HTTP/1.1\r\nHost: x\r\nX-Case: Kept\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        ),
        (
            b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
        ),
    ];
    for (request, answer) in exchanges {
        client.write_all(request).await.unwrap();
        expect_bytes(&mut backend, request).await;
        backend.write_all(answer).await.unwrap();
        expect_bytes(&mut client, answer).await;
    }
    client.shutdown().await.unwrap();
    let (ended, proxy) = finished(session).await;
    assert!(matches!(ended, Ended::Done), "{ended}");
    assert!(proxy.backend.is_some(), "the backend connection was kept");
    backend_saw_nothing_more(proxy, &mut backend).await;
}

#[tokio::test]
async fn a_chunked_body_streams_both_ways_as_it_comes() {
    let (session, mut client, mut backend) = linked_session("");
    let head = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let first = b"5\r\nhello\r\n";
    let last = b"6\r\n world\r\n0\r\n\r\n";
    client.write_all(head).await.unwrap();
    client.write_all(first).await.unwrap();
    expect_bytes(&mut backend, &[&head[..], first].concat()).await;
    client.write_all(last).await.unwrap();
    expect_bytes(&mut backend, last).await;
    let answer_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let answer_body = b"3\r\nabc\r\n0\r\n\r\n";
    backend.write_all(answer_head).await.unwrap();
    expect_bytes(&mut client, answer_head).await;
    backend.write_all(answer_body).await.unwrap();
    expect_bytes(&mut client, answer_body).await;
    // The session goes on after a complete chunked exchange.
    let again = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    client.write_all(again).await.unwrap();
    expect_bytes(&mut backend, again).await;
    let empty = b"HTTP/1.1 204 No Content\r\n\r\n";
    backend.write_all(empty).await.unwrap();
    expect_bytes(&mut client, empty).await;
    client.shutdown().await.unwrap();
    let (ended, _) = finished(session).await;
    assert!(matches!(ended, Ended::Done), "{ended}");
}

#[tokio::test]
async fn a_refused_head_gets_400_and_never_reaches_the_backend() {
    let (session, mut client, mut backend) = linked_session("");
    client
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
              Transfer-Encoding: chunked\r\n\r\nabcd",
        )
        .await
        .unwrap();
    let answer = rest(&mut client).await;
    assert!(
        answer.starts_with("HTTP/1.0 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
    drop(client);
    let (ended, proxy) = finished(session).await;
    assert!(
        matches!(
            ended,
            Ended::Http(Refusal::BadRequestHead(HeadError::Malformed(_)))
        ),
        "{ended}"
    );
    assert_eq!(
        ended.to_string(),
        "bad request: Content-Length with Transfer-Encoding"
    );
    backend_saw_nothing_more(proxy, &mut backend).await;
}

#[tokio::test]
async fn a_blocked_request_gets_the_error_page_with_its_label() {
    let (session, mut client, mut backend) =
        linked_session("return error\nblock request path \"/secret*\" label \"keep <out>\"");
    client
        .write_all(b"GET /secret/plans HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = rest(&mut client).await;
    assert!(answer.starts_with("HTTP/1.0 403 Forbidden\r\n"), "{answer}");
    assert!(
        answer.contains("<div id='l'>keep &lt;out&gt;</div>"),
        "{answer}"
    );
    drop(client);
    let (ended, proxy) = finished(session).await;
    assert_eq!(ended.to_string(), "403 Forbidden");
    backend_saw_nothing_more(proxy, &mut backend).await;
}

#[tokio::test]
async fn an_early_answer_ends_the_upload_and_reaches_the_client() {
    let (session, mut client, mut backend) = linked_session("");
    let head = b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
    let some_body = vec![b'x'; 1000];
    client.write_all(head).await.unwrap();
    client.write_all(&some_body).await.unwrap();
    expect_bytes(&mut backend, &[&head[..], &some_body].concat()).await;
    let refusal =
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    backend.write_all(refusal).await.unwrap();
    expect_bytes(&mut client, refusal).await;
    // The rest of the body is read and dropped until the client closes.
    client.write_all(&some_body).await.unwrap();
    assert_eq!(rest(&mut client).await, "", "then the relay closes");
    drop(client);
    let (ended, proxy) = finished(session).await;
    assert!(matches!(ended, Ended::Done), "{ended}");
    assert!(proxy.backend.is_none(), "the backend connection was let go");
    backend_saw_nothing_more(proxy, &mut backend).await;
}

#[tokio::test]
async fn a_backend_closing_mid_answer_ends_only_that_session() {
    let (session, mut client, mut backend) = linked_session("");
    let request = b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n";
    client.write_all(request).await.unwrap();
    expect_bytes(&mut backend, request).await;
    let partial = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
    backend.write_all(partial).await.unwrap();
    drop(backend);
    let (ended, proxy) = finished(session).await;
    match ended {
        Ended::ServerRead(e) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
        other => panic!("ended with {other}"),
    }
    drop(proxy);
    assert_eq!(
        rest(&mut client).await,
        String::from_utf8_lossy(partial),
        "the client gets what came, then the close"
    );
}

#[tokio::test]
async fn a_refused_connect_gets_504_and_no_usable_host_503() {
    let shared = shared();
    let forward = format!("forward to 127.0.0.1 port {}", closed_port());
    let (plan, http) = plans("return error", &forward);
    let (proxy_refused, mut client) = proxy(&shared, plan, http);
    let session = spawn(proxy_refused);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = rest(&mut client).await;
    assert!(
        answer.starts_with("HTTP/1.0 504 Gateway Timeout\r\n"),
        "{answer}"
    );
    assert!(answer.contains("connect failed"), "{answer}");
    drop(client);
    let (ended, proxy_refused) = finished(session).await;
    match &ended {
        Ended::Http(Refusal::NoBackend(e)) => {
            assert_eq!(e.kind(), ForwardErrorKind::ConnectRefused);
            assert_eq!((e.relay.as_str(), e.peer), ("r", proxy_refused.peer));
        }
        other => panic!("ended with {other}"),
    }
    assert!(
        ended.to_string().starts_with("connect to 127.0.0.1:"),
        "{ended}"
    );

    // A checked table whose host nobody reported up: no backend at all.
    let (plan, http) = plans_of(
        "table <t> { 127.0.0.1 }\nhttp protocol p {\nreturn error\n}\n\
         relay r {\nlisten on 127.0.0.1 port 1\nprotocol p\nforward to <t> port 80 check tcp\n}\n",
    );
    let (proxy_unusable, mut client) = proxy(&shared, plan, http);
    let session = spawn(proxy_unusable);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = rest(&mut client).await;
    assert!(
        answer.starts_with("HTTP/1.0 503 Service Unavailable\r\n"),
        "{answer}"
    );
    drop(client);
    let (ended, _) = finished(session).await;
    assert!(
        matches!(&ended, Ended::Http(Refusal::NoBackend(e)) if e.kind() == ForwardErrorKind::NoUsableHost),
        "{ended}"
    );
    assert_eq!(ended.to_string(), "no active hosts");
}
