//! `agentx` (and the older `snmp` spelling): the parent's part of the
//! AgentX subagent, which is the pfe (as relayd's agentx_control.c). The
//! pfe asks for a socket (`AgentxConnect`) and the parent, as root and
//! outside the chroot, connects the master's Unix socket at the
//! configuration's path and passes the connected descriptor; a refused
//! connect is answered without one and the pfe asks again in 3 s. For each
//! request the master forwards the pfe asks for the MIB view, which the
//! parent builds from its status mirror (what `show summary` prints) and
//! the relay processes' sessions (gathered as `show sessions` does, at
//! most `SESSIONS_BOUND`, so an answer stays well inside the master's
//! timeout).

use super::links::EngineMessage;
use super::mirror::Mirror;
use super::Parent;
use crate::proc::ProcId;
use relayd_config::{Config, DEFAULT_AGENTX_PATH};
use relayd_proto::control::ControlReply;
use relayd_proto::correlate::RequestId;
use relayd_proto::messages::agentx::{MibHost, MibRouter, MibTable, MibView};
use relayd_proto::messages::parent_pfe::ParentToPfe;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// How long the relay processes get to list their sessions for a view.
const SESSIONS_BOUND: Duration = Duration::from_millis(500);

/// How long a connect to the master may take (a full backlog).
const CONNECT_BOUND: Duration = Duration::from_secs(3);

/// What of the older `snmp` spelling this relayd reads differently:
/// `snmp [trap] [PATH]` is `agentx` with that path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnmpWarning {
    #[error("snmp trap: this relayd sends no traps, it serves the MIB over AgentX")]
    Trap,
    #[error("snmp and agentx are both set: agentx is used")]
    Both,
}

/// The warnings of a configuration's `snmp` option.
pub fn snmp_warnings(config: &Config) -> impl Iterator<Item = SnmpWarning> {
    let global = &config.global;
    let trap = global.snmp.as_ref().is_some_and(|s| s.trap);
    let both = global.snmp.is_some() && global.agentx.is_some();
    [
        trap.then_some(SnmpWarning::Trap),
        both.then_some(SnmpWarning::Both),
    ]
    .into_iter()
    .flatten()
}

/// The master's socket: `agentx path`, else `snmp`'s path, else the
/// default; `None` when the configuration has neither option.
pub fn master_path(config: &Config) -> Option<String> {
    let global = &config.global;
    match (&global.agentx, &global.snmp) {
        (Some(agentx), _) => Some(agentx.path.clone()),
        (None, Some(snmp)) => Some(snmp.path.clone()),
        (None, None) => None,
    }
    .map(|path| path.unwrap_or_else(|| DEFAULT_AGENTX_PATH.to_string()))
}

impl Parent {
    /// Connects the master's socket for the pfe, in a task of its own.
    pub(super) fn agentx_connect(&mut self, pfe: ProcId) {
        let Ok(link) = self.links.get(pfe).cloned() else {
            return;
        };
        let path = master_path(self.mirror.config());
        tokio::spawn(async move {
            let (error, fd) = match path {
                None => (Some("agentx is not configured".to_string()), None),
                Some(path) => match connect(&path).await {
                    Ok(fd) => {
                        tracing::debug!("agentx: connected to {path}");
                        (None, Some(fd))
                    }
                    Err(e) => (Some(format!("cannot connect to {path}: {e}")), None),
                },
            };
            let message = EngineMessage::Pfe(ParentToPfe::AgentxSocket { error });
            if let Err(e) = link.send(message, fd) {
                tracing::warn!("agentx: {e}");
            }
        });
    }

    /// Sends the pfe the view to answer the master's request from.
    pub(super) fn send_mib_view(&mut self, pfe: ProcId, request_id: RequestId) {
        let Ok(link) = self.links.get(pfe).cloned() else {
            return;
        };
        let mut view = mib_view(&self.mirror);
        let sessions = self.gather_sessions(SESSIONS_BOUND, "agentx");
        tokio::spawn(async move {
            view.sessions = sessions.await;
            let message = EngineMessage::Pfe(ParentToPfe::MibView {
                request_id,
                view: Box::new(view),
            });
            if let Err(e) = link.send(message, None) {
                tracing::warn!("agentx: {e}");
            }
        });
    }
}

async fn connect(path: &str) -> std::io::Result<OwnedFd> {
    let stream = tokio::time::timeout(CONNECT_BOUND, tokio::net::UnixStream::connect(path))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(stream.into_std()?.into())
}

/// The mirror's `show summary` rows, each object once and by id, with the
/// configuration's addresses, host counts and routers' tables.
pub fn mib_view(mirror: &Mirror) -> MibView {
    let config = mirror.config();
    let addrs: BTreeMap<_, _> = config
        .tables
        .iter()
        .flat_map(|t| t.hosts.iter().map(|h| (h.id, h.addr)))
        .collect();
    let mut redirects = BTreeMap::new();
    let mut relays = BTreeMap::new();
    let mut routers = BTreeMap::new();
    let mut hosts = BTreeMap::new();
    let mut tables = BTreeMap::new();
    for row in mirror.summary() {
        match row {
            ControlReply::Redirect(r) => {
                redirects.insert(r.id, r);
            }
            ControlReply::Relay(r) => {
                relays.insert(r.id, r);
            }
            ControlReply::Router(row) => {
                let table_id = config
                    .routers
                    .iter()
                    .find(|r| r.id == row.id)
                    .and_then(|r| config.table(&r.forward.table))
                    .map(|t| t.id);
                routers.insert(row.id, MibRouter { row, table_id });
            }
            ControlReply::Table(row) => {
                let count = config
                    .tables
                    .iter()
                    .find(|t| t.id == row.id)
                    .map_or(0, |t| t.hosts.len());
                let hosts = u32::try_from(count).unwrap_or(u32::MAX);
                tables.insert(row.id, MibTable { row, hosts });
            }
            ControlReply::Host(row) => {
                if let Some(&addr) = addrs.get(&row.status.host_id) {
                    hosts.insert(row.status.host_id, MibHost { row, addr });
                }
            }
            _ => {}
        }
    }
    MibView {
        redirects: redirects.into_values().collect(),
        relays: relays.into_values().collect(),
        routers: routers.into_values().collect(),
        hosts: hosts.into_values().collect(),
        tables: tables.into_values().collect(),
        sessions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::{parse_str, LoadOptions};

    fn load(global: &str) -> Config {
        let text = format!(
            "{global}\ntable <t> {{ 127.0.0.1 }}\nrelay r {{\n listen on 127.0.0.1 port 80\n \
             forward to <t> port 8080 check tcp\n}}\n"
        );
        parse_str(&text, "test.conf", &LoadOptions::default()).expect("valid config")
    }

    #[test]
    fn the_master_path_comes_from_agentx_then_snmp_then_the_default() {
        assert_eq!(master_path(&load("")), None);
        assert_eq!(
            master_path(&load("agentx")).as_deref(),
            Some(DEFAULT_AGENTX_PATH)
        );
        assert_eq!(
            master_path(&load("agentx context \"c\" path \"/run/a.sock\"")).as_deref(),
            Some("/run/a.sock")
        );
        assert_eq!(
            master_path(&load("snmp \"/run/old.sock\"")).as_deref(),
            Some("/run/old.sock")
        );
        assert_eq!(
            master_path(&load("snmp trap")).as_deref(),
            Some(DEFAULT_AGENTX_PATH)
        );
    }

    #[test]
    fn snmp_trap_and_both_spellings_are_warned_about() {
        assert_eq!(snmp_warnings(&load("snmp")).count(), 0);
        assert_eq!(snmp_warnings(&load("agentx")).count(), 0);
        let both: Vec<_> = snmp_warnings(&load("snmp trap\nagentx")).collect();
        assert_eq!(both, vec![SnmpWarning::Trap, SnmpWarning::Both]);
    }
}
