//! The parent's picture of the running state, for relayctl: the current
//! configuration with the enable/disable switches applied, and the host
//! states the hce reports. `show` answers are built from here, so the
//! control socket never waits on an engine.
//!
//! `show` rows follow relayd's order (each redirect with its tables and
//! hosts, each relay with its tables and hosts, each router with its table),
//! then the tables nothing uses.
//!
//! Enable/disable by name applies to every object with that name (a host
//! address written in several tables is one host per table in relayd's
//! model); by id to exactly one object. Disabling a host also disables the
//! hosts that follow it with `parent N`.

use crate::same_host::SameHost;
use relayd_config::{Config, ForwardTarget, ObjectId, Table};
use relayd_proto::control::{ControlReply, IdName, MonitorEvent, Target};
use relayd_proto::status::{
    HostRow, HostState, HostStatus, RedirectRow, RedirectState, RelayRow, RouterRow, Statistics,
    TableRow,
};
use std::collections::{BTreeSet, HashMap};

/// Which kind of object a control command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Host,
    Table,
    Redirect,
    Router,
}

/// An enable/disable that named nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no such {} {target}", .kind.word())]
pub struct NotFound {
    pub kind: ObjectKind,
    pub target: Target,
}

impl ObjectKind {
    fn word(self) -> &'static str {
        match self {
            ObjectKind::Host => "host",
            ObjectKind::Table => "table",
            ObjectKind::Redirect => "redirect",
            ObjectKind::Router => "router",
        }
    }
}

/// What an enable/disable changed, for the engines and `monitor` clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toggled {
    pub kind: ObjectKind,
    pub enabled: bool,
    pub objects: Vec<IdName>,
}

impl Toggled {
    pub fn events(&self) -> Vec<MonitorEvent> {
        self.objects
            .iter()
            .cloned()
            .map(|object| match (self.kind, self.enabled) {
                (ObjectKind::Host, true) => MonitorEvent::HostEnabled(object),
                (ObjectKind::Host, false) => MonitorEvent::HostDisabled(object),
                (ObjectKind::Table, true) => MonitorEvent::TableEnabled(object),
                (ObjectKind::Table, false) => MonitorEvent::TableDisabled(object),
                (ObjectKind::Redirect, true) => MonitorEvent::RedirectEnabled(object),
                (ObjectKind::Redirect, false) => MonitorEvent::RedirectDisabled(object),
                (ObjectKind::Router, true) => MonitorEvent::RouterEnabled(object),
                (ObjectKind::Router, false) => MonitorEvent::RouterDisabled(object),
            })
            .collect()
    }
}

pub struct Mirror {
    config: Config,
    disabled_hosts: BTreeSet<ObjectId>,
    host_status: HashMap<ObjectId, HostStatus>,
    /// Latest counters per (relay id, relay process).
    relay_stats: HashMap<(ObjectId, u32), Statistics>,
    /// Latest counters per redirect, as the pfe reported them.
    redirect_stats: HashMap<ObjectId, Statistics>,
}

impl Mirror {
    /// A fresh picture of `config`: every host unknown, switches as written.
    pub fn new(config: Config) -> Mirror {
        let mut host_status = HashMap::new();
        for table in &config.tables {
            for host in &table.hosts {
                host_status.insert(
                    host.id,
                    HostStatus {
                        host_id: host.id,
                        table_id: table.id,
                        ..HostStatus::default()
                    },
                );
            }
        }
        Mirror {
            config,
            disabled_hosts: BTreeSet::new(),
            host_status,
            relay_stats: HashMap::new(),
            redirect_stats: HashMap::new(),
        }
    }

    /// The picture of a reloaded `config`: the hosts `running` has too
    /// keep the status last reported (the hce carries their states over
    /// as well), the others are unknown; switches as written.
    pub fn succeeding(config: Config, running: &Mirror) -> Mirror {
        let mut mirror = Mirror::new(config);
        let same = SameHost::new(&running.config.tables);
        for table in &mirror.config.tables {
            for host in &table.hosts {
                let Some(old) = same
                    .running_id(table, host)
                    .and_then(|id| running.host_status.get(&id))
                else {
                    continue;
                };
                let status = HostStatus {
                    host_id: host.id,
                    table_id: table.id,
                    ..old.clone()
                };
                mirror.host_status.insert(host.id, status);
            }
        }
        mirror
    }

    /// Keeps the host switches of `running` for the hosts this picture
    /// still has (a table change, where ids do not move); the hosts
    /// disabled, for the engines.
    pub fn keep_host_switches(&mut self, running: &Mirror) -> Vec<ObjectId> {
        let kept: Vec<ObjectId> = running
            .disabled_hosts
            .iter()
            .copied()
            .filter(|id| self.host_status.contains_key(id))
            .collect();
        self.disabled_hosts.extend(&kept);
        kept
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The last state the hce reported for a host.
    pub fn host_state(&self, id: ObjectId) -> Option<HostState> {
        self.host_status.get(&id).map(|s| s.state)
    }

    /// Records a status the hce reported; unknown hosts (from a config the
    /// hce has not dropped yet) are ignored.
    pub fn update_host(&mut self, status: HostStatus) -> bool {
        match self.host_status.get_mut(&status.host_id) {
            Some(slot) if *slot != status => {
                *slot = status;
                true
            }
            _ => false,
        }
    }

    /// Records the counters a relay process published for one relay.
    pub fn update_relay_statistics(&mut self, stats: Statistics) {
        self.relay_stats.insert((stats.id, stats.process), stats);
    }

    /// Records the counters the pfe reported for one redirect.
    pub fn update_redirect_statistics(&mut self, stats: Statistics) {
        self.redirect_stats.insert(stats.id, stats);
    }

    /// The counters of `relay` from every relay process, by process.
    fn relay_statistics(&self, relay: ObjectId) -> Vec<Statistics> {
        let mut stats: Vec<Statistics> = self
            .relay_stats
            .values()
            .filter(|s| s.id == relay)
            .cloned()
            .collect();
        stats.sort_by_key(|s| s.process);
        stats
    }

    /// Applies `host|table|redirect|router enable|disable target`. An
    /// error names what was not found, as the text of a failed reply. A
    /// disabled router is shown without its routes and table, as relayd.
    pub fn toggle(
        &mut self,
        kind: ObjectKind,
        target: &Target,
        enable: bool,
    ) -> Result<Toggled, NotFound> {
        let objects = match kind {
            ObjectKind::Host => self.toggle_hosts(target, enable),
            ObjectKind::Table => {
                let mut objects = Vec::new();
                for table in &mut self.config.tables {
                    if target.matches(table.id, &table.name) {
                        table.disabled = !enable;
                        objects.push(id_name(table.id, &table.name));
                    }
                }
                objects
            }
            ObjectKind::Redirect => {
                let mut objects = Vec::new();
                for redirect in &mut self.config.redirects {
                    if target.matches(redirect.id, &redirect.name) {
                        redirect.disabled = !enable;
                        objects.push(id_name(redirect.id, &redirect.name));
                    }
                }
                objects
            }
            ObjectKind::Router => {
                let mut objects = Vec::new();
                for router in &mut self.config.routers {
                    if target.matches(router.id, &router.name) {
                        router.disabled = !enable;
                        objects.push(id_name(router.id, &router.name));
                    }
                }
                objects
            }
        };
        if objects.is_empty() {
            return Err(NotFound {
                kind,
                target: target.clone(),
            });
        }
        Ok(Toggled {
            kind,
            enabled: enable,
            objects,
        })
    }

    fn toggle_hosts(&mut self, target: &Target, enable: bool) -> Vec<IdName> {
        let all_hosts = || self.config.tables.iter().flat_map(|t| t.hosts.iter());
        let named: Vec<ObjectId> = all_hosts()
            .filter(|h| target.matches(h.id, &h.name))
            .map(|h| h.id)
            .collect();
        let followers: Vec<ObjectId> = all_hosts()
            .filter(|h| h.parent.is_some_and(|p| named.contains(&p)))
            .map(|h| h.id)
            .collect();
        let mut objects = Vec::new();
        for host in all_hosts() {
            if named.contains(&host.id) || followers.contains(&host.id) {
                objects.push(id_name(host.id, &host.name));
            }
        }
        for object in &objects {
            if enable {
                self.disabled_hosts.remove(&object.id);
            } else {
                self.disabled_hosts.insert(object.id);
            }
            // A host switched either way starts over as unknown, as relayd.
            if let Some(status) = self.host_status.get_mut(&object.id) {
                *status = HostStatus {
                    host_id: status.host_id,
                    table_id: status.table_id,
                    ..HostStatus::default()
                };
            }
        }
        objects
    }

    /// The rows of `show summary` (and of every other `show` but sessions,
    /// relayctl keeps the rows it wants), ending with `End`.
    pub fn summary(&self) -> Vec<ControlReply> {
        let mut rows = Vec::new();
        for redirect in &self.config.redirects {
            let tables: Vec<&Table> = redirect
                .forward
                .iter()
                .filter_map(|f| self.config.table(&f.table))
                .collect();
            let state = if redirect.disabled {
                RedirectState::Disabled
            } else if tables.first().is_some_and(|t| self.up_hosts(t) > 0) {
                RedirectState::Active
            } else if tables.get(1).is_some_and(|t| self.up_hosts(t) > 0) {
                RedirectState::ActiveBackup
            } else {
                RedirectState::Down
            };
            rows.push(ControlReply::Redirect(RedirectRow {
                id: redirect.id,
                name: redirect.name.clone(),
                state,
                stats: (!redirect.disabled)
                    .then(|| self.redirect_stats.get(&redirect.id).cloned())
                    .flatten(),
            }));
            if !redirect.disabled {
                for table in tables {
                    self.push_table(&mut rows, table);
                }
            }
        }
        for relay in &self.config.relays {
            rows.push(ControlReply::Relay(RelayRow {
                id: relay.id,
                name: relay.name.clone(),
                disabled: relay.disabled,
                stats: self.relay_statistics(relay.id),
            }));
            for forward in &relay.forward {
                if let ForwardTarget::Table(t) = &forward.target {
                    if let Some(table) = self.config.table(&t.table) {
                        self.push_table(&mut rows, table);
                    }
                }
            }
        }
        for router in &self.config.routers {
            rows.push(ControlReply::Router(RouterRow {
                id: router.id,
                name: router.name.clone(),
                disabled: router.disabled,
                rtable: router.rtable,
                rtlabel: router.rtlabel.clone(),
                routes: router.routes.clone(),
            }));
            if !router.disabled {
                if let Some(table) = self.config.table(&router.forward.table) {
                    self.push_table(&mut rows, table);
                }
            }
        }
        // Tables nothing forwards to: relayd drops them, the model keeps
        // them so the operator sees them (and sees that they are unused).
        for table in &self.config.tables {
            if !self.is_used(&table.name) {
                self.push_table(&mut rows, table);
            }
        }
        rows.push(ControlReply::End);
        rows
    }

    fn is_used(&self, table: &str) -> bool {
        let config = &self.config;
        config
            .redirects
            .iter()
            .flat_map(|r| r.forward.iter())
            .any(|f| f.table == table)
            || config
                .relays
                .iter()
                .flat_map(|r| r.forward.iter())
                .any(|f| matches!(&f.target, ForwardTarget::Table(t) if t.table == table))
            || config.routers.iter().any(|r| r.forward.table == table)
    }

    fn push_table(&self, rows: &mut Vec<ControlReply>, table: &Table) {
        rows.push(ControlReply::Table(TableRow {
            id: table.id,
            name: table.name.clone(),
            disabled: table.disabled,
            up_hosts: self.up_hosts(table),
        }));
        if table.disabled {
            return;
        }
        for host in &table.hosts {
            let status = self
                .host_status
                .get(&host.id)
                .cloned()
                .unwrap_or(HostStatus {
                    host_id: host.id,
                    table_id: table.id,
                    ..HostStatus::default()
                });
            rows.push(ControlReply::Host(HostRow {
                name: host.name.clone(),
                parent_id: host.parent,
                disabled: self.disabled_hosts.contains(&host.id),
                status,
            }));
        }
    }

    fn up_hosts(&self, table: &Table) -> u32 {
        if table.disabled {
            return 0;
        }
        let up = table.hosts.iter().filter(|host| {
            !self.disabled_hosts.contains(&host.id)
                && self
                    .host_status
                    .get(&host.id)
                    .is_some_and(|s| s.state == HostState::Up)
        });
        u32::try_from(up.count()).unwrap_or(u32::MAX)
    }
}

fn id_name(id: ObjectId, name: &str) -> IdName {
    IdName {
        id,
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::{Check, Host, Relay, RelayForward, RelayListen, TableForward};

    fn host(id: ObjectId, name: &str, parent: Option<ObjectId>) -> Host {
        Host {
            id,
            name: name.into(),
            addr: name.parse().unwrap(),
            retry: 0,
            parent,
            priority: None,
            ip_ttl: None,
        }
    }

    fn sample() -> Config {
        let mut config = Config::default();
        config.tables.push(Table {
            id: 1,
            name: "web".into(),
            template: "web".into(),
            port: Some(80),
            disabled: false,
            check: Check::Tcp,
            interval_secs: 10,
            timeout_ms: 200,
            demote: None,
            hosts: vec![
                host(1, "127.0.0.1", None),
                host(2, "127.0.0.2", None),
                host(3, "127.0.0.3", Some(1)),
            ],
        });
        config.relays.push(Relay {
            id: 1,
            name: "www".into(),
            disabled: false,
            listen: vec![RelayListen {
                addr: "127.0.0.1".parse().unwrap(),
                port: 8080,
                tls: false,
            }],
            protocol: None,
            forward: vec![RelayForward {
                target: ForwardTarget::Table(TableForward {
                    table: "web".into(),
                    mode: Default::default(),
                    key: None,
                    retry: 0,
                    interface: None,
                }),
                tls: false,
                transparent: false,
                retry: 0,
                inet: false,
                inet6_prefix: None,
            }],
            session_timeout_secs: 600,
            origin: Default::default(),
        });
        config
    }

    fn host_rows(mirror: &Mirror) -> Vec<HostRow> {
        mirror
            .summary()
            .into_iter()
            .filter_map(|row| match row {
                ControlReply::Host(h) => Some(h),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn summary_lists_relay_then_table_then_hosts() {
        let rows = Mirror::new(sample()).summary();
        assert!(matches!(&rows[0], ControlReply::Relay(r) if r.name == "www"));
        assert!(matches!(&rows[1], ControlReply::Table(t) if t.name == "web" && t.up_hosts == 0));
        assert_eq!(
            rows.iter()
                .filter(|r| matches!(r, ControlReply::Host(_)))
                .count(),
            3
        );
        assert_eq!(rows.last(), Some(&ControlReply::End));
    }

    #[test]
    fn a_reload_keeps_the_states_of_hosts_it_keeps() {
        let mut running = Mirror::new(sample());
        let up = HostStatus {
            host_id: 2,
            table_id: 1,
            state: HostState::Up,
            check_count: 4,
            ..HostStatus::default()
        };
        assert!(running.update_host(up));
        let mut next = sample();
        // 127.0.0.2 is host 1 now; 127.0.0.1 is gone.
        next.tables[0].hosts = vec![host(1, "127.0.0.2", None), host(2, "127.0.0.9", None)];
        let mirror = Mirror::succeeding(next, &running);
        assert_eq!(mirror.host_state(1), Some(HostState::Up));
        assert_eq!(mirror.host_state(2), Some(HostState::Unknown));
        assert_eq!(mirror.host_status[&1].check_count, 4);
    }

    #[test]
    fn disabling_a_host_by_id_disables_its_followers_too() {
        let mut mirror = Mirror::new(sample());
        let toggled = mirror
            .toggle(ObjectKind::Host, &Target::Id(1), false)
            .unwrap();
        assert_eq!(toggled.objects.len(), 2);
        let disabled: Vec<ObjectId> = host_rows(&mirror)
            .iter()
            .filter(|h| h.disabled)
            .map(|h| h.status.host_id)
            .collect();
        assert_eq!(disabled, vec![1, 3]);
        mirror
            .toggle(ObjectKind::Host, &Target::Name("127.0.0.1".into()), true)
            .unwrap();
        assert!(host_rows(&mirror).iter().all(|h| !h.disabled));
    }

    #[test]
    fn unknown_objects_fail_with_their_name() {
        let mut mirror = Mirror::new(sample());
        let error = mirror
            .toggle(ObjectKind::Table, &Target::Name("nope".into()), false)
            .unwrap_err();
        assert_eq!(error.to_string(), "no such table nope");
    }

    #[test]
    fn a_disabled_router_is_shown_without_its_table_and_says_so() {
        let config = relayd_config::parse_str(
            "table <gw> { 10.0.1.2 }\n\
             router \"uplinks\" {\n route 0.0.0.0/0\n forward to <gw> check icmp\n}\n",
            "test.conf",
            &relayd_config::LoadOptions::default(),
        )
        .unwrap();
        let mut mirror = Mirror::new(config);
        let router = |m: &Mirror| {
            m.summary().into_iter().find_map(|r| match r {
                ControlReply::Router(row) => Some(row),
                _ => None,
            })
        };
        assert!(!router(&mirror).unwrap().disabled);
        assert_eq!(host_rows(&mirror).len(), 1);
        let toggled = mirror
            .toggle(ObjectKind::Router, &Target::Name("uplinks".into()), false)
            .unwrap();
        assert_eq!(
            toggled.events(),
            vec![MonitorEvent::RouterDisabled(id_name(1, "uplinks"))]
        );
        assert!(router(&mirror).unwrap().disabled);
        assert!(host_rows(&mirror).is_empty());
        let error = mirror
            .toggle(ObjectKind::Router, &Target::Id(9), true)
            .unwrap_err();
        assert_eq!(error.to_string(), "no such router 9");
    }

    #[test]
    fn a_disabled_table_hides_its_hosts_and_counts_none_up() {
        let mut mirror = Mirror::new(sample());
        mirror.update_host(HostStatus {
            host_id: 2,
            table_id: 1,
            state: HostState::Up,
            ..HostStatus::default()
        });
        let up = |m: &Mirror| {
            m.summary().into_iter().find_map(|r| match r {
                ControlReply::Table(t) => Some(t.up_hosts),
                _ => None,
            })
        };
        assert_eq!(up(&mirror), Some(1));
        mirror
            .toggle(ObjectKind::Table, &Target::Id(1), false)
            .unwrap();
        assert_eq!(up(&mirror), Some(0));
        assert!(host_rows(&mirror).is_empty());
    }
}
