//! Connecting a session to its backend: the relay's fixed address, a host
//! picked from its tables (backup tables when the first has no usable
//! host), or the connection's original destination (`forward to
//! destination`, `nat lookup`: SO_ORIGINAL_DST behind an nftables
//! redirect; a dns relay asks the pfe instead, `natlook.rs`, and picks with
//! [`original_or_table`] as TCP does). A failed connect is retried on other
//! hosts `retry` times.

use super::natlook::redirected;
use super::plan::{RelayPlan, TableTarget, Target};
use super::shared::{Backend, BindAnyError, Shared};
use super::sockopt;
use super::stream::Transport;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use tokio::net::{TcpSocket, TcpStream};

/// Linux's SO_ORIGINAL_DST (netfilter, IPv4) and IP6T_SO_ORIGINAL_DST.
const SO_ORIGINAL_DST: libc::c_int = 80;

/// What went wrong reaching a backend, in the terms callers decide on
/// (an HTTP relay answers 504 to a failed connect, 502 to a failed TLS
/// handshake, 503 to no backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardErrorKind {
    /// No host of the relay's tables is up, enabled and untried.
    NoUsableHost,
    /// `forward to destination` without tables, for a connection that was
    /// not redirected.
    NoOriginalDestination,
    /// The backend refused the connection.
    ConnectRefused,
    /// The backend did not answer within the session timeout.
    ConnectTimedOut,
    /// Any other failed connect: unreachable, no transparent socket...
    ConnectFailed,
    /// Connected, but the TLS handshake with the backend failed (its
    /// certificate, or not TLS): an HTTP relay answers 502.
    TlsFailed,
}

impl ForwardErrorKind {
    /// A backend was chosen, and connecting to it failed.
    pub fn is_connect(self) -> bool {
        matches!(
            self,
            ForwardErrorKind::ConnectRefused
                | ForwardErrorKind::ConnectTimedOut
                | ForwardErrorKind::ConnectFailed
                | ForwardErrorKind::TlsFailed
        )
    }
}

/// A session that found no backend to talk to, with its context: relay,
/// session, client, and the backend last tried. Its words are relayd's in
/// the session log: `no active hosts`, `connect to ADDRESS failed: WHY`.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct ForwardError {
    pub relay: String,
    pub session: u32,
    pub peer: SocketAddr,
    cause: Cause,
}

#[derive(Debug, thiserror::Error)]
enum Cause {
    #[error("no active hosts")]
    NoUsableHost,
    #[error("session NAT lookup failed")]
    NoOriginalDestination,
    #[error("connect to {backend} failed: {error}")]
    Connect {
        backend: SocketAddr,
        error: ConnectError,
    },
}

impl ForwardError {
    fn new(plan: &RelayPlan, session: u32, peer: SocketAddr, cause: Cause) -> ForwardError {
        ForwardError {
            relay: plan.name.clone(),
            session,
            peer,
            cause,
        }
    }

    pub fn kind(&self) -> ForwardErrorKind {
        match &self.cause {
            Cause::NoUsableHost => ForwardErrorKind::NoUsableHost,
            Cause::NoOriginalDestination => ForwardErrorKind::NoOriginalDestination,
            Cause::Connect { error, .. } => error.kind(),
        }
    }
}

/// Why one connect to one backend failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The socket could not be made, or the connect failed.
    #[error("{0}")]
    Io(io::Error),
    /// No answer within the session timeout.
    #[error("connect timeout")]
    TimedOut,
    /// `transparent forward` from an IPv4 client to an IPv6 backend, or
    /// the other way round.
    #[error("transparent forward between IPv4 and IPv6 is impossible")]
    MixedFamilies,
    /// The parent's socket bound to the client's address did not come.
    #[error("{0}")]
    BindAny(BindAnyError),
    /// `forward with tls`: the backend's handshake failed (a certificate
    /// `tls ca file` does not verify, a backend that is not TLS, closed).
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
}

/// Making the socket fails with the system's error (`?` in [`connect`]).
impl From<io::Error> for ConnectError {
    fn from(error: io::Error) -> ConnectError {
        ConnectError::Io(error)
    }
}

impl ConnectError {
    pub fn kind(&self) -> ForwardErrorKind {
        match self {
            ConnectError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                ForwardErrorKind::ConnectRefused
            }
            ConnectError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
                ForwardErrorKind::ConnectTimedOut
            }
            ConnectError::TimedOut => ForwardErrorKind::ConnectTimedOut,
            ConnectError::Io(_) | ConnectError::MixedFamilies | ConnectError::BindAny(_) => {
                ForwardErrorKind::ConnectFailed
            }
            ConnectError::Tls(_) => ForwardErrorKind::TlsFailed,
        }
    }
}

/// Connects a session of `plan` from `peer` to a backend: the relay's
/// address, a host of its tables, or the client's original destination.
/// `sni` is an inspected client's SNI (see [`Destination`]).
pub async fn connect_backend(
    shared: &Shared,
    plan: &RelayPlan,
    session: u32,
    client: &Transport,
    (peer, listen): (SocketAddr, SocketAddr),
    sni: Option<&str>,
) -> Result<(Transport, Backend), ForwardError> {
    let original = client.socket().and_then(|s| original_destination(&s));
    let to = Destination {
        original,
        listen,
        sni,
    };
    connect_backend_to(shared, plan, session, peer, to).await
}

/// Where a new session goes, as [`connect_backend_to`] needs it.
pub struct Destination<'a> {
    /// The client's original destination, if it was redirected.
    pub original: Option<SocketAddr>,
    pub listen: SocketAddr,
    /// TLS inspection: the client's SNI, sent on to the backend, on the
    /// session's first backend connection and on every later one.
    pub sni: Option<&'a str>,
}

/// [`connect_backend`] with the original destination already looked up
/// (TLS inspection connects before the client's handshake is done).
pub async fn connect_backend_to(
    shared: &Shared,
    plan: &RelayPlan,
    session: u32,
    peer: SocketAddr,
    to: Destination<'_>,
) -> Result<(Transport, Backend), ForwardError> {
    let listen = to.listen;
    let mut tried = Vec::new();
    let mut cause = Cause::NoUsableHost;
    for _ in 0..=plan.retry {
        let backend = match &plan.target {
            Target::Address(addr) => Backend {
                addr: *addr,
                host: None,
            },
            Target::Tables(tables) => match shared.choose(plan, tables, peer, listen, &tried) {
                Some(backend) => backend,
                None => break,
            },
            Target::OriginalDestination(tables) => {
                match original_or_table(shared, plan, tables, to.original, peer, listen, &tried) {
                    Ok(backend) => backend,
                    Err(kind) => {
                        if kind == ForwardErrorKind::NoOriginalDestination {
                            cause = Cause::NoOriginalDestination;
                        }
                        break;
                    }
                }
            }
        };
        match connect(shared, backend.addr, plan, peer, to.sni).await {
            Ok(stream) => return Ok((stream, backend)),
            Err(error) => {
                tracing::debug!(
                    "relay {}, session {session}: connect to {}: {error}",
                    plan.name,
                    backend.addr
                );
                cause = Cause::Connect {
                    backend: backend.addr,
                    error,
                };
                match backend.host {
                    Some(host) => tried.push(host),
                    // A fixed address retried is the same address again.
                    None if matches!(plan.target, Target::Address(_)) => continue,
                    None => break,
                }
            }
        }
    }
    Err(ForwardError::new(plan, session, peer, cause))
}

/// The error of a session of `plan` whose connect to `backend` failed, for
/// callers that choose the backend themselves (HTTP rules).
pub fn connect_failed(
    plan: &RelayPlan,
    session: u32,
    peer: SocketAddr,
    backend: SocketAddr,
    error: ConnectError,
) -> ForwardError {
    ForwardError::new(plan, session, peer, Cause::Connect { backend, error })
}

/// The backend of a session of `forward to destination` / `nat lookup`:
/// its `original` destination (SO_ORIGINAL_DST for TCP, conntrack through
/// the pfe for a dns relay's datagram), else a host of the relay's tables
/// (`NoUsableHost` when none is left), else `NoOriginalDestination` when
/// the relay has no tables (relayd: "session NAT lookup failed").
pub fn original_or_table(
    shared: &Shared,
    plan: &RelayPlan,
    tables: &[TableTarget],
    original: Option<SocketAddr>,
    peer: SocketAddr,
    listen: SocketAddr,
    tried: &[relayd_config::ObjectId],
) -> Result<Backend, ForwardErrorKind> {
    if let Some(addr) = original {
        return Ok(Backend { addr, host: None });
    }
    match shared.choose(plan, tables, peer, listen, tried) {
        Some(backend) => Ok(backend),
        None if tables.is_empty() => Err(ForwardErrorKind::NoOriginalDestination),
        None => Err(ForwardErrorKind::NoUsableHost),
    }
}

/// The error of a session of `plan` whose original destination is unknown
/// and that has no table to fall back to.
pub fn no_original_destination(plan: &RelayPlan, session: u32, peer: SocketAddr) -> ForwardError {
    ForwardError::new(plan, session, peer, Cause::NoOriginalDestination)
}

/// The error of a session of `plan` that found no usable host.
pub fn no_usable_host(plan: &RelayPlan, session: u32, peer: SocketAddr) -> ForwardError {
    ForwardError::new(plan, session, peer, Cause::NoUsableHost)
}

/// Connects a session of `plan` from `peer` to the backend `addr`. The
/// transport is plain TCP; TLS to the backend (`forward with tls`) is
/// layered on the stream here, as `Transport::Layered`, so that retries
/// and failover cover its handshake too, within the session timeout.
/// `sni`, an inspected client's SNI, is the name sent to a TLS backend
/// (unless `tls verify name` names it).
pub async fn connect(
    shared: &Shared,
    addr: SocketAddr,
    plan: &RelayPlan,
    peer: SocketAddr,
    sni: Option<&str>,
) -> Result<Transport, ConnectError> {
    let stream = connect_tcp(shared, addr, plan, peer).await?;
    let Some(tls) = &plan.tls.backend else {
        return Ok(Transport::Tcp(stream));
    };
    let name = tls.server_name(addr.ip(), sni);
    let handshake = tls.connector().connect(name, stream);
    match tokio::time::timeout(plan.session_timeout, handshake).await {
        Ok(Ok(stream)) => Ok(Transport::Layered(Box::new(stream))),
        Ok(Err(e)) => Err(ConnectError::Tls(e)),
        Err(_) => Err(ConnectError::TimedOut),
    }
}

/// One TCP connect, within the session timeout.
async fn connect_tcp(
    shared: &Shared,
    addr: SocketAddr,
    plan: &RelayPlan,
    peer: SocketAddr,
) -> Result<TcpStream, ConnectError> {
    let socket = if plan.transparent {
        // The backend sees the client's address: the parent binds a socket
        // to it (IP_TRANSPARENT needs a capability this process lacks).
        if addr.is_ipv4() != peer.is_ipv4() {
            return Err(ConnectError::MixedFamilies);
        }
        let fd = shared
            .bind_any(plan.id, SocketAddr::new(peer.ip(), 0))
            .await
            .map_err(ConnectError::BindAny)?;
        TcpSocket::from_std_stream(std::net::TcpStream::from(fd))
    } else {
        match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        }
    };
    sockopt::apply_outgoing(&socket, &plan.tcp);
    match tokio::time::timeout(plan.session_timeout, socket.connect(addr)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ConnectError::TimedOut),
    }
}

/// The destination a redirected connection was sent to before netfilter
/// rewrote it; `None` when the connection was not redirected (the lookup
/// then returns the listening address itself, or fails).
pub fn original_destination(socket: &socket2::Socket) -> Option<SocketAddr> {
    let local = socket.local_addr().ok()?.as_socket()?;
    let fd = socket.as_raw_fd();
    let original = match local {
        SocketAddr::V4(_) => {
            let raw: libc::sockaddr_in = getsockopt_struct(fd, libc::SOL_IP)?;
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(raw.sin_addr.s_addr)),
                u16::from_be(raw.sin_port),
            ))
        }
        SocketAddr::V6(_) => {
            let raw: libc::sockaddr_in6 = getsockopt_struct(fd, libc::SOL_IPV6)?;
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(raw.sin6_addr.s6_addr),
                u16::from_be(raw.sin6_port),
                0,
                raw.sin6_scope_id,
            ))
        }
    };
    redirected(original, local)
}

fn getsockopt_struct<T>(fd: libc::c_int, level: libc::c_int) -> Option<T> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, a plain C
    // struct for which all-zero bytes are valid.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            SO_ORIGINAL_DST,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    };
    // SAFETY: zero-initialised above and possibly filled by the kernel.
    (rc == 0).then(|| unsafe { value.assume_init() })
}
