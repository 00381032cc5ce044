//! [`IcmpPinger`]: many concurrent echo checks over one socket per family.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{recvfrom, sendto, MsgFlags, SockaddrIn, SockaddrIn6, SockaddrStorage};
use socket2::SockRef;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use super::packet::{echo_request, parse_echo_reply, Family, ECHO_PACKET_LEN};
use super::sockets::IcmpSockets;
use crate::{HostError, Outcome, Verdict};

/// Sends echo requests for any number of concurrent checks and hands each
/// reply to the check that asked for it. Needs a tokio runtime with I/O
/// enabled; dropping it stops its receive tasks.
pub struct IcmpPinger {
    shared: Arc<Shared>,
    receivers: Vec<JoinHandle<()>>,
}

struct Shared {
    /// ICMP identifier of this pinger's requests: other pingers (or ping(8))
    /// on the machine see our replies too.
    identifier: u16,
    next_token: AtomicU32,
    v4: Option<Arc<RawSocket>>,
    v6: Option<Arc<RawSocket>>,
    waiting: Mutex<HashMap<u32, Waiter>>,
}

struct RawSocket {
    family: Family,
    fd: AsyncFd<OwnedFd>,
    /// The TTL the socket is set to; held while setting it and sending, so
    /// concurrent checks with different `ip ttl` do not mix.
    ttl: Mutex<Option<u8>>,
}

struct Waiter {
    addr: IpAddr,
    reply: oneshot::Sender<()>,
}

impl IcmpPinger {
    /// Takes over the sockets and starts one receive task per family.
    pub fn new(sockets: IcmpSockets) -> io::Result<IcmpPinger> {
        let v4 = sockets
            .v4
            .map(|fd| RawSocket::new(Family::V4, fd))
            .transpose()?;
        let v6 = sockets
            .v6
            .map(|fd| RawSocket::new(Family::V6, fd))
            .transpose()?;
        let shared = Arc::new(Shared {
            identifier: new_identifier(),
            next_token: AtomicU32::new(0),
            v4,
            v6,
            waiting: Mutex::new(HashMap::new()),
        });
        let receivers = [&shared.v4, &shared.v6]
            .into_iter()
            .flatten()
            .map(|socket| tokio::spawn(receive_replies(shared.clone(), socket.clone())))
            .collect();
        Ok(IcmpPinger { shared, receivers })
    }

    /// Pings `addr` once and waits up to `timeout` for the reply.
    pub async fn ping(&self, addr: IpAddr, ip_ttl: Option<u8>, timeout: Duration) -> Outcome {
        let started = Instant::now();
        self.ping_until(addr, ip_ttl, started + timeout)
            .await
            .finish(started)
    }

    pub(crate) async fn ping_until(
        &self,
        addr: IpAddr,
        ip_ttl: Option<u8>,
        deadline: Instant,
    ) -> Verdict {
        let socket = match addr {
            IpAddr::V4(_) => self.shared.v4.as_ref(),
            IpAddr::V6(_) => self.shared.v6.as_ref(),
        };
        let Some(socket) = socket else {
            return Verdict::down(HostError::IcmpWriteTimeout);
        };

        let token = self.shared.next_token.fetch_add(1, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        let _registration = Registration::new(&self.shared, token, addr, reply_tx);

        let packet = echo_request(socket.family, self.shared.identifier, token);
        // A send that fails outright (no route, ...) has no error code of
        // its own in relayd; the host is down for want of a reply.
        match timeout_at(deadline, socket.send(&packet, addr, ip_ttl)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return Verdict::down(HostError::IcmpWriteTimeout),
        }
        self.shared.drain(socket);
        match timeout_at(deadline, reply_rx).await {
            Ok(Ok(())) => Verdict::up(HostError::IcmpOk),
            Ok(Err(_)) | Err(_) => Verdict::down(HostError::IcmpReadTimeout),
        }
    }

    /// Checks currently waiting for a reply (for tests and statistics).
    pub fn pending(&self) -> usize {
        lock(&self.shared.waiting).len()
    }
}

impl Drop for IcmpPinger {
    fn drop(&mut self) {
        for receiver in &self.receivers {
            receiver.abort();
        }
    }
}

/// Removes the waiter when the check ends, however it ends (reply, timeout,
/// or the check's future being dropped).
struct Registration<'a> {
    shared: &'a Shared,
    token: u32,
}

impl<'a> Registration<'a> {
    fn new(shared: &'a Shared, token: u32, addr: IpAddr, reply: oneshot::Sender<()>) -> Self {
        lock(&shared.waiting).insert(token, Waiter { addr, reply });
        Registration { shared, token }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(&self.shared.waiting).remove(&self.token);
    }
}

impl RawSocket {
    fn new(family: Family, fd: OwnedFd) -> io::Result<Arc<RawSocket>> {
        SockRef::from(&fd).set_nonblocking(true)?;
        Ok(Arc::new(RawSocket {
            family,
            // SAFETY: the `OwnedFd` is valid and only closed when the
            // `AsyncFd` owning it is dropped.
            fd: unsafe { AsyncFd::register(fd)? },
            ttl: Mutex::new(None),
        }))
    }

    async fn send(&self, packet: &[u8], addr: IpAddr, ip_ttl: Option<u8>) -> io::Result<()> {
        loop {
            let mut ready = self.fd.writable().await?;
            match ready.try_io(|fd| self.send_now(fd.get_ref(), packet, addr, ip_ttl)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    fn send_now(
        &self,
        fd: &OwnedFd,
        packet: &[u8],
        addr: IpAddr,
        ip_ttl: Option<u8>,
    ) -> io::Result<()> {
        let mut current_ttl = lock(&self.ttl);
        if *current_ttl != ip_ttl {
            set_ttl(fd, self.family, ip_ttl)?;
            *current_ttl = ip_ttl;
        }
        let sent = match addr {
            IpAddr::V4(v4) => sendto(
                fd.as_raw_fd(),
                packet,
                &SockaddrIn::from(SocketAddrV4::new(v4, 0)),
                MsgFlags::empty(),
            ),
            IpAddr::V6(v6) => sendto(
                fd.as_raw_fd(),
                packet,
                &SockaddrIn6::from(SocketAddrV6::new(v6, 0, 0, 0)),
                MsgFlags::empty(),
            ),
        }
        .map_err(io::Error::from)?;
        if sent == packet.len() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::WriteZero, "short ICMP send"))
        }
    }
}

/// `None` restores the system default (Linux takes -1 for that).
fn set_ttl(fd: &OwnedFd, family: Family, ip_ttl: Option<u8>) -> io::Result<()> {
    let value: libc::c_int = ip_ttl.map_or(-1, libc::c_int::from);
    let (level, name) = match family {
        Family::V4 => (libc::IPPROTO_IP, libc::IP_TTL),
        Family::V6 => (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
    };
    // SAFETY: `value` lives across the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
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

/// Room for an IP header with options and our packet; larger datagrams are
/// not ours and are truncated harmlessly.
const DATAGRAM_BUFFER_LEN: usize = 60 + ECHO_PACKET_LEN + 64;

async fn receive_replies(shared: Arc<Shared>, socket: Arc<RawSocket>) {
    let mut buffer = [0u8; DATAGRAM_BUFFER_LEN];
    loop {
        let Ok(mut ready) = socket.fd.readable().await else {
            return;
        };
        let received = ready.try_io(|fd| {
            recvfrom::<SockaddrStorage>(fd.get_ref().as_raw_fd(), &mut buffer)
                .map_err(io::Error::from)
        });
        match received {
            Ok(Ok((len, Some(from)))) => shared.deliver(socket.family, &buffer[..len], &from),
            // Errors (e.g. a queued ICMP error) concern no single check.
            Ok(_) | Err(_) => continue,
        }
    }
}

impl Shared {
    /// Hands a received datagram to the check waiting for it, if it is an
    /// echo reply to one of ours.
    fn deliver(&self, family: Family, datagram: &[u8], from: &SockaddrStorage) {
        let Some(reply) = parse_echo_reply(family, datagram) else {
            return;
        };
        if reply.identifier != self.identifier {
            return;
        }
        let Some(from) = source_addr(from) else {
            return;
        };
        let mut waiting = lock(&self.waiting);
        // A reply from another address than the one pinged is forged or
        // stray: leave the check waiting, as relayd does.
        if waiting.get(&reply.token).is_some_and(|w| w.addr == from) {
            if let Some(waiter) = waiting.remove(&reply.token) {
                let _ = waiter.reply.send(());
            }
        }
    }

    /// Reads every datagram already queued on the socket, without waiting.
    /// Done after each send: when thousands of checks start at once, the
    /// receive task may only run once all of them have sent, and the
    /// socket's receive buffer would overflow in between (replies from
    /// nearby hosts are queued before `sendto` even returns).
    fn drain(&self, socket: &RawSocket) {
        let mut buffer = [0u8; DATAGRAM_BUFFER_LEN];
        // Stops at EAGAIN. The receive task's readiness may still be set;
        // it then finds nothing, clears it and waits for the next packet.
        while let Ok((len, Some(from))) =
            recvfrom::<SockaddrStorage>(socket.fd.get_ref().as_raw_fd(), &mut buffer)
        {
            self.deliver(socket.family, &buffer[..len], &from);
        }
    }
}

fn source_addr(from: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = from.as_sockaddr_in() {
        return Some(IpAddr::V4(*SocketAddrV4::from(*v4).ip()));
    }
    from.as_sockaddr_in6()
        .map(|v6| IpAddr::V6(*SocketAddrV6::from(*v6).ip()))
}

/// Identifiers differ per process and per pinger in a process.
fn new_identifier() -> u16 {
    static PINGERS: AtomicU16 = AtomicU16::new(0);
    let pid = std::process::id() as u16;
    pid.wrapping_add(PINGERS.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919))
}

/// The protected maps stay consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
