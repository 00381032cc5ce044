//! What the routers want right now, route by route: the gateways the hce
//! reports up, and those it has not checked yet. A gateway not checked
//! yet neither gains nor loses a route (relayd skips hosts in state
//! unknown): a route installed before a restart or a reload keeps it until
//! the first check says otherwise, and none is added on no evidence.

use crate::plan::PlannedRouter;
use crate::route::{Route, RouteKey};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A gateway's host as the routes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayState {
    /// The hce reports the host up, and neither it nor its table is
    /// disabled.
    Up,
    /// Down, or disabled (the host or its table).
    Down,
    /// Not checked yet.
    Unknown,
}

/// What the enabled routers want, by route key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    routes: BTreeMap<RouteKey, Wanted>,
}

/// The gateways one route key may have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Gateways that are up: the route goes through them.
    pub up: BTreeSet<IpAddr>,
    /// Gateways not checked yet: kept where installed, not added.
    pub unknown: BTreeSet<IpAddr>,
    pub realm: Option<u16>,
    /// The routers that want this route, for messages.
    pub routers: Vec<String>,
}

impl Desired {
    /// Records that `router` wants a route `key` through `gateway`.
    pub(crate) fn want(
        &mut self,
        key: RouteKey,
        router: &PlannedRouter,
        gateway: IpAddr,
        state: GatewayState,
    ) {
        if state == GatewayState::Down {
            return;
        }
        let wanted = self.routes.entry(key).or_insert_with(|| Wanted {
            // Routers sharing a key share its realm (`RoutePlan::new`).
            realm: router.realm,
            ..Wanted::default()
        });
        if !wanted.routers.contains(&router.name) {
            wanted.routers.push(router.name.clone());
        }
        match state {
            GatewayState::Up => wanted.up.insert(gateway),
            GatewayState::Unknown => wanted.unknown.insert(gateway),
            GatewayState::Down => false,
        };
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &RouteKey> {
        self.routes.keys()
    }

    pub fn get(&self, key: &RouteKey) -> Option<&Wanted> {
        self.routes.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&RouteKey, &Wanted)> {
        self.routes.iter()
    }

    /// The route that should be at `key`, given what is `installed` there:
    /// through the gateways that are up and those not checked yet that it
    /// already has; `None` when that leaves no gateway.
    pub fn target(&self, key: &RouteKey, installed: Option<&Route>) -> Option<Route> {
        let wanted = self.routes.get(key)?;
        let mut gateways = wanted.up.clone();
        if let Some(installed) = installed {
            gateways.extend(wanted.unknown.intersection(&installed.gateways));
        }
        if gateways.is_empty() {
            return None;
        }
        Some(Route {
            key: *key,
            gateways,
            realm: wanted.realm,
        })
    }

    /// The routers that want `key`, joined for a message ("" if none).
    pub fn routers_of(&self, key: &RouteKey) -> String {
        self.routes
            .get(key)
            .map(|wanted| wanted.routers.join(", "))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Destination, MAIN_TABLE};

    fn router(name: &str, realm: Option<u16>) -> PlannedRouter {
        PlannedRouter {
            id: 1,
            name: name.to_string(),
            enabled: true,
            table: MAIN_TABLE,
            realm,
            destinations: Vec::new(),
            gateways: Vec::new(),
        }
    }

    fn key() -> RouteKey {
        RouteKey {
            table: MAIN_TABLE,
            destination: Destination::new("10.9.0.0".parse().expect("address"), 16)
                .expect("prefix"),
            metric: 0,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn installed(gateways: &[&str]) -> Route {
        Route {
            key: key(),
            gateways: gateways.iter().map(|g| ip(g)).collect(),
            realm: None,
        }
    }

    #[test]
    fn unknown_gateways_are_kept_where_installed_and_not_added() {
        let mut desired = Desired::default();
        let r = router("r", None);
        desired.want(key(), &r, ip("10.0.1.2"), GatewayState::Up);
        desired.want(key(), &r, ip("10.0.2.2"), GatewayState::Unknown);
        desired.want(key(), &r, ip("10.0.3.2"), GatewayState::Down);
        let fresh = desired.target(&key(), None).expect("a route");
        assert_eq!(fresh.gateways, installed(&["10.0.1.2"]).gateways);
        let kept = desired
            .target(&key(), Some(&installed(&["10.0.2.2", "10.0.3.2"])))
            .expect("a route");
        assert_eq!(kept.gateways, installed(&["10.0.1.2", "10.0.2.2"]).gateways);
    }

    #[test]
    fn only_unknown_gateways_want_nothing_new() {
        let mut desired = Desired::default();
        desired.want(
            key(),
            &router("r", None),
            ip("10.0.2.2"),
            GatewayState::Unknown,
        );
        assert_eq!(desired.target(&key(), None), None);
        assert_eq!(
            desired.target(&key(), Some(&installed(&["10.0.1.2"]))),
            None
        );
        assert!(desired
            .target(&key(), Some(&installed(&["10.0.2.2"])))
            .is_some());
    }

    #[test]
    fn down_gateways_leave_no_entry_and_routers_sharing_a_key_are_named() {
        let mut desired = Desired::default();
        desired.want(
            key(),
            &router("a", Some(3)),
            ip("10.0.3.2"),
            GatewayState::Down,
        );
        assert!(desired.is_empty());
        desired.want(
            key(),
            &router("a", Some(3)),
            ip("10.0.1.2"),
            GatewayState::Up,
        );
        desired.want(
            key(),
            &router("b", Some(3)),
            ip("10.0.2.2"),
            GatewayState::Up,
        );
        desired.want(
            key(),
            &router("b", Some(3)),
            ip("10.0.1.2"),
            GatewayState::Up,
        );
        assert_eq!(desired.routers_of(&key()), "a, b");
        let route = desired.target(&key(), None).expect("a route");
        assert_eq!(route.realm, Some(3));
        assert_eq!(route.gateways.len(), 2);
    }
}
