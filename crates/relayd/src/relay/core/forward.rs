//! Connecting a session to its backend: the relay's fixed address, a host
//! picked from its tables (backup tables when the first has no usable
//! host), or the connection's original destination (`forward to
//! destination`, `nat lookup`: SO_ORIGINAL_DST behind an nftables
//! redirect). A failed connect is retried on other hosts `retry` times.

use super::plan::{RelayPlan, Target};
use super::shared::{Backend, Shared};
use super::sockopt;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use tokio::net::{TcpSocket, TcpStream};

/// Linux's SO_ORIGINAL_DST (netfilter, IPv4) and IP6T_SO_ORIGINAL_DST.
const SO_ORIGINAL_DST: libc::c_int = 80;

pub async fn connect_backend(
    shared: &Shared,
    plan: &RelayPlan,
    session: u32,
    client: &TcpStream,
    peer: SocketAddr,
    listen: SocketAddr,
) -> Result<(TcpStream, Backend), String> {
    let mut tried = Vec::new();
    let mut last_error = "no active hosts".to_string();
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
            Target::OriginalDestination(tables) => match original_destination(client) {
                Some(addr) => Backend { addr, host: None },
                None => match shared.choose(plan, tables, peer, listen, &tried) {
                    Some(backend) => backend,
                    None if tables.is_empty() => {
                        last_error = "session NAT lookup failed".into();
                        break;
                    }
                    None => break,
                },
            },
        };
        match connect(shared, backend.addr, plan, peer).await {
            Ok(stream) => return Ok((stream, backend)),
            Err(e) => {
                tracing::debug!(
                    "relay {}, session {session}: connect to {}: {e}",
                    plan.name,
                    backend.addr
                );
                last_error = format!("connect to {} failed: {e}", backend.addr);
                match backend.host {
                    Some(host) => tried.push(host),
                    // A fixed address retried is the same address again.
                    None if matches!(plan.target, Target::Address(_)) => continue,
                    None => break,
                }
            }
        }
    }
    Err(last_error)
}

pub async fn connect(
    shared: &Shared,
    addr: SocketAddr,
    plan: &RelayPlan,
    peer: SocketAddr,
) -> io::Result<TcpStream> {
    let socket = if plan.transparent {
        // The backend sees the client's address: the parent binds a socket
        // to it (IP_TRANSPARENT needs a capability this process lacks).
        if addr.is_ipv4() != peer.is_ipv4() {
            return Err(io::Error::other(
                "transparent forward between IPv4 and IPv6 is impossible",
            ));
        }
        let fd = shared
            .bind_any(plan.id, SocketAddr::new(peer.ip(), 0))
            .await
            .map_err(io::Error::other)?;
        TcpSocket::from_std_stream(std::net::TcpStream::from(fd))
    } else {
        match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        }
    };
    sockopt::apply_outgoing(&socket, &plan.tcp);
    match tokio::time::timeout(plan.session_timeout, socket.connect(addr)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timeout")),
    }
}

/// The destination a redirected connection was sent to before netfilter
/// rewrote it; `None` when the connection was not redirected (the lookup
/// then returns the listening address itself, or fails).
pub fn original_destination(stream: &TcpStream) -> Option<SocketAddr> {
    let local = stream.local_addr().ok()?;
    let fd = stream.as_raw_fd();
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
    (original != local).then_some(original)
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
