//! The protocol's `tcp { ... }` options on the relay's sockets: both the
//! accepted client socket and the socket to the backend, as relayd does,
//! and buffers and TTLs on a dns relay's query sockets.
//! `backlog` is the parent's (it sizes the listening socket); `sack` has no
//! per-socket switch on Linux (it is the net.ipv4.tcp_sack sysctl), so it
//! is only reported once per configuration.

use relayd_config::TcpOptions;
use socket2::SockRef;
use std::io;
use std::os::fd::{AsFd, AsRawFd};

pub fn apply_accepted(stream: &impl AsFd, options: &TcpOptions) {
    if let Err(e) = apply(stream, options) {
        tracing::debug!("tcp options on an accepted socket: {e}");
    }
}

pub fn apply_outgoing(socket: &tokio::net::TcpSocket, options: &TcpOptions) {
    if let Err(e) = apply(socket, options) {
        tracing::debug!("tcp options on a backend socket: {e}");
    }
}

/// A dns relay's query socket: what `tcp { ... }` says about buffers and
/// TTLs applies to UDP too, as in relayd.
pub fn apply_datagram(socket: &tokio::net::UdpSocket, options: &TcpOptions) {
    if let Err(e) = apply_ip(socket, options) {
        tracing::debug!("socket options on a query socket: {e}");
    }
}

fn apply(socket: &impl AsFd, options: &TcpOptions) -> io::Result<()> {
    if let Some(nodelay) = options.nodelay {
        SockRef::from(socket).set_nodelay(nodelay)?;
    }
    apply_ip(socket, options)
}

/// The options of any socket: buffer sizes, TTL and minimum TTL.
fn apply_ip(socket: &impl AsFd, options: &TcpOptions) -> io::Result<()> {
    let sock = SockRef::from(socket);
    if let Some(size) = options.socket_buffer {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        sock.set_send_buffer_size(size)?;
        sock.set_recv_buffer_size(size)?;
    }
    if options.ip_ttl.is_none() && options.ip_minttl.is_none() {
        return Ok(());
    }
    let ipv6 = sock.local_addr()?.is_ipv6();
    if let Some(ttl) = options.ip_ttl {
        if ipv6 {
            sock.set_unicast_hops_v6(u32::from(ttl))?;
        } else {
            sock.set_ttl(u32::from(ttl))?;
        }
    }
    if let Some(minttl) = options.ip_minttl {
        let (level, name) = if ipv6 {
            (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
        } else {
            (libc::IPPROTO_IP, libc::IP_MINTTL)
        };
        set_int(socket, level, name, libc::c_int::from(minttl))?;
    }
    Ok(())
}

/// How long, in seconds, the kernel holds a new connection of an HTTP
/// listener back from accept(2) while its first bytes have not come; a
/// client still silent after that is accepted all the same.
const DEFER_ACCEPT_SECS: libc::c_int = 1;

/// An HTTP listener's socket options (an extension; relayd sets none):
/// an HTTP client speaks first and then waits for the answer, so
///
/// - TCP_DEFER_ACCEPT: a connection is accepted once its request is
///   there (HAProxy's `defer-accept`, nginx's `deferred`). The session
///   reads it at once and never registers its socket with the runtime
///   (`core/fresh.rs`), which under load would otherwise cost an
///   `epoll_ctl` ADD and DEL per connection.
/// - TCP_QUICKACK off, which accepted connections inherit (as HAProxy
///   sets it on HTTP listeners): the kernel does not acknowledge the
///   request with a segment of its own but with the answer, one segment
///   less per connection.
pub fn client_speaks_first(listener: &impl AsFd) -> io::Result<()> {
    set_int(
        listener,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        DEFER_ACCEPT_SECS,
    )?;
    set_int(listener, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 0)
}

fn set_int(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The options this platform cannot honour, for a warning at startup.
pub fn unsupported(options: &TcpOptions) -> Option<&'static str> {
    options
        .sack
        .map(|_| "tcp sack is a system-wide setting on Linux (net.ipv4.tcp_sack), ignored")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn options_reach_the_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        let options = TcpOptions {
            nodelay: Some(true),
            socket_buffer: Some(65536),
            ip_ttl: Some(42),
            ip_minttl: Some(7),
            ..TcpOptions::default()
        };
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        apply_outgoing(&socket, &options);
        let stream = socket.connect(addr).await.unwrap();
        let sock = SockRef::from(&stream);
        assert!(sock.nodelay().unwrap());
        assert_eq!(sock.ttl().unwrap(), 42);
        // Linux doubles the requested buffer size for its bookkeeping.
        assert!(sock.recv_buffer_size().unwrap() >= 65536);
    }

    fn get_int(socket: &impl AsFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` outlive the call, which writes at most `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_fd().as_raw_fd(),
                level,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        value
    }

    /// A connection accepted from an HTTP listener comes with its request
    /// and acknowledges it only with the answer (it inherits the
    /// listener's delayed acknowledgements); one from a plain listener
    /// acknowledges at once.
    #[test]
    fn accepted_http_connections_delay_their_first_ack() {
        for http in [false, true] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            if http {
                client_speaks_first(&listener).unwrap();
                let defer = get_int(&listener, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT);
                assert!(defer >= DEFER_ACCEPT_SECS, "TCP_DEFER_ACCEPT {defer}");
            }
            let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            std::io::Write::write_all(&mut client, b"GET / HTTP/1.1\r\n\r\n").unwrap();
            let (accepted, _) = listener.accept().unwrap();
            let quickack = get_int(&accepted, libc::IPPROTO_TCP, libc::TCP_QUICKACK);
            assert_eq!(quickack, i32::from(!http), "http listener: {http}");
        }
    }
}
