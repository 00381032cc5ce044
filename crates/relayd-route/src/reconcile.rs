//! Desired against installed: the fewest kernel changes that make the
//! routes of relayd's protocol what the routers want. Pure; running it
//! again on its own result changes nothing. New and changed routes come
//! before removals, so traffic moving from one metric to another always
//! has a route.

use crate::desired::Desired;
use crate::route::{Route, RouteKey};
use std::collections::BTreeMap;
use std::fmt;

/// The routes of relayd's protocol in the kernel, by key.
pub type Installed = BTreeMap<RouteKey, Route>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A route at a key where relayd has none.
    Add(Route),
    /// Another route at a key where relayd has one (gateways or realm
    /// differ).
    Replace { old: Route, new: Route },
    /// A route of relayd's that nothing wants any more.
    Delete(Route),
}

impl Change {
    pub fn key(&self) -> &RouteKey {
        match self {
            Change::Add(route) | Change::Delete(route) | Change::Replace { new: route, .. } => {
                &route.key
            }
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Add(route) => write!(f, "add {route}"),
            Change::Replace { new, .. } => write!(f, "replace {new}"),
            Change::Delete(route) => write!(f, "delete {route}"),
        }
    }
}

/// What turns `installed` into what `desired` wants.
pub fn changes(desired: &Desired, installed: &Installed) -> Vec<Change> {
    let mut updates = Vec::new();
    let mut deletes = Vec::new();
    for key in desired.keys() {
        let current = installed.get(key);
        match (current, desired.target(key, current)) {
            (None, Some(new)) => updates.push(Change::Add(new)),
            (Some(old), Some(new)) if *old != new => updates.push(Change::Replace {
                old: old.clone(),
                new,
            }),
            (Some(old), None) => deletes.push(Change::Delete(old.clone())),
            _ => {}
        }
    }
    for (key, route) in installed {
        if desired.get(key).is_none() {
            deletes.push(Change::Delete(route.clone()));
        }
    }
    updates.extend(deletes);
    updates
}

/// `installed` once `change` went through.
pub fn record(installed: &mut Installed, change: &Change) {
    match change {
        Change::Add(route) | Change::Replace { new: route, .. } => {
            installed.insert(route.key, route.clone());
        }
        Change::Delete(route) => {
            installed.remove(&route.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::GatewayState;
    use crate::plan::{PlannedGateway, RoutePlan};
    use crate::realms::Realms;
    use relayd_config::{parse_str, LoadOptions, ObjectId};
    use std::collections::BTreeSet;

    /// Hosts 1 and 2 at the default metric, host 3 at 52; two routes.
    fn plan() -> RoutePlan {
        let config = parse_str(
            "table <gw> { 10.0.1.2, 10.0.2.2, 10.0.3.2 priority 52 }\n\
             router \"r\" {\n route 10.9.0.0/16\n route 10.8.0.0/16\n \
             forward to <gw> check icmp\n}\n",
            "test.conf",
            &LoadOptions::default(),
        )
        .expect("valid config");
        RoutePlan::new(&config, &Realms::default()).expect("plan")
    }

    fn states(up: &[ObjectId], unknown: &[ObjectId]) -> impl Fn(&PlannedGateway) -> GatewayState {
        let up: BTreeSet<ObjectId> = up.iter().copied().collect();
        let unknown: BTreeSet<ObjectId> = unknown.iter().copied().collect();
        move |gateway| {
            if up.contains(&gateway.host) {
                GatewayState::Up
            } else if unknown.contains(&gateway.host) {
                GatewayState::Unknown
            } else {
                GatewayState::Down
            }
        }
    }

    fn host_ids(plan: &RoutePlan) -> Vec<ObjectId> {
        plan.routers()[0].gateways.iter().map(|g| g.host).collect()
    }

    /// Applies `changes` to `installed`, as the kernel would.
    fn applied(mut installed: Installed, changes: &[Change]) -> Installed {
        for change in changes {
            record(&mut installed, change);
        }
        installed
    }

    fn texts(changes: &[Change]) -> Vec<String> {
        changes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn routes_appear_lose_a_gateway_and_come_back() {
        let plan = plan();
        let h = host_ids(&plan);
        let both = changes(&plan.desired(states(&h, &[])), &Installed::new());
        assert_eq!(
            texts(&both),
            [
                "add 10.8.0.0/16 table main metric 0 via 10.0.1.2, 10.0.2.2",
                "add 10.8.0.0/16 table main metric 52 via 10.0.3.2",
                "add 10.9.0.0/16 table main metric 0 via 10.0.1.2, 10.0.2.2",
                "add 10.9.0.0/16 table main metric 52 via 10.0.3.2",
            ]
        );
        let installed = applied(Installed::new(), &both);
        let one_down = changes(&plan.desired(states(&[h[1], h[2]], &[])), &installed);
        assert_eq!(
            texts(&one_down),
            [
                "replace 10.8.0.0/16 table main metric 0 via 10.0.2.2",
                "replace 10.9.0.0/16 table main metric 0 via 10.0.2.2",
            ]
        );
        let installed = applied(installed, &one_down);
        let back = changes(&plan.desired(states(&h, &[])), &installed);
        assert_eq!(back.len(), 2);
        assert_eq!(applied(installed, &back), applied(Installed::new(), &both));
    }

    #[test]
    fn reconciling_twice_changes_nothing() {
        let plan = plan();
        let h = host_ids(&plan);
        for (up, unknown) in [(&h[..], &[][..]), (&h[..1], &h[1..]), (&[][..], &h[..])] {
            let desired = plan.desired(states(up, unknown));
            let first = changes(&desired, &Installed::new());
            let installed = applied(Installed::new(), &first);
            assert_eq!(
                changes(&desired, &installed),
                [],
                "up {up:?} unknown {unknown:?}"
            );
        }
    }

    #[test]
    fn all_gateways_of_a_metric_down_remove_that_route_after_the_others_change() {
        let plan = plan();
        let h = host_ids(&plan);
        let installed = applied(
            Installed::new(),
            &changes(&plan.desired(states(&h, &[])), &Installed::new()),
        );
        let only_backup = changes(&plan.desired(states(&h[2..], &[])), &installed);
        assert_eq!(
            texts(&only_backup),
            [
                "delete 10.8.0.0/16 table main metric 0 via 10.0.1.2, 10.0.2.2",
                "delete 10.9.0.0/16 table main metric 0 via 10.0.1.2, 10.0.2.2",
            ]
        );
        let none = changes(&plan.desired(states(&[], &[])), &installed);
        assert_eq!(none.len(), 4);
        assert!(none.iter().all(|c| matches!(c, Change::Delete(_))));
    }

    #[test]
    fn at_start_unchecked_gateways_keep_their_routes_and_unwanted_ones_go() {
        let plan = plan();
        let h = host_ids(&plan);
        let previous_run = applied(
            Installed::new(),
            &changes(&plan.desired(states(&h, &[])), &Installed::new()),
        );
        // A route of relayd's protocol that this configuration has no
        // router for, and a gateway the configuration no longer has.
        let mut installed = previous_run.clone();
        let stale_key = RouteKey {
            destination: crate::route::Destination::new("10.7.0.0".parse().expect("ip"), 16)
                .expect("prefix"),
            ..*previous_run.keys().next().expect("a key")
        };
        let stale = Route {
            key: stale_key,
            ..previous_run.values().next().expect("a route").clone()
        };
        installed.insert(stale_key, stale.clone());
        let first_key = *previous_run.keys().next().expect("a key");
        if let Some(route) = installed.get_mut(&first_key) {
            route.gateways.insert("10.0.9.2".parse().expect("ip"));
        }
        let at_start = changes(&plan.desired(states(&[], &h)), &installed);
        assert_eq!(
            texts(&at_start),
            [
                "replace 10.8.0.0/16 table main metric 0 via 10.0.1.2, 10.0.2.2",
                "delete 10.7.0.0/16 table main metric 0 via 10.0.1.2, 10.0.2.2",
            ]
        );
        assert_eq!(applied(installed, &at_start), previous_run);
    }

    #[test]
    fn a_changed_realm_replaces_the_route() {
        let plan = plan();
        let h = host_ids(&plan);
        let desired = plan.desired(states(&h, &[]));
        let mut installed = applied(Installed::new(), &changes(&desired, &Installed::new()));
        for route in installed.values_mut() {
            route.realm = Some(4);
        }
        let fix = changes(&desired, &installed);
        assert_eq!(fix.len(), 4);
        assert!(fix.iter().all(|c| matches!(c, Change::Replace { .. })));
    }
}
