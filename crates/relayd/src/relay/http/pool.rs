//! Idle backend connections of one relay process, shared by the sessions
//! of its `http protocol` relays (`http { reuse }`, the default): a client
//! session that ends after a complete exchange leaves its backend
//! connection here, and a new request to the same backend takes it
//! instead of connecting. What may come back is decided by the exchange
//! (`Link::reusable`, HAProxy's `http-reuse safe` rules); this file only
//! keeps connections and gives them out.
//!
//! Keyed by relay and backend (host id, address and port); the relay
//! stands for its socket and TLS settings (only plain TCP connections are
//! pooled). An entry holds its session's plan and is handed only to
//! sessions of that plan. A new configuration (a reload, a table change)
//! moves an entry to its relay's new plan if that plan connects the same
//! way and still reaches the backend (`carry_over`), and closes it
//! otherwise: emptying the pool at every reload made every client
//! connection's next request connect anew at once, which doubled p99
//! under one-connection-per-request load (scripts/bench-reload.sh).
//! Bounded: [`IDLE_PER_BACKEND`] per key, [`IDLE_TIME`] (or the relay's
//! session timeout, if shorter) per connection. A connection the backend
//! closed, or sent anything on while idle, is found by a non-blocking
//! peek before it is handed out, and dropped.

use crate::relay::core::plan::RelayPlan;
use crate::relay::core::shared::Backend;
use relayd_config::ObjectId;
use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections kept per relay and backend in one relay process.
pub const IDLE_PER_BACKEND: usize = 64;
/// How long a connection may wait idle. Shorter than the keep-alive
/// timeouts common servers use (Apache 5 s, nginx 75 s), so that the
/// relay lets go first.
pub const IDLE_TIME: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    relay: ObjectId,
    backend: Backend,
}

struct Idle {
    stream: TcpStream,
    plan: Arc<RelayPlan>,
    until: Instant,
}

/// What `show relays` says about one relay's pool in this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolFigures {
    pub idle: u32,
    /// Connections handed out again since the configuration started.
    pub reused: u64,
}

#[derive(Default)]
pub struct BackendPool {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    idle: HashMap<Key, Vec<Idle>>,
    reused: HashMap<ObjectId, u64>,
}

impl BackendPool {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing in the state can be left half-changed by a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle connection of `plan` to `backend` that is still open, the
    /// most recently used first.
    pub fn take(&self, plan: &Arc<RelayPlan>, backend: Backend) -> Option<TcpStream> {
        let key = Key {
            relay: plan.id,
            backend,
        };
        let mut dropped = Vec::new();
        let mut state = self.state();
        let now = Instant::now();
        let found = {
            let entries = state.idle.get_mut(&key)?;
            let mut found = None;
            while let Some(idle) = entries.pop() {
                let usable = Arc::ptr_eq(&idle.plan, plan) && idle.until > now;
                if usable && still_quiet(&idle.stream) {
                    found = Some(idle.stream);
                    break;
                }
                dropped.push(idle);
            }
            if entries.is_empty() {
                state.idle.remove(&key);
            }
            found
        };
        if found.is_some() {
            *state.reused.entry(plan.id).or_default() += 1;
        }
        drop(state);
        drop(dropped);
        found
    }

    /// Keeps `stream`, a connection of `plan` to `backend` that has just
    /// finished an exchange cleanly; the oldest goes when the key is full.
    pub fn put(&self, plan: &Arc<RelayPlan>, backend: Backend, stream: TcpStream) {
        let key = Key {
            relay: plan.id,
            backend,
        };
        let until = Instant::now() + IDLE_TIME.min(plan.session_timeout);
        let mut state = self.state();
        let entries = state.idle.entry(key).or_default();
        let oldest = (entries.len() >= IDLE_PER_BACKEND).then(|| entries.remove(0));
        entries.push(Idle {
            stream,
            plan: plan.clone(),
            until,
        });
        drop(state);
        drop(oldest);
    }

    /// The host went down or was disabled: its idle connections close.
    pub fn forget_hosts(&self, hosts: &[ObjectId]) {
        let mut state = self.state();
        let gone: Vec<Vec<Idle>> = {
            let keys: Vec<Key> = state
                .idle
                .keys()
                .filter(|k| k.backend.host.is_some_and(|h| hosts.contains(&h)))
                .copied()
                .collect();
            keys.iter().filter_map(|k| state.idle.remove(k)).collect()
        };
        drop(state);
        drop(gone);
    }

    /// A new configuration, whose relays have `plans`: an idle connection
    /// whose relay's new plan connects the same way
    /// (`RelayPlan::connects_like`) and still reaches its backend moves to
    /// that plan; the others close. The counters start over.
    pub fn carry_over(&self, plans: &[Arc<RelayPlan>]) {
        let now = Instant::now();
        let mut gone = Vec::new();
        let mut state = self.state();
        state.reused.clear();
        state.idle.retain(|key, entries| {
            let next = plans
                .iter()
                .find(|p| p.id == key.relay && p.reaches(key.backend));
            let (keep, closed): (Vec<Idle>, Vec<Idle>) = std::mem::take(entries)
                .into_iter()
                .partition(|idle| next.is_some_and(|p| p.connects_like(&idle.plan)));
            gone.extend(closed);
            *entries = keep;
            if let Some(plan) = next {
                let bound = now + IDLE_TIME.min(plan.session_timeout);
                for idle in entries.iter_mut() {
                    idle.plan = plan.clone();
                    idle.until = idle.until.min(bound);
                }
            }
            !entries.is_empty()
        });
        drop(state);
        drop(gone);
    }

    /// Closes connections past their idle time and those the backend
    /// closed meanwhile.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut gone = Vec::new();
        let mut state = self.state();
        state.idle.retain(|_, entries| {
            let (keep, expired): (Vec<Idle>, Vec<Idle>) = std::mem::take(entries)
                .into_iter()
                .partition(|idle| idle.until > now && still_quiet(&idle.stream));
            gone.extend(expired);
            *entries = keep;
            !entries.is_empty()
        });
        drop(state);
        drop(gone);
    }

    pub fn figures(&self, relay: ObjectId) -> PoolFigures {
        let state = self.state();
        let idle = state
            .idle
            .iter()
            .filter(|(k, _)| k.relay == relay)
            .map(|(_, entries)| entries.len())
            .sum::<usize>();
        PoolFigures {
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            reused: state.reused.get(&relay).copied().unwrap_or(0),
        }
    }
}

/// Whether an idle connection is open with nothing to read: the backend
/// neither closed it nor sent anything unasked.
fn still_quiet(stream: &TcpStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer we own; MSG_PEEK leaves the data queued
    // and MSG_DONTWAIT keeps the call from blocking.
    let read = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            std::ptr::from_mut(&mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    read < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::core::plan::Target;
    use crate::relay::core::testing::plan_of;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    fn plan() -> Arc<RelayPlan> {
        plan_of(
            "http protocol p {\n}\nrelay r {\nlisten on 127.0.0.1 port 1\nprotocol p\n\
             forward to 127.0.0.1 port 2\n}\n",
        )
    }

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (ours.unwrap(), theirs.unwrap().0)
    }

    fn backend(port: u16) -> Backend {
        Backend {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            host: Some(7),
        }
    }

    use std::net::SocketAddr;

    #[tokio::test]
    async fn a_kept_connection_is_handed_out_once_and_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (pool, plan) = (BackendPool::default(), plan());
        let (ours, _theirs) = pair(&listener).await;
        pool.put(&plan, backend(1), ours);
        assert_eq!(pool.figures(plan.id).idle, 1);
        assert!(pool.take(&plan, backend(2)).is_none(), "another backend");
        assert!(pool.take(&plan, backend(1)).is_some());
        assert!(pool.take(&plan, backend(1)).is_none(), "handed out once");
        assert_eq!(pool.figures(plan.id), PoolFigures { idle: 0, reused: 1 });
        assert!(pool.take(&self::plan(), backend(1)).is_none());
    }

    #[tokio::test]
    async fn closed_or_talking_connections_and_other_plans_are_not_handed_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (pool, plan) = (BackendPool::default(), plan());
        let (closed, theirs) = pair(&listener).await;
        drop(theirs);
        let (talking, mut theirs_talking) = pair(&listener).await;
        theirs_talking.write_all(b"HTTP/1.1 200").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        pool.put(&plan, backend(1), closed);
        pool.put(&plan, backend(1), talking);
        assert!(pool.take(&plan, backend(1)).is_none());
        assert_eq!(pool.figures(plan.id).idle, 0);
        let (ours, _theirs) = pair(&listener).await;
        pool.put(&plan, backend(1), ours);
        let next_configuration = self::plan();
        assert!(pool.take(&next_configuration, backend(1)).is_none());
    }

    #[tokio::test]
    async fn a_host_forgotten_loses_its_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (pool, plan) = (BackendPool::default(), plan());
        for _ in 0..3 {
            pool.put(&plan, backend(1), pair(&listener).await.0);
        }
        pool.forget_hosts(&[8]);
        assert_eq!(pool.figures(plan.id).idle, 3);
        pool.forget_hosts(&[7]);
        assert_eq!(pool.figures(plan.id).idle, 0);
    }

    /// Plans of a relay `r` with a `tcp { }` body, forwarding to table
    /// `<web>` of `hosts`.
    fn table_plan(tcp: &str, hosts: &str) -> Arc<RelayPlan> {
        plan_of(&format!(
            "table <web> {{ {hosts} }}\nhttp protocol p {{\ntcp {{ {tcp} }}\n}}\n\
             relay r {{\nlisten on 127.0.0.1 port 1\nprotocol p\n\
             forward to <web> port 2\n}}\n"
        ))
    }

    #[tokio::test]
    async fn a_new_configuration_keeps_what_it_can_use_and_closes_the_rest() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = BackendPool::default();
        let old = table_plan("nodelay", "127.0.0.1, 127.0.0.2");
        let ids: Vec<ObjectId> = match &old.target {
            Target::Tables(t) => t[0].table.hosts.iter().map(|h| h.id).collect(),
            _ => Vec::new(),
        };
        let [first, second] = ids[..] else {
            panic!("two hosts: {ids:?}");
        };
        let host = |id| Backend {
            addr: SocketAddr::from(([127, 0, 0, if id == first { 1 } else { 2 }], 2)),
            host: Some(id),
        };
        let mut theirs = Vec::new();
        for id in [first, second] {
            let (ours, other) = pair(&listener).await;
            theirs.push(other);
            pool.put(&old, host(id), ours);
        }
        assert!(pool.take(&old, host(first)).is_some());
        let (ours, other) = pair(&listener).await;
        theirs.push(other);
        pool.put(&old, host(first), ours);

        // The same relay and options, the second host gone: the first
        // host's connection serves the new plan, the second's closes.
        let next = table_plan("nodelay", "127.0.0.1");
        pool.carry_over(std::slice::from_ref(&next));
        assert_eq!(pool.figures(next.id), PoolFigures { idle: 1, reused: 0 });
        assert!(pool.take(&next, host(first)).is_some());

        // Other socket options: nothing is carried over.
        let (ours, other) = pair(&listener).await;
        theirs.push(other);
        pool.put(&next, host(first), ours);
        let other_options = table_plan("no nodelay", "127.0.0.1");
        pool.carry_over(std::slice::from_ref(&other_options));
        assert_eq!(pool.figures(next.id).idle, 0);

        // No plan for the relay any more: nothing either.
        let (ours, other) = pair(&listener).await;
        theirs.push(other);
        pool.put(&other_options, host(first), ours);
        pool.carry_over(&[]);
        assert_eq!(pool.figures(next.id).idle, 0);
    }

    #[tokio::test]
    async fn the_pool_is_bounded_per_backend() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (pool, plan) = (BackendPool::default(), plan());
        let mut theirs = Vec::new();
        for _ in 0..IDLE_PER_BACKEND + 2 {
            let (ours, other) = pair(&listener).await;
            theirs.push(other);
            pool.put(&plan, backend(1), ours);
        }
        let idle = pool.figures(plan.id).idle as usize;
        assert_eq!(idle, IDLE_PER_BACKEND);
    }
}
