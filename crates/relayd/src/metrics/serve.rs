//! The endpoint's HTTP side: one request per connection, `GET /metrics`
//! (or `HEAD`) answered with the parent's text, everything else with an
//! error status. Every connection is bounded: at most [`CONNECTIONS`] at
//! once, [`HEAD_LIMIT`] bytes of request head, [`DEADLINE`] from accept to
//! the last byte of the answer.

use super::Scrape;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Connections served at once; the others wait in the listen queue.
const CONNECTIONS: usize = 8;
/// The longest request head read.
const HEAD_LIMIT: usize = 8 * 1024;
/// How long one connection may take, request and answer.
const DEADLINE: Duration = Duration::from_secs(10);

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Accepts until the task is aborted (a new configuration, the end).
pub async fn accept_loop(listener: TcpListener, scrapes: mpsc::UnboundedSender<Scrape>) {
    let slots = std::sync::Arc::new(Semaphore::new(CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let scrapes = scrapes.clone();
                tokio::spawn(async move {
                    let served = tokio::time::timeout(DEADLINE, serve(stream, &scrapes)).await;
                    if served.is_err() {
                        tracing::debug!("metrics: {peer} took longer than {DEADLINE:?}");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!("metrics: accept: {e}");
                // Out of descriptors, say: let the moment pass.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics { head_only: bool },
    NotFound,
    MethodNotAllowed,
    Bad,
}

async fn serve(mut stream: TcpStream, scrapes: &mpsc::UnboundedSender<Scrape>) {
    let request = read_request(&mut stream).await;
    let answer = match request {
        Request::Metrics { head_only } => {
            let (answer, text) = oneshot::channel();
            // A send that fails drops the sender: the wait below ends.
            let _ = scrapes.send(Scrape { answer });
            match text.await {
                Ok(text) => response("200 OK", CONTENT_TYPE, &text, head_only),
                Err(_) => plain("503 Service Unavailable", "relayd is busy\n"),
            }
        }
        Request::NotFound => plain("404 Not Found", "try /metrics\n"),
        Request::MethodNotAllowed => plain("405 Method Not Allowed", "GET or HEAD only\n"),
        Request::Bad => plain("400 Bad Request", "bad request\n"),
    };
    if stream.write_all(answer.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

/// Reads the request head (the body, if any, is ignored) and says what it
/// asks for.
async fn read_request(stream: &mut TcpStream) -> Request {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return Request::Bad,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
        match parse(&head) {
            Some(request) => return request,
            None if head.len() >= HEAD_LIMIT => return Request::Bad,
            None => {}
        }
    }
}

/// `None` while the head is incomplete.
fn parse(head: &[u8]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) => None,
        Err(_) => Some(Request::Bad),
        Ok(httparse::Status::Complete(_)) => {
            let path = request.path.unwrap_or_default();
            let path = path.split('?').next().unwrap_or_default();
            Some(match (request.method.unwrap_or_default(), path) {
                ("GET", "/metrics") => Request::Metrics { head_only: false },
                ("HEAD", "/metrics") => Request::Metrics { head_only: true },
                ("GET" | "HEAD", _) => Request::NotFound,
                _ => Request::MethodNotAllowed,
            })
        }
    }
}

fn plain(status: &str, body: &str) -> String {
    response(status, "text/plain; charset=utf-8", body, false)
}

fn response(status: &str, content_type: &str, body: &str, head_only: bool) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart_by_method_and_path() {
        let ask = |text: &str| parse(text.as_bytes());
        assert_eq!(
            ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Request::Metrics { head_only: false })
        );
        assert_eq!(
            ask("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Some(Request::Metrics { head_only: true })
        );
        assert_eq!(ask("GET / HTTP/1.1\r\n\r\n"), Some(Request::NotFound));
        assert_eq!(
            ask("POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Request::MethodNotAllowed)
        );
        assert_eq!(ask("GET /metrics HTTP/1.1\r\n"), None, "incomplete");
        assert_eq!(ask("\x01\x02 nonsense\r\n\r\n"), Some(Request::Bad));
    }

    #[test]
    fn a_head_answer_has_the_length_but_not_the_body() {
        let full = response("200 OK", CONTENT_TYPE, "a 1\n", false);
        let head = response("200 OK", CONTENT_TYPE, "a 1\n", true);
        assert!(full.ends_with("\r\n\r\na 1\n"));
        assert!(head.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"));
    }
}
