//! The routers' routes in the kernel: what the configuration's routers
//! want through the gateways the hce reports up, kept over rtnetlink by
//! relayd-route's `Installer` (relayd's `sync_routes` and `pfe_route`, in
//! the pfe itself, which holds the CAP_NET_ADMIN rtnetlink needs).
//!
//! Only routes of relayd's route protocol (147) are ever changed. They are
//! applied at each commit, which also removes the routes of that protocol
//! the new configuration does not want (left by an earlier configuration
//! or an earlier run), and whenever host states or switches change. They
//! stay when the pfe exits, as relayd's do.

use super::plan::Switches;
use relayd_config::ObjectId;
use relayd_proto::status::HostState;
use relayd_route::{
    Applied, Desired, GatewayState, Installer, KernelError, PlannedGateway, RouteKey, RoutePlan,
    RouteSocket,
};
use std::collections::BTreeMap;

pub struct Routes {
    /// `None` when rtnetlink could not be used: no routes (said at start).
    installer: Option<Installer>,
    /// The routers of the running configuration; `None` until the first
    /// commit, so that nothing is removed before the configuration is
    /// known.
    plan: Option<RoutePlan>,
    /// The refusal last logged for each route key still refused, so a
    /// change tried again at every apply is logged once per error.
    refused: BTreeMap<RouteKey, String>,
}

impl Routes {
    /// Takes over the rtnetlink socket opened before the sandbox and reads
    /// the routes of relayd's protocol the kernel has.
    pub fn new(socket: Result<RouteSocket, KernelError>) -> Routes {
        let installer = match socket.and_then(Installer::new) {
            Ok(installer) => Some(installer),
            Err(e) => {
                tracing::warn!("routers will install no routes: {e}");
                None
            }
        };
        Routes {
            installer,
            plan: None,
            refused: BTreeMap::new(),
        }
    }

    /// The routers of a newly committed configuration, with the switches
    /// of its file.
    pub fn set_plan(&mut self, plan: RoutePlan) {
        if self.installer.is_none() && !plan.is_empty() {
            tracing::warn!("rtnetlink is not available: the routers install no routes");
        }
        self.plan = Some(plan);
    }

    /// `router enable|disable`.
    pub fn switch(&mut self, router: ObjectId, enabled: bool) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        if let Err(e) = plan.set_enabled(router, enabled) {
            tracing::warn!("router switch: {e}");
        }
    }

    /// Brings the kernel's routes of relayd's protocol to what the routers
    /// want under `switches`; the kernel's refusals are logged.
    pub fn apply(&mut self, switches: &Switches) {
        let (Some(installer), Some(plan)) = (self.installer.as_mut(), self.plan.as_ref()) else {
            return;
        };
        let desired = plan.desired(|gateway| gateway_state(switches, gateway));
        let applied = installer.apply(&desired);
        self.log(&desired, &applied);
    }

    fn log(&mut self, desired: &Desired, applied: &Applied) {
        for change in &applied.done {
            match desired.routers_of(change.key()).as_str() {
                "" => tracing::info!("{change} (no router wants it)"),
                routers => tracing::info!("router {routers}: {change}"),
            }
        }
        let mut still_refused = BTreeMap::new();
        for error in &applied.failed {
            let key = *error.change.key();
            let text = error.to_string();
            if self.refused.get(&key) != Some(&text) {
                tracing::warn!("{text}");
            }
            still_refused.insert(key, text);
        }
        self.refused = still_refused;
        if let Some(e) = &applied.resync {
            tracing::warn!("cannot read relayd's routes again: {e}");
        }
    }
}

/// A gateway as the routes see it: a disabled host, or a host of a
/// disabled table, is down; otherwise what the hce last said, unknown
/// until it said something.
fn gateway_state(switches: &Switches, gateway: &PlannedGateway) -> GatewayState {
    if switches.disabled_hosts.contains(&gateway.host)
        || switches.disabled_tables.contains(&gateway.table)
    {
        return GatewayState::Down;
    }
    match switches.host_states.get(&gateway.host) {
        Some(HostState::Up) => GatewayState::Up,
        Some(HostState::Down) => GatewayState::Down,
        Some(HostState::Unknown) | None => GatewayState::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> PlannedGateway {
        PlannedGateway {
            host: 3,
            table: 2,
            addr: "10.0.0.1".parse().expect("address"),
            metric: 0,
        }
    }

    #[test]
    fn switches_make_gateways_down_and_silence_keeps_them_unknown() {
        let mut switches = Switches::default();
        assert_eq!(gateway_state(&switches, &gateway()), GatewayState::Unknown);
        switches.host_states.insert(3, HostState::Up);
        assert_eq!(gateway_state(&switches, &gateway()), GatewayState::Up);
        switches.disabled_tables.insert(2);
        assert_eq!(gateway_state(&switches, &gateway()), GatewayState::Down);
        switches.disabled_tables.clear();
        switches.disabled_hosts.insert(3);
        assert_eq!(gateway_state(&switches, &gateway()), GatewayState::Down);
        switches.disabled_hosts.clear();
        switches.host_states.insert(3, HostState::Down);
        assert_eq!(gateway_state(&switches, &gateway()), GatewayState::Down);
        switches.host_states.insert(3, HostState::Unknown);
        assert_eq!(gateway_state(&switches, &gateway()), GatewayState::Unknown);
    }
}
