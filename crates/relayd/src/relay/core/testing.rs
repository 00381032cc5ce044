//! Helpers for the relay's unit tests: plans from relayd.conf text, the
//! shared state of a relay process, a port nothing listens on.

use super::plan::{plans, RelayPlan};
use super::shared::Shared;
use relayd_config::{parse_str, LoadOptions};
use std::sync::Arc;

/// The plan of relay `r` of `config` (relayd.conf text).
pub fn plan_of(config: &str) -> Arc<RelayPlan> {
    let config = parse_str(config, "test.conf", &LoadOptions::default()).expect("valid config");
    let plans = plans(&config).expect("plans");
    plans
        .into_iter()
        .find(|p| p.name == "r")
        .expect("a relay named r")
}

/// Relay `r` with `forward` (one line) and, if `protocol` is not empty,
/// the protocol `p` it defines (given whole, with any tables it needs).
pub fn plan(protocol: &str, forward: &str) -> Arc<RelayPlan> {
    let uses = if protocol.is_empty() {
        ""
    } else {
        "protocol p\n"
    };
    plan_of(&format!(
        "{protocol}\nrelay r {{\nlisten on 127.0.0.1 port 1\n{uses}{forward}\n}}\n"
    ))
}

/// The state of relay process 0; transparent connects are never answered.
pub fn shared() -> Arc<Shared> {
    let (bind_any, _) = tokio::sync::mpsc::unbounded_channel();
    Arc::new(Shared::new(0, bind_any).expect("shared state"))
}

/// A port on 127.0.0.1 that was just free: connecting to it is refused.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}
