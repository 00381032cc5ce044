//! Sockets only root may open, opened by the parent and passed to the
//! engines that use them: the relays' listening sockets (one SO_REUSEPORT
//! socket per relay, listen address and relay process, so the kernel
//! spreads connections over the processes; UDP for `dns protocol` relays,
//! whose clients the kernel spreads by address and port) and the hce's raw
//! ICMP sockets.

use relayd_config::{Config, ObjectId, ProtocolKind, DEFAULT_BACKLOG};
use relayd_proto::messages::IcmpFamily;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;

/// A socket the parent could not open.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("relay {relay}: cannot listen on {addr}: {source}")]
    Listen {
        relay: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("metrics: cannot listen on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("relay {relay}: cannot keep the socket on {addr}: {source}")]
    Duplicate {
        relay: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("transparent socket on {addr}: {source}")]
    BindAny {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// One listening socket for one relay process.
pub struct RelaySocket {
    pub relay: ObjectId,
    /// Index into the relay's `listen` list.
    pub index: u32,
    pub addr: SocketAddr,
    pub tls: bool,
    pub fd: OwnedFd,
}

/// What makes two listening sockets the same socket: a new configuration
/// that listens so may take over the running one's (`parent/listeners.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenShape {
    pub addr: SocketAddr,
    /// UDP, for `dns protocol` relays; TCP otherwise.
    pub udp: bool,
    /// The listen backlog (TCP).
    pub backlog: u32,
    /// `socket buffer` (UDP).
    pub buffer: Option<u32>,
    pub tls: bool,
}

/// One `listen on` of one relay, before any socket exists.
pub struct RelayListen {
    pub relay: ObjectId,
    pub relay_name: String,
    /// Index into the relay's `listen` list.
    pub index: u32,
    pub shape: ListenShape,
}

impl RelayListen {
    /// Opens a new socket for it, bound with SO_REUSEPORT.
    pub fn open(&self) -> Result<OwnedFd, SocketError> {
        let shape = &self.shape;
        let opened = if shape.udp {
            open_udp_listener(shape.addr, shape.buffer)
        } else {
            open_listener(shape.addr, shape.backlog)
        };
        opened.map_err(|source| SocketError::Listen {
            relay: self.relay_name.clone(),
            addr: shape.addr,
            source,
        })
    }

    /// The socket message for a relay process, with `fd`.
    pub fn socket(&self, fd: OwnedFd) -> RelaySocket {
        RelaySocket {
            relay: self.relay,
            index: self.index,
            addr: self.shape.addr,
            tls: self.shape.tls,
            fd,
        }
    }
}

/// Every relay's listen addresses; each relay process gets a socket for
/// each.
pub fn relay_listens(config: &Config) -> Vec<RelayListen> {
    let mut listens = Vec::new();
    for relay in &config.relays {
        let protocol = relay
            .protocol
            .as_deref()
            .and_then(|name| config.protocol(name));
        let backlog = protocol
            .and_then(|p| p.tcp.backlog)
            .unwrap_or(DEFAULT_BACKLOG);
        let udp = protocol.is_some_and(|p| p.kind == ProtocolKind::Dns);
        let buffer = protocol.and_then(|p| p.tcp.socket_buffer).filter(|_| udp);
        for (index, listen) in (0u32..).zip(&relay.listen) {
            listens.push(RelayListen {
                relay: relay.id,
                relay_name: relay.name.clone(),
                index,
                shape: ListenShape {
                    addr: SocketAddr::new(listen.addr, listen.port),
                    udp,
                    backlog,
                    buffer,
                    tls: listen.tls,
                },
            });
        }
    }
    listens
}

/// The listening socket of `metrics listen on` (SO_REUSEPORT, as the
/// relays': the running one keeps serving until the new one commits).
pub fn open_metrics_socket(
    listen: relayd_config::MetricsListen,
) -> Result<(SocketAddr, OwnedFd), SocketError> {
    let addr = SocketAddr::new(listen.addr, listen.port);
    let fd = open_listener(addr, METRICS_BACKLOG)
        .map_err(|source| SocketError::Metrics { addr, source })?;
    Ok((addr, fd))
}

/// Scrapers are few: a short queue.
const METRICS_BACKLOG: u32 = 16;

fn open_listener(addr: SocketAddr, backlog: u32) -> std::io::Result<OwnedFd> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::STREAM.cloexec(), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if matches!(addr.ip(), IpAddr::V6(_)) {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// A dns relay's UDP socket; `socket buffer` sizes it, as in relayd.
fn open_udp_listener(addr: SocketAddr, buffer: Option<u32>) -> std::io::Result<OwnedFd> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.cloexec(),
        Some(Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if matches!(addr.ip(), IpAddr::V6(_)) {
        socket.set_only_v6(true)?;
    }
    if let Some(size) = buffer {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        socket.set_recv_buffer_size(size)?;
        socket.set_send_buffer_size(size)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket.into())
}

/// A TCP socket bound to an address that need not be local (IP_TRANSPARENT
/// needs CAP_NET_ADMIN), for a relay's `transparent forward`: the relay
/// connects it to the backend, which then sees the client's address.
pub fn open_bindany_socket(
    request: &relayd_proto::messages::BindAnyRequest,
) -> Result<OwnedFd, SocketError> {
    let open = || -> std::io::Result<OwnedFd> {
        let kind = match request.proto {
            relayd_config::IpProto::Tcp => (Type::STREAM, Protocol::TCP),
            relayd_config::IpProto::Udp => (Type::DGRAM, Protocol::UDP),
        };
        let socket = Socket::new(
            Domain::for_address(request.addr),
            kind.0.cloexec(),
            Some(kind.1),
        )?;
        socket.set_ip_transparent(true)?;
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SockAddr::from(request.addr))?;
        Ok(socket.into())
    };
    open().map_err(|source| SocketError::BindAny {
        addr: request.addr,
        source,
    })
}

/// The hce's raw ICMP sockets (IPv4, IPv6). A family the host lacks (no
/// IPv6, or raw sockets forbidden in a container) is skipped: icmp checks
/// on it will report the host down instead of relayd not starting.
pub fn open_icmp_sockets() -> Vec<(IcmpFamily, OwnedFd)> {
    let mut sockets = Vec::new();
    let candidates = [
        (IcmpFamily::V4, Domain::IPV4, Protocol::ICMPV4),
        (IcmpFamily::V6, Domain::IPV6, Protocol::ICMPV6),
    ];
    for (family, domain, protocol) in candidates {
        match Socket::new(domain, Type::RAW.cloexec(), Some(protocol)) {
            Ok(socket) => {
                let _ = socket.set_nonblocking(true);
                sockets.push((family, socket.into()));
            }
            Err(e) => tracing::warn!("cannot open raw {family:?} icmp socket: {e}"),
        }
    }
    sockets
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn two_listeners_share_a_port_with_reuseport() {
        let first = open_listener("127.0.0.1:0".parse().unwrap(), 5).unwrap();
        let bound = Socket::from(first)
            .local_addr()
            .unwrap()
            .as_socket()
            .unwrap();
        let second = open_listener(bound, 5).expect("SO_REUSEPORT lets a second bind succeed");
        TcpStream::connect(bound).expect("listening");
        drop(second);
    }

    #[test]
    fn dns_relays_get_udp_sockets_one_per_process() {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .unwrap()
            .port();
        let text = format!(
            "dns protocol d {{ tcp {{ socket buffer 65536 }} }}\n\
             relay r {{\n listen on 127.0.0.1 port {port}\n protocol d\n \
             forward to 127.0.0.1 port 53\n}}\n"
        );
        let config = relayd_config::parse_str(&text, "t.conf", &Default::default()).unwrap();
        let open = || -> Vec<OwnedFd> {
            relay_listens(&config)
                .iter()
                .map(|listen| listen.open().unwrap())
                .collect()
        };
        let first = open();
        let second = open();
        for fd in first.iter().chain(&second) {
            let socket = socket2::SockRef::from(fd);
            assert_eq!(socket.r#type().unwrap(), Type::DGRAM);
            assert!(socket.recv_buffer_size().unwrap() >= 65536);
        }
    }
}
