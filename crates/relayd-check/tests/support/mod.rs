//! Real servers on 127.0.0.1 for the check tests: each answers in one
//! scripted way, plain or over TLS, and stops when dropped.

#![allow(dead_code)] // Each test file uses a different part.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relayd_check::Target;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Check timeout of the tests that expect a timeout.
pub const SHORT: Duration = Duration::from_millis(300);
/// A check with the `SHORT` timeout must be over well before this, even on
/// a loaded machine; a check that ignored its timeout would not be.
pub const BOUND: Duration = Duration::from_millis(1500);
/// Check timeout of the tests that expect an answer.
pub const LONG: Duration = Duration::from_secs(3);

/// How a test server treats each connection.
#[derive(Clone)]
pub enum Reply {
    /// Writes the bytes as soon as the connection is up, then closes.
    Banner(Vec<u8>),
    /// Reads until the request ends with `request_end`, writes the bytes,
    /// closes.
    AfterRequest {
        request_end: Vec<u8>,
        response: Vec<u8>,
    },
    /// Writes the bytes as soon as the connection is up and keeps the
    /// connection open without another word.
    BannerAndHold(Vec<u8>),
    /// Accepts and never says anything (keeps the connection open).
    Silent,
}

impl Reply {
    pub fn http(response: &str) -> Reply {
        Reply::AfterRequest {
            request_end: b"\r\n\r\n".to_vec(),
            response: response.as_bytes().to_vec(),
        }
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// Every request received, in order.
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub fn target(&self) -> Target {
        Target {
            addr: self.addr.ip(),
            port: self.addr.port(),
            ip_ttl: None,
        }
    }

    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve(reply: Reply) -> TestServer {
    start(reply, None).await
}

pub async fn serve_tls(reply: Reply) -> TestServer {
    start(reply, Some(TlsAcceptor::from(self_signed_config()))).await
}

async fn start(reply: Reply, tls: Option<TlsAcceptor>) -> TestServer {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let task = tokio::spawn(async move {
        // Connections of a silent server live as long as the server.
        let mut held = Vec::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (reply, log, tls) = (reply.clone(), log.clone(), tls.clone());
            held.push(tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            answer(stream, reply, log).await;
                        }
                    }
                    None => answer(stream, reply, log).await,
                }
            }));
        }
    });
    TestServer {
        addr,
        requests,
        task,
    }
}

async fn answer<S>(mut stream: S, reply: Reply, log: Arc<Mutex<Vec<Vec<u8>>>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match reply {
        Reply::Banner(banner) => {
            let _ = stream.write_all(&banner).await;
            let _ = stream.shutdown().await;
        }
        Reply::AfterRequest {
            request_end,
            response,
        } => {
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.ends_with(&request_end) {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            log.lock().unwrap().push(request);
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        }
        Reply::BannerAndHold(banner) => {
            let _ = stream.write_all(&banner).await;
            let _ = stream.flush().await;
            std::future::pending::<()>().await;
        }
        Reply::Silent => {
            std::future::pending::<()>().await;
        }
    }
}

fn self_signed_config() -> Arc<ServerConfig> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

/// A port on 127.0.0.1 where nothing listens.
pub async fn closed_port() -> Target {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Target {
        addr: Ipv4Addr::LOCALHOST.into(),
        port,
        ip_ttl: None,
    }
}

/// A listener whose accept queue is full and never drained: further SYNs
/// are dropped, so connecting to it times out. Keep the returned value
/// alive for as long as the port must stay that way.
pub async fn blackhole() -> (Target, Vec<TcpStream>, socket2::Socket) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    // Fill the queue (a backlog of 0 still admits one); the filling
    // connects complete or hang, so bound each.
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await
        {
            fillers.push(stream);
        }
    }
    let target = Target {
        addr: addr.ip(),
        port: addr.port(),
        ip_ttl: None,
    };
    (target, fillers, socket)
}
