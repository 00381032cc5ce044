//! A refusal on demand, for the end-to-end tests of the lifecycle (a
//! configuration one child refuses must change nothing anywhere). Only in
//! debug builds: a release pfe never reads the variable.
//!
//! With `RELAYD_TEST_PFE_REFUSES=NAME` in relayd's environment, the pfe
//! refuses every configuration that has a redirect named NAME, as it
//! refuses one whose rules the kernel rejects.

use relayd_config::Config;
use relayd_proto::messages::Refusal;

/// The environment variable naming the redirect to refuse.
pub const REFUSE_REDIRECT: &str = "RELAYD_TEST_PFE_REFUSES";

/// The refusal the variable asks for `config`, if any.
pub fn refusal(config: &Config) -> Option<Refusal> {
    let name = std::env::var(REFUSE_REDIRECT).ok()?;
    config
        .redirects
        .iter()
        .find(|r| r.name == name)
        .map(|r| Refusal::Redirections {
            reason: format!("{REFUSE_REDIRECT} refuses redirect {}", r.name),
        })
}
