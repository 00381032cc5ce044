//! `check script`: the hce is chrooted and cannot run programs, so it asks
//! the parent. Each script runs in a task of its own, as the unprivileged
//! user with the host name as its argument, and is killed after the table's
//! timeout (see `relayd_check::run_script`); the results come back to the
//! main loop, which sends them to the hce.

use crate::privsep::Sandbox;
use relayd_check::{run_script, HostError};
use relayd_proto::messages::{ScriptRequest, ScriptResult};
use std::time::Duration;
use tokio::sync::mpsc;

pub struct ScriptRunner {
    results_tx: mpsc::UnboundedSender<ScriptResult>,
    results: mpsc::UnboundedReceiver<ScriptResult>,
}

impl ScriptRunner {
    pub fn new() -> ScriptRunner {
        let (results_tx, results) = mpsc::unbounded_channel();
        ScriptRunner {
            results_tx,
            results,
        }
    }

    /// Starts the script of `request`; its result arrives through
    /// [`ScriptRunner::next_result`].
    pub fn start(&self, request: ScriptRequest) {
        let results = self.results_tx.clone();
        tokio::spawn(async move {
            let retval = run(&request).await;
            let _ = results.send(ScriptResult {
                host_id: request.host_id,
                table_id: request.table_id,
                retval,
            });
        });
    }

    /// The next finished script (never `None`: the runner keeps a sender).
    pub async fn next_result(&mut self) -> Option<ScriptResult> {
        self.results.recv().await
    }
}

/// Runs one script: 1 when it says up, 0 when it says down or cannot run,
/// -1 when it was killed at the timeout.
async fn run(request: &ScriptRequest) -> i32 {
    // Scripts never run as root: without the unprivileged user, the host
    // is down.
    let user = match Sandbox::from_env().lookup_user() {
        Ok(user) => user,
        Err(e) => {
            tracing::warn!("check script {}: {e}", request.path);
            return 0;
        }
    };
    let run_as = Some((user.uid.as_raw(), user.gid.as_raw()));
    let timeout = Duration::from_millis(u64::from(request.timeout_ms));
    let outcome = run_script(&request.path, &request.host_name, timeout, run_as).await;
    tracing::debug!(
        "check script {} {}: {} ({}ms)",
        request.path,
        request.host_name,
        outcome.error,
        outcome.elapsed.as_millis()
    );
    match outcome.error {
        HostError::ScriptTimeout => -1,
        _ if outcome.up => 1,
        _ => 0,
    }
}
