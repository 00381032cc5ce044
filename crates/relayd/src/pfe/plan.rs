//! Which hosts a redirect sends new connections to, from the host states
//! the hce reports and the operator's enable/disable switches: the main
//! table's hosts that are up; when none is, the backup table's; when none
//! of those either, nothing (the redirect is down and has no rules).

use super::ruleset::{RedirectRules, Target};
use relayd_config::{Config, ObjectId};
use relayd_proto::status::{HostState, RedirectState};
use std::collections::{BTreeMap, BTreeSet};

/// What the pfe knows about hosts, tables and redirects at runtime.
#[derive(Debug, Clone, Default)]
pub struct Switches {
    pub host_states: BTreeMap<ObjectId, HostState>,
    pub disabled_hosts: BTreeSet<ObjectId>,
    pub disabled_tables: BTreeSet<ObjectId>,
    pub disabled_redirects: BTreeSet<ObjectId>,
}

impl Switches {
    /// The switches of a freshly loaded `config`: disabled as written, no
    /// host state (the pfe keeps those it has, see `commit`).
    pub fn for_config(config: &Config) -> Switches {
        Switches {
            host_states: BTreeMap::new(),
            disabled_hosts: BTreeSet::new(),
            disabled_tables: config
                .tables
                .iter()
                .filter(|t| t.disabled)
                .map(|t| t.id)
                .collect(),
            disabled_redirects: config
                .redirects
                .iter()
                .filter(|r| r.disabled)
                .map(|r| r.id)
                .collect(),
        }
    }

    fn is_up(&self, host: ObjectId) -> bool {
        !self.disabled_hosts.contains(&host) && self.host_states.get(&host) == Some(&HostState::Up)
    }
}

/// A redirect's state and, unless down or disabled, where it forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub state: RedirectState,
    /// The table in use (main or backup).
    pub table: Option<ObjectId>,
    pub target: Option<Target>,
}

/// The plan of `rules` under `switches`.
pub fn plan(rules: &RedirectRules, switches: &Switches) -> Plan {
    if switches.disabled_redirects.contains(&rules.id) {
        return Plan {
            state: RedirectState::Disabled,
            table: None,
            target: None,
        };
    }
    for (index, table) in rules.tables.iter().enumerate().take(2) {
        if switches.disabled_tables.contains(&table.id) {
            continue;
        }
        let hosts: Vec<_> = table
            .hosts
            .iter()
            .filter(|(id, _)| switches.is_up(*id))
            .map(|(_, addr)| *addr)
            .collect();
        if !hosts.is_empty() {
            return Plan {
                state: if index == 0 {
                    RedirectState::Active
                } else {
                    RedirectState::ActiveBackup
                },
                table: Some(table.id),
                target: Some(Target {
                    port: table.port,
                    hosts,
                }),
            };
        }
    }
    Plan {
        state: RedirectState::Down,
        table: None,
        target: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pfe::ruleset::{Scheduler, TableUse};

    fn rules() -> RedirectRules {
        let table = |id: ObjectId, hosts: &[(ObjectId, &str)]| TableUse {
            id,
            name: format!("t{id}"),
            port: Some(80),
            hosts: hosts
                .iter()
                .map(|(h, a)| (*h, a.parse().unwrap()))
                .collect(),
        };
        RedirectRules {
            id: 1,
            name: "www".into(),
            listens: Vec::new(),
            scheduler: Scheduler::RoundRobin,
            mark: None,
            session_timeout_secs: 600,
            tables: vec![
                table(1, &[(1, "10.0.1.2"), (2, "10.0.2.2")]),
                table(2, &[(3, "10.0.3.2")]),
            ],
        }
    }

    fn up(switches: &mut Switches, hosts: &[ObjectId]) {
        for host in hosts {
            switches.host_states.insert(*host, HostState::Up);
        }
    }

    #[test]
    fn up_hosts_of_the_main_table_then_backup_then_nothing() {
        let rules = rules();
        let mut switches = Switches::default();
        assert_eq!(plan(&rules, &switches).state, RedirectState::Down);
        up(&mut switches, &[3]);
        let backup = plan(&rules, &switches);
        assert_eq!(backup.state, RedirectState::ActiveBackup);
        assert_eq!(backup.table, Some(2));
        up(&mut switches, &[2]);
        let main = plan(&rules, &switches);
        assert_eq!(main.state, RedirectState::Active);
        assert_eq!(
            main.target.unwrap().hosts,
            vec!["10.0.2.2".parse::<std::net::IpAddr>().unwrap()]
        );
        switches.host_states.insert(2, HostState::Down);
        assert_eq!(plan(&rules, &switches).table, Some(2));
    }

    #[test]
    fn disabled_hosts_tables_and_redirects_count_as_gone() {
        let rules = rules();
        let mut switches = Switches::default();
        up(&mut switches, &[1, 2, 3]);
        switches.disabled_hosts.insert(1);
        assert_eq!(plan(&rules, &switches).target.unwrap().hosts.len(), 1);
        switches.disabled_tables.insert(1);
        assert_eq!(plan(&rules, &switches).state, RedirectState::ActiveBackup);
        switches.disabled_redirects.insert(1);
        let disabled = plan(&rules, &switches);
        assert_eq!(disabled.state, RedirectState::Disabled);
        assert_eq!(disabled.target, None);
    }
}
