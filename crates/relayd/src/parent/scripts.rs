//! `check script`: the hce is chrooted and cannot run programs, so it asks
//! the parent. Each script runs in a task of its own, as the unprivileged
//! user with the host name as its argument, and is killed after the table's
//! timeout (see `relayd_check::run_script`); the task sends the result
//! straight to the hce, with the request id the hce matches it by.

use super::links::{ChildLink, EngineMessage};
use crate::privsep::Sandbox;
use relayd_check::{run_script, HostError};
use relayd_proto::messages::parent_hce::ParentToHce;
use relayd_proto::messages::{ScriptRequest, ScriptResult};
use std::time::Duration;

pub struct ScriptRunner;

impl ScriptRunner {
    /// Runs the script of `request` and answers `hce`.
    pub fn start(&self, request: ScriptRequest, hce: ChildLink) {
        tokio::spawn(async move {
            let retval = run(&request).await;
            let result = ScriptResult {
                request_id: request.request_id,
                host_id: request.host_id,
                table_id: request.table_id,
                retval,
            };
            if let Err(e) = hce.send(EngineMessage::Hce(ParentToHce::ScriptResult(result)), None) {
                tracing::warn!("check script {}: {e}", request.path);
            }
        });
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
