//! Host checks of relayd's health check engine (hce), and the state logic
//! that turns check results into host states.
//!
//! One module per check method, as relayd's `check_*.c`:
//! [`tcp`] (connect, also the transport of every stream check), [`tls`],
//! [`http`] (code and digest), [`send_expect`] (text and binary),
//! [`icmp`] (echo over shared raw sockets) and [`script`]. [`check_host`]
//! picks the method from a table's [`Check`]; [`HostTracker`] applies
//! relayd's `retry` and availability rules to the results.
//!
//! This crate knows nothing about processes or imsg: it takes a check
//! description and a target and answers with an [`Outcome`].
//!
//! ```no_run
//! # async fn engine(table: &relayd_config::Table, sockets: relayd_check::IcmpSockets) {
//! use relayd_check::{check_host, HostTracker, IcmpPinger, Target};
//! use std::time::Duration;
//!
//! // Once per engine: the raw sockets come from the privileged parent.
//! let pinger = IcmpPinger::new(sockets).expect("icmp");
//! let mut trackers: Vec<HostTracker> =
//!     table.hosts.iter().map(|host| HostTracker::new(host.retry)).collect();
//!
//! // Every interval, for every host (concurrently in a real engine):
//! for (host, tracker) in table.hosts.iter().zip(&mut trackers) {
//!     let target = Target { addr: host.addr, port: table.port.unwrap_or(0), ip_ttl: host.ip_ttl };
//!     tracker.start_check();
//!     let timeout = Duration::from_millis(u64::from(table.timeout_ms));
//!     let outcome = check_host(&table.check, &target, timeout, Some(&pinger)).await;
//!     let transition = tracker.record(&outcome);
//!     if transition.changed() {
//!         println!("host {}, check ({:?},{}), state {} -> {}, availability {}",
//!             host.name, outcome.elapsed, outcome.error, transition.from, transition.to,
//!             tracker.availability_text());
//!     }
//! }
//! # }
//! ```

pub mod error;
pub mod fnmatch;
pub mod http;
pub mod icmp;
pub mod script;
pub mod send_expect;
pub mod tcp;
pub mod tls;
pub mod tracker;

mod exchange;

use std::net::IpAddr;
use std::time::Duration;

use relayd_config::Check;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use error::HostError;
pub use icmp::{IcmpPinger, IcmpSockets};
pub use script::run_script;
pub use tracker::{HostState, HostTracker, ParentLinks, Transition};

/// Where to check: a host of a table, on the table's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub addr: IpAddr,
    /// Ignored by `check icmp`.
    pub port: u16,
    /// `ip ttl N` of the host: IP TTL / IPv6 hop limit of the check packets.
    pub ip_ttl: Option<u8>,
}

/// The result of one check of one host. Plain data, so the parent can send
/// a script's outcome to the check engine over imsg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub up: bool,
    pub error: HostError,
    /// From the start of the check to its verdict.
    pub elapsed: Duration,
    /// The status code an HTTP server answered, when one could be parsed
    /// (relayd logs it after the error: `http code mismatch,404`).
    pub http_code: Option<u16>,
}

impl Outcome {
    pub fn up(error: HostError, elapsed: Duration) -> Outcome {
        Outcome {
            up: true,
            error,
            elapsed,
            http_code: None,
        }
    }

    pub fn down(error: HostError, elapsed: Duration) -> Outcome {
        Outcome {
            up: false,
            error,
            elapsed,
            http_code: None,
        }
    }
}

/// A verdict before its duration is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub up: bool,
    pub error: HostError,
    pub http_code: Option<u16>,
}

impl Verdict {
    pub(crate) fn up(error: HostError) -> Verdict {
        Verdict {
            up: true,
            error,
            http_code: None,
        }
    }

    pub(crate) fn down(error: HostError) -> Verdict {
        Verdict {
            up: false,
            error,
            http_code: None,
        }
    }

    pub(crate) fn finish(self, started: Instant) -> Outcome {
        Outcome {
            up: self.up,
            error: self.error,
            elapsed: started.elapsed(),
            http_code: self.http_code,
        }
    }
}

/// Runs one check of `target` as the table's `check` says, within `timeout`
/// (the table's `timeout`, relayd's default 200 ms) for all its steps
/// together.
///
/// `check icmp` needs the engine's shared [`IcmpPinger`]; without one the
/// host is reported down (`icmp write timeout`). `check script` is not run
/// here, because scripts run in the privileged parent: call [`run_script`]
/// there. For it, and for `Check::None`, this returns down with
/// [`HostError::None`].
pub async fn check_host(
    check: &Check,
    target: &Target,
    timeout: Duration,
    icmp: Option<&IcmpPinger>,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + timeout;
    // The TLS and request/response checks keep buffers and TLS state in
    // their futures; boxing them keeps the common `check tcp` future small
    // (tens of thousands of them are alive at once).
    let verdict = match check {
        Check::None | Check::Script { .. } => Verdict::down(HostError::None),
        Check::Icmp => match icmp {
            Some(pinger) => {
                pinger
                    .ping_until(target.addr, target.ip_ttl, deadline)
                    .await
            }
            None => Verdict::down(HostError::IcmpWriteTimeout),
        },
        Check::Tcp => tcp::check(target, deadline).await,
        Check::Tls => Box::pin(tls::check(target, deadline)).await,
        Check::Http {
            tls,
            path,
            host,
            expect,
        } => {
            Box::pin(http::check(
                target,
                deadline,
                *tls,
                path,
                host.as_deref(),
                expect,
            ))
            .await
        }
        Check::Send { send, expect, tls } => {
            Box::pin(send_expect::check_text(
                target, deadline, *tls, send, expect,
            ))
            .await
        }
        Check::Binary { send, expect, tls } => {
            Box::pin(send_expect::check_binary(
                target, deadline, *tls, send, expect,
            ))
            .await
        }
    };
    verdict.finish(started)
}
