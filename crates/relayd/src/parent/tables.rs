//! Run-time table changes, `relayctl table add|remove TABLE HOST` (not in
//! OpenBSD's relayd), for root only (the control socket's SO_PEERCRED).
//! The change is made to the running configuration as the mirror holds it
//! (its table, redirect and router switches applied) and rolled out like
//! a reload, with nothing read from disk: every child prepares it, then
//! all switch, or none does. Being a rollout, it is hitless as reloads
//! are: the listening sockets stay, the other hosts keep their state and
//! their ids (a new host gets an id no host has), the hce checks a new
//! host at once, sessions to a removed host end as they would have. A
//! later reload starts from the file again.

use super::configure::{Current, LoadError, Purpose};
use super::error::{ParentError, ReloadError};
use super::mirror::Mirror;
use super::Parent;
use crate::control::Answer;
use relayd_config::{Config, Host, ObjectId};
use relayd_proto::control::{ControlReply, Target};
use std::net::IpAddr;
use tokio::sync::oneshot;

/// One change to the hosts of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    /// A host, by address, joins the table.
    Add { table: Target, host: String },
    /// A host, by id, name or address, leaves the table.
    Remove { table: Target, host: Target },
}

/// A table change that cannot be made; relayctl's answer.
#[derive(Debug, thiserror::Error)]
pub enum TableChangeError {
    #[error("only root may change tables")]
    NotRoot,
    #[error("no such table {0}")]
    NoTable(Target),
    #[error("{0} is not an IP address")]
    NotAnAddress(String),
    #[error("table {table} has host {host} already")]
    HostExists { table: String, host: String },
    #[error("table {table} has no host {host}")]
    NoHost { table: String, host: Target },
    #[error("host {host} of table {table} is the parent of other hosts")]
    FollowedHost { table: String, host: String },
    #[error("host {host} is the last of table {table}")]
    LastHost { table: String, host: String },
    #[error(transparent)]
    Reload(#[from] ReloadError),
}

impl From<ParentError> for TableChangeError {
    fn from(e: ParentError) -> Self {
        TableChangeError::Reload(e.into())
    }
}

impl From<LoadError> for TableChangeError {
    fn from(e: LoadError) -> Self {
        TableChangeError::Reload(e.into())
    }
}

/// `config` with `change` made, and a line saying what changed. A table
/// is named by its id, its name (`web:80`) or the name it was written with
/// (`web`: every table made of it); a change that fits none of the tables
/// named, or not all of them, changes nothing.
pub fn apply(config: &Config, change: &TableChange) -> Result<(Config, String), TableChangeError> {
    let target = match change {
        TableChange::Add { table, .. } | TableChange::Remove { table, .. } => table,
    };
    let named: Vec<usize> = (0..config.tables.len())
        .filter(|&i| {
            let table = &config.tables[i];
            target.matches(table.id, &table.name) || target.matches(table.id, &table.template)
        })
        .collect();
    if named.is_empty() {
        return Err(TableChangeError::NoTable(target.clone()));
    }
    let mut next = config.clone();
    let mut changed = Vec::new();
    let mut next_id = next_host_id(config);
    for i in named {
        let table = &mut next.tables[i];
        match change {
            TableChange::Add { host, .. } => {
                let addr: IpAddr = host
                    .parse()
                    .map_err(|_| TableChangeError::NotAnAddress(host.clone()))?;
                if table
                    .hosts
                    .iter()
                    .any(|h| h.addr == addr || h.name == *host)
                {
                    return Err(TableChangeError::HostExists {
                        table: table.name.clone(),
                        host: host.clone(),
                    });
                }
                table.hosts.push(Host {
                    id: next_id,
                    name: host.clone(),
                    addr,
                    retry: 0,
                    parent: None,
                    priority: None,
                    ip_ttl: None,
                });
                changed.push(format!(
                    "table {}: host {host} added (id {next_id})",
                    table.name
                ));
                next_id += 1;
            }
            TableChange::Remove { host, .. } => {
                let position = table.hosts.iter().position(|h| {
                    host.matches(h.id, &h.name) || host.matches(h.id, &h.addr.to_string())
                });
                let Some(position) = position else {
                    return Err(TableChangeError::NoHost {
                        table: table.name.clone(),
                        host: host.clone(),
                    });
                };
                let removed = &table.hosts[position];
                let name = removed.name.clone();
                if table.hosts.len() == 1 {
                    return Err(TableChangeError::LastHost {
                        table: table.name.clone(),
                        host: name,
                    });
                }
                let id = removed.id;
                let followed = config
                    .tables
                    .iter()
                    .flat_map(|t| &t.hosts)
                    .any(|h| h.parent == Some(id));
                if followed {
                    return Err(TableChangeError::FollowedHost {
                        table: table.name.clone(),
                        host: name,
                    });
                }
                table.hosts.remove(position);
                changed.push(format!("table {}: host {name} removed", table.name));
            }
        }
    }
    Ok((next, changed.join(", ")))
}

fn next_host_id(config: &Config) -> ObjectId {
    config
        .tables
        .iter()
        .flat_map(|t| &t.hosts)
        .map(|h| h.id)
        .max()
        .map_or(1, |id| id + 1)
}

impl Parent {
    /// Starts a table change for relayctl; answered when its rollout ends,
    /// or now if it cannot start.
    pub(super) fn change_table(
        &mut self,
        change: TableChange,
        peer_uid: Option<u32>,
        caller: oneshot::Sender<Answer>,
    ) {
        match self.start_table_change(&change, peer_uid) {
            Ok(()) => {
                if let Some(Current {
                    purpose: Purpose::TableChange { callers, .. },
                    ..
                }) = &mut self.current
                {
                    callers.push(caller);
                }
            }
            Err(e) => {
                tracing::warn!("control command failed: {e}");
                let reply = ControlReply::Failed(e.to_string());
                let _ = caller.send(Answer::Replies(vec![reply]));
            }
        }
    }

    fn start_table_change(
        &mut self,
        change: &TableChange,
        peer_uid: Option<u32>,
    ) -> Result<(), TableChangeError> {
        if peer_uid != Some(0) {
            return Err(TableChangeError::NotRoot);
        }
        if self.current.is_some() {
            return Err(ReloadError::Busy.into());
        }
        if self.draining.is_some() {
            return Err(ReloadError::Draining.into());
        }
        let (config, what) = apply(self.mirror.config(), change)?;
        let warnings = crate::pfe::check_redirects(&config).map_err(LoadError::from)?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        tracing::info!("{what}: rolling the change out");
        let purpose = Purpose::TableChange {
            config: Box::new(config.clone()),
            what,
            callers: Vec::new(),
        };
        self.roll_out(&config, purpose)?;
        Ok(())
    }

    /// A table change runs: the mirror follows, with the host switches it
    /// had (ids did not move), and the engines get them again.
    pub(super) fn table_changed(&mut self, config: Config) -> Result<(), ParentError> {
        let mut mirror = Mirror::succeeding(config, &self.mirror);
        let disabled = mirror.keep_host_switches(&self.mirror);
        self.mirror = mirror;
        for id in disabled {
            self.host_switch_again(id)?;
        }
        self.demotion.update(&self.mirror);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let text = "table <web> { 127.0.0.1, 127.0.0.2 }\n\
                    relay a {\n listen on 127.0.0.1 port 8001\n \
                    forward to <web> port 80 check tcp\n}\n\
                    relay b {\n listen on 127.0.0.1 port 8002\n \
                    forward to <web> port 81 check tcp\n}\n";
        relayd_config::parse_str(text, "t.conf", &Default::default()).unwrap()
    }

    fn hosts(config: &Config, table: &str) -> Vec<(ObjectId, String)> {
        let table = config.table(table).expect("table");
        table.hosts.iter().map(|h| (h.id, h.name.clone())).collect()
    }

    #[test]
    fn a_host_joins_one_table_or_every_copy_of_a_template_with_new_ids() {
        let config = config();
        let before = hosts(&config, "web:80");
        let add = |table: &str| TableChange::Add {
            table: Target::parse(table),
            host: "127.0.0.9".into(),
        };
        let (one, what) = apply(&config, &add("web:80")).unwrap();
        assert_eq!(
            what,
            format!("table web:80: host 127.0.0.9 added (id {})", 5)
        );
        assert_eq!(hosts(&one, "web:80")[..2], before[..]);
        assert_eq!(hosts(&one, "web:81"), hosts(&config, "web:81"));
        let (both, _) = apply(&config, &add("web")).unwrap();
        assert_eq!(hosts(&both, "web:80")[2], (5, "127.0.0.9".into()));
        assert_eq!(hosts(&both, "web:81")[2], (6, "127.0.0.9".into()));
    }

    #[test]
    fn refusals_name_what_is_wrong_and_change_nothing() {
        let config = config();
        let add = |table: &str, host: &str| TableChange::Add {
            table: Target::parse(table),
            host: host.into(),
        };
        let remove = |table: &str, host: &str| TableChange::Remove {
            table: Target::parse(table),
            host: Target::parse(host),
        };
        let refused = |change| apply(&config, &change).unwrap_err().to_string();
        assert_eq!(refused(add("nope", "127.0.0.9")), "no such table nope");
        assert_eq!(
            refused(add("web:80", "web.example")),
            "web.example is not an IP address"
        );
        assert_eq!(
            refused(add("web:80", "127.0.0.1")),
            "table web:80 has host 127.0.0.1 already"
        );
        assert_eq!(
            refused(remove("web:80", "127.0.0.7")),
            "table web:80 has no host 127.0.0.7"
        );
        let (one_left, _) = apply(&config, &remove("web:80", "127.0.0.2")).unwrap();
        assert_eq!(hosts(&one_left, "web:80"), [(1, "127.0.0.1".into())]);
        assert_eq!(
            apply(&one_left, &remove("web:80", "1"))
                .unwrap_err()
                .to_string(),
            "host 127.0.0.1 is the last of table web:80"
        );
    }
}
