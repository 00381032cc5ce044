//! The routers of a configuration, checked and translated once for Linux:
//! which kernel table (`rtable`), which realm (`rtlabel`), which
//! destinations (`route`), and each gateway (a host of the router's table)
//! with its metric (the host's `priority`). Built where the configuration
//! is loaded, so `relayd -n` refuses what Linux cannot do; plain data, so
//! it can travel to the process that installs the routes.

use crate::desired::{Desired, GatewayState};
use crate::realms::{LabelError, Realms};
use crate::route::{
    Destination, InvalidPrefix, RouteKey, IPV6_DEFAULT_METRIC, LOCAL_TABLE, MAIN_TABLE,
};
use relayd_config::{Check, Config, ObjectId, Origin, Router};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The routers of one configuration, in its order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePlan {
    routers: Vec<PlannedRouter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRouter {
    pub id: ObjectId,
    pub name: String,
    /// False while the router is disabled (`disable`, or at run time).
    pub enabled: bool,
    /// The Linux routing table: `rtable N` is table N, no `rtable` (or
    /// `rtable 0`) is the main table.
    pub table: u32,
    pub realm: Option<u16>,
    pub destinations: Vec<Destination>,
    pub gateways: Vec<PlannedGateway>,
}

/// A host of the router's table: a gateway while the hce reports it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedGateway {
    pub host: ObjectId,
    /// The table the host is in (the router's copy of it).
    pub table: ObjectId,
    pub addr: IpAddr,
    pub metric: u32,
}

/// What Linux cannot do with a router, with the router's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub router: String,
    pub origin: Origin,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("its table {0} is not in the configuration")]
    MissingTable(String),
    #[error("forward to <{0}> has no check: its hosts would never be gateways")]
    NoCheck(String),
    #[error("rtable {LOCAL_TABLE} is Linux's local table, where only the kernel puts routes")]
    LocalTable,
    #[error(transparent)]
    Prefix(#[from] InvalidPrefix),
    #[error("gateway {gateway} is not of the address family of its routes")]
    GatewayFamily { gateway: IpAddr },
    #[error("gateway {gateway} is link-local: Linux needs an interface to route through it, and relayd.conf cannot name one")]
    LinkLocalGateway { gateway: IpAddr },
    #[error(transparent)]
    Label(#[from] LabelError),
    #[error("rtlabel on IPv6 routes: Linux keeps realms on IPv4 routes only")]
    Ipv6Label,
    #[error("route {destination} in table {table} is also router {other}'s, with another rtlabel")]
    LabelsDiffer {
        destination: Destination,
        table: u32,
        other: String,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: router {}: {}",
            self.origin.file, self.origin.line, self.router, self.problem
        )
    }
}

impl std::error::Error for PlanError {}

/// Every problem of a configuration's routers, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, error) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

/// The router id given to [`RoutePlan::set_enabled`] is not in the plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no router with id {0}")]
pub struct UnknownRouter(pub ObjectId);

/// The metric of a route through a host with this `priority`: the
/// priority itself; without one (or 0), what `ip route add` gives, 0 for
/// IPv4 and 1024 for IPv6 (the kernel turns an IPv6 metric 0 into 1024).
pub fn metric(priority: Option<u8>, ipv4: bool) -> u32 {
    match priority.filter(|&p| p > 0) {
        Some(priority) => u32::from(priority),
        None if ipv4 => 0,
        None => IPV6_DEFAULT_METRIC,
    }
}

/// The Linux table of `rtable`.
fn kernel_table(rtable: Option<u32>) -> Result<u32, Problem> {
    match rtable {
        None | Some(0) => Ok(MAIN_TABLE),
        Some(LOCAL_TABLE) => Err(Problem::LocalTable),
        Some(table) => Ok(table),
    }
}

impl RoutePlan {
    /// Checks and translates the routers of `config`; `realms` names the
    /// `rtlabel`s. Every problem is reported, none is skipped over.
    pub fn new(config: &Config, realms: &Realms) -> Result<RoutePlan, PlanErrors> {
        let mut errors = Vec::new();
        let mut routers = Vec::new();
        for router in &config.routers {
            match plan_router(config, router, realms) {
                Ok(planned) => {
                    if let Some(problem) = label_conflict(&routers, &planned) {
                        errors.push(error(router, problem));
                    }
                    routers.push(planned);
                }
                Err(problems) => {
                    errors.extend(problems.into_iter().map(|problem| error(router, problem)))
                }
            }
        }
        if errors.is_empty() {
            Ok(RoutePlan { routers })
        } else {
            Err(PlanErrors(errors))
        }
    }

    /// No routers: nothing to install, no netlink socket needed.
    pub fn is_empty(&self) -> bool {
        self.routers.is_empty()
    }

    pub fn routers(&self) -> &[PlannedRouter] {
        &self.routers
    }

    /// `router enable|disable`: whether that changed anything.
    pub fn set_enabled(&mut self, router: ObjectId, enabled: bool) -> Result<bool, UnknownRouter> {
        let planned = self
            .routers
            .iter_mut()
            .find(|r| r.id == router)
            .ok_or(UnknownRouter(router))?;
        let changed = planned.enabled != enabled;
        planned.enabled = enabled;
        Ok(changed)
    }

    /// The routes the enabled routers want, given each gateway's state.
    /// `state` is asked for every gateway (its host and the table it is
    /// in); it answers [`GatewayState::Down`] for a host that is down or
    /// disabled (or whose table is), [`GatewayState::Unknown`] for one not
    /// checked yet.
    pub fn desired(&self, state: impl Fn(&PlannedGateway) -> GatewayState) -> Desired {
        let mut desired = Desired::default();
        for router in self.routers.iter().filter(|r| r.enabled) {
            for gateway in &router.gateways {
                let gateway_state = state(gateway);
                for &destination in &router.destinations {
                    let key = RouteKey {
                        table: router.table,
                        destination,
                        metric: gateway.metric,
                    };
                    desired.want(key, router, gateway.addr, gateway_state);
                }
            }
        }
        desired
    }
}

fn error(router: &Router, problem: Problem) -> PlanError {
    PlanError {
        router: router.name.clone(),
        origin: router.origin.clone(),
        problem,
    }
}

fn plan_router(
    config: &Config,
    router: &Router,
    realms: &Realms,
) -> Result<PlannedRouter, Vec<Problem>> {
    let mut problems = Vec::new();
    let table = kernel_table(router.rtable).unwrap_or_else(|problem| {
        problems.push(problem);
        MAIN_TABLE
    });
    let mut destinations = Vec::new();
    for route in &router.routes {
        match Destination::new(route.addr, route.len) {
            Ok(destination) if !destinations.contains(&destination) => {
                destinations.push(destination)
            }
            Ok(_) => {}
            Err(invalid) => problems.push(invalid.into()),
        }
    }
    // The parser refuses a router without routes or with mixed families.
    let ipv4 = !router.routes.first().is_some_and(|r| r.addr.is_ipv6());
    let realm = match &router.rtlabel {
        None => None,
        Some(_) if !ipv4 => {
            problems.push(Problem::Ipv6Label);
            None
        }
        Some(label) => realms
            .resolve(label)
            .map_err(|e| problems.push(e.into()))
            .ok(),
    };
    let mut gateways = Vec::new();
    match config.table(&router.forward.table) {
        None => problems.push(Problem::MissingTable(router.forward.table.clone())),
        Some(table) => {
            if table.check == Check::None {
                problems.push(Problem::NoCheck(table.template.clone()));
            }
            for host in &table.hosts {
                if host.addr.is_ipv4() != ipv4 {
                    problems.push(Problem::GatewayFamily { gateway: host.addr });
                } else if is_link_local(host.addr) {
                    problems.push(Problem::LinkLocalGateway { gateway: host.addr });
                } else {
                    gateways.push(PlannedGateway {
                        host: host.id,
                        table: table.id,
                        addr: host.addr,
                        metric: metric(host.priority, ipv4),
                    });
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(PlannedRouter {
        id: router.id,
        name: router.name.clone(),
        enabled: !router.disabled,
        table,
        realm,
        destinations,
        gateways,
    })
}

fn is_link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(_) => false,
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// Two routers may route the same destination in the same table (their
/// gateways then share the routes), but one route has one realm.
fn label_conflict(earlier: &[PlannedRouter], planned: &PlannedRouter) -> Option<Problem> {
    earlier.iter().find_map(|other| {
        if other.table != planned.table || other.realm == planned.realm {
            return None;
        }
        let shared = planned
            .destinations
            .iter()
            .find(|d| other.destinations.contains(d))?;
        Some(Problem::LabelsDiffer {
            destination: *shared,
            table: planned.table,
            other: other.name.clone(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::{parse_str, LoadOptions};
    use std::collections::BTreeSet;
    use std::path::Path;

    fn load(text: &str) -> Config {
        parse_str(text, "test.conf", &LoadOptions::default()).expect("valid config")
    }

    fn realms() -> Realms {
        Realms::parse("7 uplink\n", Some(Path::new("/etc/iproute2/rt_realms")))
    }

    fn plan(text: &str) -> Result<RoutePlan, PlanErrors> {
        RoutePlan::new(&load(text), &realms())
    }

    fn planned(text: &str) -> RoutePlan {
        plan(text).unwrap_or_else(|e| panic!("plan: {e}"))
    }

    fn addrs(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().map(|a| a.parse().expect("address")).collect()
    }

    const UPLINKS: &str = "table <gw> { 10.0.1.2, 10.0.2.2 priority 52 }\n\
                           router \"uplinks\" {\n route 0.0.0.0/0\n route 198.51.100.7/24\n \
                           forward to <gw> check icmp\n rtable 5\n rtlabel \"uplink\"\n}\n";

    #[test]
    fn a_router_becomes_table_realm_destinations_and_gateways_with_metrics() {
        let plan = planned(UPLINKS);
        let [router] = plan.routers() else {
            panic!("one router: {plan:?}")
        };
        assert_eq!(router.name, "uplinks");
        assert!(router.enabled);
        assert_eq!(router.table, 5);
        assert_eq!(router.realm, Some(7));
        let destinations: Vec<String> = router.destinations.iter().map(|d| d.to_string()).collect();
        assert_eq!(destinations, ["0.0.0.0/0", "198.51.100.0/24"]);
        let gateways: Vec<(String, u32)> = router
            .gateways
            .iter()
            .map(|g| (g.addr.to_string(), g.metric))
            .collect();
        assert_eq!(
            gateways,
            [("10.0.1.2".to_string(), 0), ("10.0.2.2".to_string(), 52)]
        );
        // The router's copy of the table, as the hce checks it.
        let config = load(UPLINKS);
        let checked = config.table("gw:65535").expect("the router's table");
        assert!(router.gateways.iter().all(|g| g.table == checked.id));
        let hosts: Vec<ObjectId> = checked.hosts.iter().map(|h| h.id).collect();
        assert_eq!(
            router.gateways.iter().map(|g| g.host).collect::<Vec<_>>(),
            hosts
        );
    }

    #[test]
    fn without_rtable_the_main_table_without_priority_the_ip_route_metric() {
        let plan = planned(
            "table <gw> { 2001:db8:1::2, 2001:db8:2::2 priority 3 }\n\
             router \"six\" {\n route 2001:db8:99::/48\n forward to <gw> check icmp\n disable\n}\n",
        );
        let router = &plan.routers()[0];
        assert_eq!(router.table, MAIN_TABLE);
        assert!(!router.enabled, "disable in the block");
        let metrics: Vec<u32> = router.gateways.iter().map(|g| g.metric).collect();
        assert_eq!(metrics, [IPV6_DEFAULT_METRIC, 3]);
        assert_eq!(metric(Some(0), true), 0);
        assert_eq!(metric(Some(0), false), IPV6_DEFAULT_METRIC);
        let zero = planned(
            "table <gw> { 10.0.1.2 }\nrouter \"r\" {\n route 10.9.0.0/16\n \
             forward to <gw> check icmp\n rtable 0\n}\n",
        );
        assert_eq!(zero.routers()[0].table, MAIN_TABLE);
    }

    #[test]
    fn what_linux_cannot_do_is_refused_with_the_routers_line() {
        let errors = plan(
            "table <gw> { 10.0.1.2 }\n\
             table <six> { fe80::1, 2001:db8::1 }\n\
             router \"local\" {\n route 10.9.0.0/16\n forward to <gw> check icmp\n rtable 255\n}\n\
             router \"label\" {\n route 10.8.0.0/16\n forward to <gw> check icmp\n rtlabel \"nosuch\"\n}\n\
             router \"six\" {\n route 2001:db8:99::/48\n forward to <six> check icmp\n rtlabel \"uplink\"\n}\n",
        )
        .expect_err("refused");
        let lines: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(lines.len(), 4, "{errors}");
        assert!(
            lines[0].starts_with("test.conf:3: router local: rtable 255 is Linux's local table"),
            "{errors}"
        );
        assert!(lines[1].starts_with("test.conf:8: router label: rtlabel \"nosuch\" is no realm named in /etc/iproute2/rt_realms"), "{errors}");
        assert_eq!(lines[2], "test.conf:13: router six: rtlabel on IPv6 routes: Linux keeps realms on IPv4 routes only");
        assert!(
            lines[3].starts_with("test.conf:13: router six: gateway fe80::1 is link-local"),
            "{errors}"
        );
    }

    #[test]
    fn a_router_whose_table_is_not_checked_is_refused() {
        // relayd's hce stops on such a table; its hosts would stay unknown.
        let errors = plan(
            "table <gw> { 10.0.1.2 }\n\
             router \"r\" {\n route 10.9.0.0/16\n forward to <gw>\n}\n",
        )
        .expect_err("refused");
        assert_eq!(
            errors.to_string(),
            "test.conf:2: router r: forward to <gw> has no check: its hosts would never be gateways"
        );
    }

    #[test]
    fn a_gateway_of_the_other_family_is_refused() {
        let errors = plan(
            "table <gw> { 10.0.1.2, 2001:db8::1 }\n\
             router \"r\" {\n route 10.9.0.0/16\n forward to <gw> check icmp\n}\n",
        )
        .expect_err("refused");
        assert_eq!(
            errors.to_string(),
            "test.conf:2: router r: gateway 2001:db8::1 is not of the address family of its routes"
        );
    }

    #[test]
    fn two_routers_may_share_a_route_but_not_with_two_labels() {
        let shared = "table <a> { 10.0.1.2 }\ntable <b> { 10.0.2.2 }\n\
                      router \"one\" {\n route 10.9.0.0/16\n forward to <a> check icmp\n rtlabel \"uplink\"\n}\n\
                      router \"two\" {\n route 10.9.0.0/16\n forward to <b> check icmp\n LABEL}\n";
        assert!(plan(&shared.replace("LABEL", "rtlabel \"7\"\n")).is_ok());
        let errors = plan(&shared.replace("LABEL", "")).expect_err("refused");
        assert_eq!(
            errors.to_string(),
            "test.conf:8: router two: route 10.9.0.0/16 in table 254 is also router one's, with another rtlabel"
        );
        // Other tables are other routes.
        assert!(plan(&shared.replace("LABEL", "rtable 3\n")).is_ok());
    }

    #[test]
    fn routers_are_switched_by_id() {
        let mut plan = planned(UPLINKS);
        assert_eq!(plan.set_enabled(1, true), Ok(false));
        assert_eq!(plan.set_enabled(1, false), Ok(true));
        assert!(!plan.routers()[0].enabled);
        assert_eq!(plan.set_enabled(9, true), Err(UnknownRouter(9)));
        let desired = plan.desired(|_| GatewayState::Up);
        assert!(desired.is_empty(), "a disabled router wants nothing");
    }

    #[test]
    fn desired_routes_go_through_the_live_gateways_grouped_by_metric() {
        let plan = planned(
            "table <gw> { 10.0.1.2, 10.0.2.2, 10.0.3.2 priority 52 }\n\
             router \"r\" {\n route 10.9.0.0/16\n forward to <gw> check icmp\n}\n",
        );
        let hosts: Vec<ObjectId> = plan.routers()[0].gateways.iter().map(|g| g.host).collect();
        let all_up = plan.desired(|_| GatewayState::Up);
        let keys: Vec<String> = all_up.keys().map(|k| k.to_string()).collect();
        assert_eq!(
            keys,
            [
                "10.9.0.0/16 table main metric 0",
                "10.9.0.0/16 table main metric 52"
            ]
        );
        let first = all_up.keys().next().copied().expect("a key");
        assert_eq!(
            all_up.target(&first, None).map(|r| r.gateways),
            Some(addrs(&["10.0.1.2", "10.0.2.2"]))
        );
        let one_down = plan.desired(|gateway| {
            if gateway.host == hosts[0] {
                GatewayState::Down
            } else {
                GatewayState::Up
            }
        });
        assert_eq!(
            one_down.target(&first, None).map(|r| r.gateways),
            Some(addrs(&["10.0.2.2"]))
        );
    }
}
