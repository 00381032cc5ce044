//! Accepting on one listening socket the parent passed (this process's
//! SO_REUSEPORT copy) and starting a session per connection. A `disable`d
//! relay closes what it accepts at once.

use super::plan::RelayPlan;
use super::session;
use super::shared::Shared;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Starts accepting on `fd` in a task; aborting the task closes the socket.
pub fn start(
    shared: Arc<Shared>,
    plan: Arc<RelayPlan>,
    listen: SocketAddr,
    fd: OwnedFd,
) -> Result<JoinHandle<()>, String> {
    let std_listener = std::net::TcpListener::from(fd);
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("relay {}: listener {listen}: {e}", plan.name))?;
    let listener = TcpListener::from_std(std_listener)
        .map_err(|e| format!("relay {}: listener {listen}: {e}", plan.name))?;
    Ok(tokio::spawn(accept_loop(shared, plan, listen, listener)))
}

async fn accept_loop(
    shared: Arc<Shared>,
    plan: Arc<RelayPlan>,
    listen: SocketAddr,
    listener: TcpListener,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if plan.disabled {
                    tracing::debug!("relay {} is disabled: closed {peer}", plan.name);
                    continue;
                }
                tokio::spawn(session::run(
                    shared.clone(),
                    plan.clone(),
                    stream,
                    peer,
                    listen,
                ));
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
