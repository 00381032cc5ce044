//! Relaying both directions of a plain TCP session until it ends.
//!
//! End of file on one side half-closes the other (`shutdown(SHUT_WR)`) and
//! the opposite direction goes on; the session is done when both sides
//! have finished. A read error (a reset) on one side resets the other side
//! (SO_LINGER 0, so the peer sees a RST too), a failed write resets the
//! side data came from. `session timeout` closes a session after that
//! long without data in either direction.
//!
//! A session whose two directions have waited for data for [`PARK_AFTER`]
//! ends its pump with [`Ended::Parked`]: its task and its runtime
//! registrations are given up and the sockets wait in the parking lot.

use super::copy::{copy_direction, CopyError};
use super::splice::{splice_direction, SpliceError};
use crate::relay::core::clock::{ActivityClock, Way};
use crate::relay::core::end::Ended;
use crate::relay::core::park::PARK_AFTER;
use crate::relay::core::shared::Shared;
use socket2::SockRef;
use std::io;
use std::net::Shutdown;
use std::time::Duration;
use tokio::net::TcpStream;

enum DirectionError {
    Read(io::Error),
    Write(io::Error),
}

/// Moves bytes both ways (with splice(2) if `splice`) until the session
/// ends, times out after `timeout` without data, or should be parked.
pub async fn pump(
    shared: &Shared,
    splice: bool,
    timeout: Duration,
    client: &TcpStream,
    server: &TcpStream,
    clock: &ActivityClock,
) -> Ended {
    let upstream = direction(shared, splice, client, server, clock, Way::In);
    let downstream = direction(shared, splice, server, client, clock, Way::Out);
    let idle = idle_timer(clock, timeout);
    tokio::pin!(upstream, downstream, idle);
    let (mut upstream_done, mut downstream_done) = (false, false);
    while !(upstream_done && downstream_done) {
        tokio::select! {
            result = &mut upstream, if !upstream_done => match result {
                Ok(()) => {
                    half_close(server);
                    upstream_done = true;
                }
                Err(DirectionError::Read(e)) => {
                    reset(server);
                    return Ended::ClientRead(e);
                }
                Err(DirectionError::Write(e)) => {
                    reset(client);
                    return Ended::ServerWrite(e);
                }
            },
            result = &mut downstream, if !downstream_done => match result {
                Ok(()) => {
                    half_close(client);
                    downstream_done = true;
                }
                Err(DirectionError::Read(e)) => {
                    reset(client);
                    return Ended::ServerRead(e);
                }
                Err(DirectionError::Write(e)) => {
                    reset(server);
                    return Ended::ClientWrite(e);
                }
            },
            ended = &mut idle => return ended,
        }
    }
    Ended::Done
}

async fn direction(
    shared: &Shared,
    splice: bool,
    src: &TcpStream,
    dst: &TcpStream,
    clock: &ActivityClock,
    way: Way,
) -> Result<(), DirectionError> {
    if splice {
        match splice_direction(&shared.pipes, src, dst, clock, way).await {
            Ok(()) => return Ok(()),
            Err(SpliceError::Read(e)) => return Err(DirectionError::Read(e)),
            Err(SpliceError::Write(e)) => return Err(DirectionError::Write(e)),
            Err(SpliceError::Unsupported) => {
                tracing::debug!("splice refused by the kernel, copying instead")
            }
        }
    }
    copy_direction(src, dst, clock, way)
        .await
        .map_err(|e| match e {
            CopyError::Read(e) => DirectionError::Read(e),
            CopyError::Write(e) => DirectionError::Write(e),
        })
}

/// Resolves with `Timeout` once the session has been idle for `timeout`,
/// or with `Parked` once it has been at rest for [`PARK_AFTER`]. A session
/// with a finished direction never rests in both, so it is not parked, and
/// neither is one whose directions never rest (a layered session).
pub async fn idle_timer(clock: &ActivityClock, timeout: Duration) -> Ended {
    loop {
        let idle = clock.idle();
        if idle >= timeout {
            return Ended::Timeout;
        }
        if idle >= PARK_AFTER && clock.both_resting() {
            return Ended::Parked;
        }
        let until_park = PARK_AFTER.saturating_sub(idle);
        let next = if until_park.is_zero() {
            PARK_AFTER
        } else {
            until_park
        };
        tokio::time::sleep(next.min(timeout - idle)).await;
    }
}

fn half_close(stream: &TcpStream) {
    // The peer may be gone already: then there is nothing left to tell it.
    let _ = SockRef::from(stream).shutdown(Shutdown::Write);
}

/// Makes the close that follows send a RST instead of a FIN.
pub fn reset(stream: &impl std::os::fd::AsFd) {
    let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
