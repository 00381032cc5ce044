//! The parking lot: idle sessions without a task. A session at rest gives
//! up its task and its runtime registrations; its two sockets wait in an
//! epoll set of their own, and its state (a few dozen bytes) in one table.
//! When either socket becomes readable (data, end of file or a reset), the
//! session leaves the lot and a new task resumes it with what its protocol
//! kept ([`Resume`]). Parked sessions past their `session timeout` are
//! closed by [`Shared::sweep`](super::shared::Shared::sweep).
//!
//! So thousands of idle keep-alive sessions cost two sockets and one table
//! entry each, not two reactor registrations and a task. Only plain TCP
//! sessions park: a layered stream (TLS) keeps state in user space, so its
//! session keeps its task while idle (see `core/stream.rs`).

use super::session::{self, Connected, Resume};
use super::shared::Shared;
use indexmap::IndexMap;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;

/// How long a session waits for data, with nothing in flight, before it
/// is parked.
pub const PARK_AFTER: Duration = Duration::from_millis(500);

/// A session waiting in the lot.
pub struct ParkedSession {
    pub session: Connected,
    pub client: TcpStream,
    pub server: TcpStream,
    pub started: Instant,
    pub last: Instant,
    /// What the session's protocol needs to go on.
    pub resume: Resume,
}

/// Why a session at rest could not be parked; it is closed instead.
#[derive(Debug, thiserror::Error)]
pub enum ParkError {
    /// Taking a socket out of the runtime failed.
    #[error("{0}")]
    Deregister(io::Error),
    /// Adding a socket to the lot's epoll set failed.
    #[error("{0}")]
    Register(io::Error),
    /// A side is a layered stream (TLS): its state is not in the socket.
    #[error("a layered stream cannot wait as a raw socket")]
    NotPlain,
}

pub struct ParkingLot {
    epoll: OwnedFd,
    /// An index map, not a hash map: its sessions sit densely in one
    /// vector and only a table of indices has the hash map's empty
    /// buckets (up to half of them, since it doubles at seven eighths
    /// full). Boxing each session instead would pin small blocks among
    /// the freed buffers of running sessions, and the heap would not
    /// shrink back.
    parked: Mutex<IndexMap<u32, ParkedSession>>,
}

impl ParkingLot {
    pub fn new() -> io::Result<ParkingLot> {
        // SAFETY: no pointers; a valid descriptor or -1 comes back.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ParkingLot {
            // SAFETY: `fd` was just created and nothing else owns it.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            parked: Mutex::new(IndexMap::new()),
        })
    }

    fn control(&self, op: libc::c_int, socket: &TcpStream, id: u32) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: u64::from(id),
        };
        // SAFETY: `event` outlives the call; both descriptors are open.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, socket.as_raw_fd(), &mut event) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn parked(&self) -> std::sync::MutexGuard<'_, IndexMap<u32, ParkedSession>> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Parks a session; on failure it is handed back with the error.
    pub fn park(&self, parked: ParkedSession) -> Result<(), Box<(ParkedSession, ParkError)>> {
        let id = parked.session.id;
        let added = self
            .control(libc::EPOLL_CTL_ADD, &parked.client, id)
            .and_then(|()| {
                self.control(libc::EPOLL_CTL_ADD, &parked.server, id)
                    .inspect_err(|_| {
                        let _ = self.control(libc::EPOLL_CTL_DEL, &parked.client, id);
                    })
            });
        match added {
            Ok(()) => {
                self.parked().insert(id, parked);
                Ok(())
            }
            Err(e) => Err(Box::new((parked, ParkError::Register(e)))),
        }
    }

    /// Takes a session out of the lot (and out of the epoll set).
    fn unpark(&self, id: u32) -> Option<ParkedSession> {
        let parked = self.parked().swap_remove(&id)?;
        let _ = self.control(libc::EPOLL_CTL_DEL, &parked.client, id);
        let _ = self.control(libc::EPOLL_CTL_DEL, &parked.server, id);
        Some(parked)
    }

    /// Sessions with data waiting, taken out of the lot.
    fn ready(&self) -> io::Result<Vec<ParkedSession>> {
        const BATCH: usize = 64;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        let mut ready = Vec::new();
        loop {
            // SAFETY: the kernel writes at most BATCH events into `events`.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    BATCH as libc::c_int,
                    0,
                )
            };
            if n < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            let n = n as usize;
            // Both sockets of a session may report: the second finds it gone.
            ready.extend(events[..n].iter().filter_map(|e| {
                let id = e.u64;
                self.unpark(id as u32)
            }));
            if n < BATCH {
                return Ok(ready);
            }
        }
    }

    /// Parked sessions idle for their relay's `session timeout`, taken out
    /// of the lot for closing.
    pub fn expired(&self) -> Vec<ParkedSession> {
        let ids: Vec<u32> = self
            .parked()
            .iter()
            .filter(|(_, p)| p.last.elapsed() >= p.session.plan.session_timeout)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter_map(|id| self.unpark(id)).collect()
    }
}

/// The lot's epoll descriptor as the runtime watches it.
struct LotFd(RawFd);

impl AsRawFd for LotFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Watches the lot and resumes each session that has something to read.
pub async fn watch(shared: Arc<Shared>) {
    let fd = LotFd(shared.lot.epoll.as_raw_fd());
    // SAFETY: the epoll descriptor belongs to the shared state, which this task
    // holds (and drops after `lot`), and nobody closes or replaces it.
    let registered = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) };
    let lot = match registered {
        Ok(lot) => lot,
        Err(e) => return tracing::error!("cannot watch parked sessions: {e}"),
    };
    loop {
        let mut guard = match lot.readable().await {
            Ok(guard) => guard,
            Err(e) => return tracing::error!("watching parked sessions: {e}"),
        };
        match shared.lot.ready() {
            Ok(ready) => {
                guard.clear_ready();
                for parked in ready {
                    tokio::spawn(session::resume(shared.clone(), parked));
                }
            }
            Err(e) => {
                tracing::error!("parked sessions: {e}");
                guard.clear_ready();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::core::plan::RelayPlan;
    use crate::relay::core::shared::Backend;
    use crate::relay::tcp::TcpPlan;
    use relayd_config::{Config, ForwardTarget, Relay, RelayForward};
    use std::io::Write;
    use std::net::TcpListener;

    fn plan(timeout_secs: u32) -> Arc<RelayPlan> {
        let relay = Relay {
            id: 1,
            name: "test".into(),
            disabled: false,
            listen: Vec::new(),
            protocol: None,
            forward: vec![RelayForward {
                target: ForwardTarget::Address {
                    addr: "127.0.0.1".parse().unwrap(),
                    port: 9,
                },
                tls: false,
                transparent: false,
                retry: 0,
                inet: false,
                inet6_prefix: None,
            }],
            session_timeout_secs: timeout_secs,
            origin: Default::default(),
        };
        Arc::new(RelayPlan::new(&Config::default(), &relay).unwrap())
    }

    /// A connected pair: (our end, the peer's end).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        (ours, theirs)
    }

    fn parked(id: u32, timeout_secs: u32) -> (ParkedSession, TcpStream, TcpStream) {
        let (client, client_peer) = pair();
        let (server, server_peer) = pair();
        let session = ParkedSession {
            session: Connected {
                id,
                plan: plan(timeout_secs),
                peer: client.peer_addr().unwrap(),
                backend: Backend {
                    addr: server.peer_addr().unwrap(),
                    host: None,
                },
            },
            client,
            server,
            started: Instant::now(),
            last: Instant::now(),
            resume: Resume::Tcp(TcpPlan { splice: true }),
        };
        (session, client_peer, server_peer)
    }

    #[test]
    fn a_parked_session_leaves_the_lot_when_a_side_has_data() {
        let lot = ParkingLot::new().unwrap();
        let (quiet, _c1, _s1) = parked(1, 600);
        let (woken, _c2, mut server_peer) = parked(2, 600);
        assert!(lot.park(quiet).is_ok());
        assert!(lot.park(woken).is_ok());
        assert!(lot.ready().unwrap().is_empty());
        server_peer.write_all(b"hello").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let ready: Vec<u32> = lot.ready().unwrap().iter().map(|p| p.session.id).collect();
        assert_eq!(ready, [2]);
        // Taken out: it does not report twice, the quiet one stays.
        assert!(lot.ready().unwrap().is_empty());
        assert_eq!(lot.parked().len(), 1);
    }

    #[test]
    fn parked_sessions_past_their_timeout_expire() {
        let lot = ParkingLot::new().unwrap();
        let (short, _c1, _s1) = parked(1, 1);
        let (long, _c2, _s2) = parked(2, 600);
        assert!(lot.park(short).is_ok());
        assert!(lot.park(long).is_ok());
        assert!(lot.expired().is_empty());
        std::thread::sleep(Duration::from_millis(1100));
        let expired: Vec<u32> = lot.expired().iter().map(|p| p.session.id).collect();
        assert_eq!(expired, [1]);
        assert_eq!(lot.parked().len(), 1);
    }
}
