//! Loading the configuration file and rolling it out to the children: at
//! startup, on SIGHUP and on `relayctl reload|load`. A file that does not
//! load, whose addresses cannot be bound, or that a child refuses, leaves
//! the running configuration untouched (at startup, the daemon stops).

use super::error::{ParentError, ReloadError};
use super::links::EngineMessage;
use super::mirror::Mirror;
use super::rollout::{self, Extra, Rollout, Step};
use super::routers::{route_plan, RouterError};
use super::{Parent, CONFIG_TIMEOUT};
use crate::control::Answer;
use crate::pfe::{ListenWarning, UnsupportedRedirects};
use crate::proc::ProcId;
use relayd_config::{Config, ConfigErrors, LoadOptions};
use relayd_proto::control::ControlReply;
use relayd_proto::messages::parent_metrics::ParentToMetrics;
use relayd_proto::messages::parent_pfe::ParentToPfe;
use relayd_proto::messages::parent_relay::ParentToRelay;
use relayd_proto::messages::{Generation, ListenSocket, Verdict};
use relayd_proto::ProcessKind;
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;

use super::agentx::SnmpWarning;
use super::tls_files::{self, TlsFileErrors};

/// Why a configuration file cannot be used; every error of it, one per
/// line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Redirects(#[from] UnsupportedRedirects),
    /// What the relays cannot do (the relay data path's words).
    #[error("{0}")]
    Relays(String),
    #[error(transparent)]
    Routers(#[from] RouterError),
    /// A `tls` option rustls cannot honour.
    #[error("{}", crate::joined::Joined(.0, "\n"))]
    TlsOptions(Vec<relayd_tls::OptionError>),
    #[error(transparent)]
    TlsFiles(#[from] TlsFileErrors),
}

/// Something a configuration asks for that does less than written: a
/// listen address of a redirection that redirects nothing, a `tls` option
/// this TLS library has no use for.
#[derive(Debug, thiserror::Error)]
pub enum LoadWarning {
    #[error(transparent)]
    Listen(#[from] ListenWarning),
    #[error("{0}")]
    Tls(relayd_tls::Warning),
    #[error(transparent)]
    Snmp(#[from] SnmpWarning),
}

/// A configuration that loaded, with what in it does less than written
/// (a listen address of a redirection that redirects nothing).
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<LoadWarning>,
}

/// Logs each warning, one line each with its place in the file.
pub fn log_warnings(warnings: &[LoadWarning]) {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}

/// Loads the configuration file and refuses what this platform's engines
/// cannot do.
pub fn load_config(path: &Path, macros: &[(String, String)]) -> Result<Loaded, LoadError> {
    let options = LoadOptions {
        macros: macros.to_vec(),
        resolver: None,
    };
    let config = relayd_config::load_file(path, &options)?;
    let mut warnings: Vec<LoadWarning> = crate::pfe::check_redirects(&config)?
        .into_iter()
        .map(LoadWarning::from)
        .collect();
    crate::relay::refuse_unsupported(&config).map_err(|e| LoadError::Relays(e.to_string()))?;
    warnings.extend(super::agentx::snmp_warnings(&config).map(LoadWarning::Snmp));
    route_plan(&config)?;
    let tls = crate::relay::tls_warnings(&config).map_err(LoadError::TlsOptions)?;
    warnings.extend(tls.into_iter().map(LoadWarning::Tls));
    tls_files::check_openable(&config)?;
    Ok(Loaded { config, warnings })
}

/// Why a configuration is being rolled out, and who waits for the end.
pub enum Purpose {
    Startup,
    Reload {
        config: Box<Config>,
        path: PathBuf,
        /// relayctl clients to answer when it ends.
        callers: Vec<oneshot::Sender<Answer>>,
    },
    /// `relayctl table add|remove` (`tables.rs`): the running
    /// configuration with one table changed.
    TableChange {
        config: Box<Config>,
        /// What changed, for the log.
        what: String,
        callers: Vec<oneshot::Sender<Answer>>,
    },
}

/// A rollout in progress.
pub struct Current {
    pub rollout: Rollout,
    pub purpose: Purpose,
}

impl Parent {
    /// Sends `config` to every child; the verdicts arrive as events. The
    /// relays' listening sockets come first (those of the running
    /// configuration it listens on too, new ones opened), then the metrics
    /// endpoint's, so a configuration whose addresses cannot be bound
    /// changes nothing. The pfe gets the routers' plan with it.
    pub(super) fn roll_out(
        &mut self,
        config: &Config,
        purpose: Purpose,
    ) -> Result<(), ParentError> {
        let routes = route_plan(config)?;
        let mut extras: Vec<Extra> = self
            .links
            .of_kind(ProcessKind::Pfe)
            .map(|pfe| Extra {
                to: pfe.id(),
                message: EngineMessage::Pfe(ParentToPfe::RoutePlan(routes.clone())),
                fd: None,
            })
            .collect();
        extras.extend(tls_files::extras(config, &self.links)?);
        extras.extend(self.tickets.extras(config, &self.links)?);
        let relays: Vec<ProcId> = self
            .links
            .of_kind(ProcessKind::Relay)
            .map(|relay| relay.id())
            .collect();
        let sockets = self
            .listeners
            .prepare(config, relays.iter().map(|id| id.instance()))?;
        for (instance, socket) in sockets {
            let Some(to) = relays.iter().find(|id| id.instance() == instance) else {
                continue;
            };
            let message = ParentToRelay::ListenSocket(ListenSocket {
                relay_id: socket.relay,
                index: socket.index,
                addr: socket.addr,
                tls: socket.tls,
            });
            extras.push(Extra {
                to: *to,
                message: EngineMessage::Relay(message),
                fd: Some(socket.fd),
            });
        }
        let metrics = self.links.of_kind(ProcessKind::Metrics).next();
        if let (Some(listen), Some(metrics)) = (config.global.metrics, metrics) {
            let (addr, fd) = super::sockets::open_metrics_socket(listen)?;
            extras.push(Extra {
                to: metrics.id(),
                message: EngineMessage::Metrics(ParentToMetrics::ListenSocket(addr)),
                fd: Some(fd),
            });
        }
        self.generation += 1;
        let generation = self.generation;
        rollout::send(&self.links, generation, config, extras)?;
        self.current = Some(Current {
            rollout: Rollout::new(generation, self.links.ids(), CONFIG_TIMEOUT),
            purpose,
        });
        Ok(())
    }

    /// Loads `path` and rolls it out; it runs once every child accepted it.
    pub(super) fn reload(&mut self, path: &Path) -> Result<(), ReloadError> {
        if self.current.is_some() {
            return Err(ReloadError::Busy);
        }
        if self.draining.is_some() {
            return Err(ReloadError::Draining);
        }
        let loaded = load_config(path, &self.options.macros)?;
        log_warnings(&loaded.warnings);
        let config = loaded.config;
        let running = self.mirror.config();
        if config.global.prefork != running.global.prefork {
            tracing::warn!("prefork changed: takes effect when relayd restarts");
        }
        if config.global.socket != running.global.socket {
            tracing::warn!("control socket changed: takes effect when relayd restarts");
        }
        let purpose = Purpose::Reload {
            config: Box::new(config.clone()),
            path: path.to_path_buf(),
            callers: Vec::new(),
        };
        self.hand_icmp_sockets(&config)?;
        self.roll_out(&config, purpose)?;
        Ok(())
    }

    /// A reload for relayctl: answered when the rollout ends, or now if it
    /// cannot start.
    pub(super) fn reload_for(&mut self, path: &Path, caller: oneshot::Sender<Answer>) {
        match self.reload(path) {
            Ok(()) => {
                if let Some(Current {
                    purpose: Purpose::Reload { callers, .. },
                    ..
                }) = &mut self.current
                {
                    callers.push(caller);
                }
            }
            Err(e) => {
                tracing::warn!("control command failed: {e}");
                let _ = caller.send(Answer::Replies(vec![ControlReply::Failed(e.to_string())]));
            }
        }
    }

    /// A child's verdict on configuration `generation`.
    pub(super) fn config_answered(
        &mut self,
        from: ProcId,
        generation: Generation,
        verdict: Verdict,
    ) -> Result<(), ParentError> {
        let Some(current) = &mut self.current else {
            tracing::debug!("{from}: verdict on configuration {generation}, none is rolled out");
            return Ok(());
        };
        let step = current.rollout.answer(from, generation, verdict);
        current.rollout.conclude(&self.links, &step)?;
        match step {
            Step::Wait => Ok(()),
            Step::Stale => {
                tracing::debug!("{from}: stale verdict on configuration {generation}");
                Ok(())
            }
            Step::Commit => self.committed(),
            Step::Abort { by, refusal } => self.aborted(ParentError::Refused { by, refusal }),
        }
    }

    /// Every child runs the configuration rolled out.
    fn committed(&mut self) -> Result<(), ParentError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        self.listeners.commit();
        let what = match current.purpose {
            Purpose::Startup => {
                if let Some(calls) = self.control_calls.take() {
                    self.control.serve(calls)?;
                }
                if let Some(readiness) = self.readiness.take() {
                    readiness.ready();
                }
                "startup"
            }
            Purpose::Reload {
                config,
                path,
                callers,
            } => {
                tracing::info!(
                    "loaded {}: {} tables, {} redirects, {} relays",
                    path.display(),
                    config.tables.len(),
                    config.redirects.len(),
                    config.relays.len()
                );
                self.mirror = Mirror::succeeding(*config, &self.mirror);
                self.demotion.update(&self.mirror);
                self.options.config_path = path;
                for caller in callers {
                    let _ = caller.send(Answer::Replies(vec![ControlReply::Ok]));
                }
                "reload"
            }
            Purpose::TableChange {
                config,
                what,
                callers,
            } => {
                tracing::info!("{what}");
                self.table_changed(*config)?;
                for caller in callers {
                    let _ = caller.send(Answer::Replies(vec![ControlReply::Ok]));
                }
                "table change"
            }
        };
        let pids: Vec<String> = self
            .tree
            .pids()
            .iter()
            .map(|(id, pid)| format!("{id} {pid}"))
            .collect();
        tracing::info!("{what}: configuration running in {}", pids.join(", "));
        Ok(())
    }

    /// A child refused the configuration rolled out: at startup the daemon
    /// stops with the reason; a reload fails with it.
    fn aborted(&mut self, why: ParentError) -> Result<(), ParentError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        self.listeners.abort();
        match current.purpose {
            Purpose::Startup => Err(why),
            Purpose::Reload { callers, .. } | Purpose::TableChange { callers, .. } => {
                tracing::error!("reload failed, keeping the running configuration: {why}");
                for caller in callers {
                    let failed = ControlReply::Failed(why.to_string());
                    let _ = caller.send(Answer::Replies(vec![failed]));
                }
                Ok(())
            }
        }
    }
}
