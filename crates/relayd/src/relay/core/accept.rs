//! Listening on the sockets the parent passed (this process's SO_REUSEPORT
//! copies), one task per socket. A stream socket accepts connections and
//! starts a session per connection (`core/session.rs`). Connections are
//! accepted with accept4(2) on the listener's readiness rather than
//! through tokio's listener, which would register every accepted socket
//! with the runtime: a session registers its socket only if it has to
//! wait on it (`core/fresh.rs`); an HTTP listener defers accepting until a
//! connection's request has come (`sockopt::client_speaks_first`), so that
//! it rarely has to. A datagram socket
//! goes to `core/datagram.rs`, which hands every datagram to its
//! protocol's handler (the `dns` relay's). A `disable`d relay closes what
//! it accepts at once.

use super::plan::{ProtocolPlan, RelayPlan};
use super::session;
use super::shared::Shared;
use super::sockopt;
use crate::relay::dns;
use rustls::ServerConfig;
use socket2::{SockRef, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Why a listening socket could not be used.
#[derive(Debug, thiserror::Error)]
#[error("relay {relay}: listener {listen}: {kind}")]
pub struct ListenerError {
    pub relay: String,
    pub listen: SocketAddr,
    pub kind: ListenerErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ListenerErrorKind {
    /// The socket could not be inspected or handed to the runtime.
    #[error("{0}")]
    Socket(io::Error),
    /// Neither a stream nor a datagram socket.
    #[error("unexpected socket type {0:?}")]
    SocketType(Type),
    /// A datagram socket for a relay whose protocol takes no datagrams.
    #[error("a UDP socket for a protocol that takes no datagrams")]
    NoDatagrams,
    /// A stream socket for a dns relay, which is UDP only.
    #[error("a TCP socket for a dns relay (UDP only)")]
    NoStreams,
}

/// The relay process's message loop reports its errors as text.
impl From<ListenerError> for String {
    fn from(error: ListenerError) -> String {
        error.to_string()
    }
}

/// Starts listening on `fd` in a task; aborting the task closes the socket.
/// `tls` is the server configuration of a `listen on ... tls`.
pub fn start(
    shared: Arc<Shared>,
    plan: Arc<RelayPlan>,
    listen: SocketAddr,
    fd: OwnedFd,
    tls: Option<Arc<ServerConfig>>,
) -> Result<JoinHandle<()>, ListenerError> {
    let failed = |kind| ListenerError {
        relay: plan.name.clone(),
        listen,
        kind,
    };
    let kind = SockRef::from(&fd)
        .r#type()
        .map_err(|e| failed(ListenerErrorKind::Socket(e)))?;
    let dns = match &plan.protocol {
        ProtocolPlan::Dns(dns) => Some(dns.clone()),
        ProtocolPlan::Tcp(_) | ProtocolPlan::Http(_) => None,
    };
    if kind == Type::STREAM {
        if dns.is_some() {
            return Err(failed(ListenerErrorKind::NoStreams));
        }
        if matches!(plan.protocol, ProtocolPlan::Http(_)) {
            if let Err(e) = sockopt::client_speaks_first(&fd) {
                tracing::debug!(
                    "relay {}: HTTP listener options on {listen}: {e}",
                    plan.name
                );
            }
        }
        let listener = tcp_listener(fd).map_err(|e| failed(ListenerErrorKind::Socket(e)))?;
        return Ok(tokio::spawn(accept_loop(
            shared, plan, listen, listener, tls,
        )));
    }
    if kind != Type::DGRAM {
        return Err(failed(ListenerErrorKind::SocketType(kind)));
    }
    // Which protocols take datagrams: `dns` alone.
    match dns {
        Some(dns) => dns::start(shared, plan, &dns, listen, fd),
        None => Err(failed(ListenerErrorKind::NoDatagrams)),
    }
}

fn tcp_listener(fd: OwnedFd) -> io::Result<AsyncFd<std::net::TcpListener>> {
    let listener = std::net::TcpListener::from(fd);
    listener.set_nonblocking(true)?;
    // SAFETY: the AsyncFd owns the listener, so its descriptor stays open
    // and the same for the AsyncFd's whole life.
    let registered =
        unsafe { AsyncFd::register_with_interest(listener, tokio::io::Interest::READABLE) };
    Ok(registered?)
}

/// One pending connection, its socket non-blocking and not registered
/// with the runtime; `WouldBlock` when none is queued.
fn accept_one(listener: &std::net::TcpListener) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    let (socket, peer) = SockRef::from(listener).accept4(flags)?;
    let peer = peer.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "accepted a peer without an IP address",
        )
    })?;
    Ok((socket.into(), peer))
}

/// The next pending connection, waiting for one if none is queued.
async fn accept(
    listener: &AsyncFd<std::net::TcpListener>,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    loop {
        let mut ready = listener.readable().await?;
        // `Err(_)`: the readiness was stale (accept4 said EAGAIN and the
        // guard cleared it); wait for the next.
        if let Ok(accepted) = ready.try_io(|listener| accept_one(listener.get_ref())) {
            return accepted;
        }
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    plan: Arc<RelayPlan>,
    listen: SocketAddr,
    listener: AsyncFd<std::net::TcpListener>,
    tls: Option<Arc<ServerConfig>>,
) {
    loop {
        match accept(&listener).await {
            Ok((stream, peer)) => {
                if plan.disabled {
                    tracing::debug!("relay {} is disabled: closed {peer}", plan.name);
                    continue;
                }
                // Boxed: the task then holds a pointer, not the whole
                // session's state, which the spawn would copy (twice, per
                // the profile of one-request sessions) into a cache-line
                // aligned allocation.
                tokio::spawn(Box::pin(session::run(
                    shared.clone(),
                    plan.clone(),
                    stream,
                    peer,
                    listen,
                    tls.clone(),
                )));
            }
            Err(e) => {
                // EMFILE and friends: the pending connection stays queued
                // until descriptors free up.
                tracing::warn!("relay {}: accept on {listen}: {e}", plan.name);
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::core::testing;

    #[tokio::test]
    async fn listeners_start_by_socket_type() {
        let shared = testing::shared();
        let forward = format!("forward to 127.0.0.1 port {}", testing::closed_port());
        let plan = testing::plan("", &forward);
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let listen = udp.local_addr().unwrap();
        let fd = OwnedFd::from(udp);
        let refused = start(shared.clone(), plan.clone(), listen, fd, None).unwrap_err();
        assert!(matches!(refused.kind, ListenerErrorKind::NoDatagrams));
        assert!(refused
            .to_string()
            .starts_with("relay r: listener 127.0.0.1:"));
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let task = start(shared, plan, addr, OwnedFd::from(tcp), None).unwrap();
        // The session's connect is refused: the accepted connection closes.
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut rest);
        let closed = tokio::time::timeout(Duration::from_secs(5), read).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
        task.abort();
    }
}
