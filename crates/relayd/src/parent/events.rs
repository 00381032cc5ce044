//! What the parent does with what its children send: verdicts on
//! configurations, host states (mirrored for relayctl and `monitor`),
//! requests only root can serve, the metrics process's scrapes, the
//! AgentX subagent's socket and MIB views (`agentx`), and the
//! end of a channel (a lost child).

use super::error::ParentError;
use super::links::{ChildEvent, EngineMessage, Report};
use super::Parent;
use crate::proc::ProcId;
use relayd_proto::control::{IdName, MonitorEvent};
use relayd_proto::messages::parent_hce::HceToParent;
use relayd_proto::messages::parent_metrics::{MetricsToParent, ParentToMetrics};
use relayd_proto::messages::parent_pfe::PfeToParent;
use relayd_proto::messages::parent_relay::{ParentToRelay, RelayToParent};
use relayd_proto::messages::{BindAnyResult, LifecycleAnswer};
use relayd_proto::Delivery;

impl Parent {
    pub(super) fn handle_child_event(&mut self, event: ChildEvent) -> Result<(), ParentError> {
        match event {
            ChildEvent::Closed(id, end) => Err(ParentError::LostChild { id, end }),
            ChildEvent::Lifecycle(id, LifecycleAnswer::Ready) => {
                tracing::debug!("{id} ready");
                Ok(())
            }
            ChildEvent::Lifecycle(
                id,
                LifecycleAnswer::ConfigDone {
                    generation,
                    verdict,
                },
            ) => self.config_answered(id, generation, verdict),
            ChildEvent::Report(_, Report::Hce(report)) => {
                self.hce_reported(report);
                Ok(())
            }
            ChildEvent::Report(id, Report::Pfe(report)) => {
                self.pfe_reported(id, report);
                Ok(())
            }
            ChildEvent::Report(id, Report::Relay(report)) => self.relay_reported(id, report),
            ChildEvent::Report(id, Report::Metrics(MetricsToParent::Scrape { request_id })) => {
                let text = super::exposition::render(&self.mirror.summary());
                let answer = ParentToMetrics::Exposition { request_id, text };
                self.links
                    .get(id)?
                    .send(EngineMessage::Metrics(answer), None)
            }
        }
    }

    fn hce_reported(&mut self, report: HceToParent) {
        match report {
            HceToParent::HostStatus(status) => {
                // Every check updates the counters; `monitor` shows state
                // changes only, as relayd.
                let state_changed = self.mirror.host_state(status.host_id) != Some(status.state);
                if self.mirror.update_host(status.clone()) && state_changed {
                    let _ = self.monitor.send(MonitorEvent::HostStatus(status));
                    self.demotion.update(&self.mirror);
                }
            }
            HceToParent::Sync => {
                let _ = self.monitor.send(MonitorEvent::Sync);
            }
            HceToParent::RunScript(request) => {
                match self.links.of_kind(relayd_proto::ProcessKind::Hce).next() {
                    Some(hce) => self.scripts.start(request, hce.clone()),
                    None => tracing::warn!("check script {}: no hce to answer", request.path),
                }
            }
        }
    }

    fn pfe_reported(&mut self, id: ProcId, report: PfeToParent) {
        match report {
            PfeToParent::Redirect(report) => {
                tracing::trace!("redirect {} is {:?}", report.redirect_id, report.state);
                self.mirror.update_redirect_statistics(report.stats);
            }
            PfeToParent::TableChanged(id) => {
                let name = self
                    .mirror
                    .config()
                    .tables
                    .iter()
                    .find(|t| t.id == id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                let _ = self
                    .monitor
                    .send(MonitorEvent::TableChanged(IdName { id, name }));
            }
            PfeToParent::Error(e) => tracing::error!("pfe: {e}"),
            PfeToParent::AgentxConnect => self.agentx_connect(id),
            PfeToParent::MibView { request_id } => self.send_mib_view(id, request_id),
        }
    }

    fn relay_reported(&mut self, id: ProcId, report: RelayToParent) -> Result<(), ParentError> {
        match report {
            RelayToParent::BindAny(request) => {
                let (error, fd) = match super::sockets::open_bindany_socket(&request) {
                    Ok(fd) => (None, Some(fd)),
                    Err(e) => (Some(e.to_string()), None),
                };
                let result = ParentToRelay::BindAnyResult(BindAnyResult {
                    request_id: request.request_id,
                    error,
                });
                self.links.get(id)?.send(EngineMessage::Relay(result), fd)?;
            }
            RelayToParent::Statistics(stats) => self.mirror.update_relay_statistics(stats),
            RelayToParent::Drained => self.relay_drained(id),
            RelayToParent::Session {
                request_id,
                session,
            } => {
                if self.sessions.part(request_id, id, session) == Delivery::Discarded {
                    tracing::debug!("{id}: session row for an old `show sessions`");
                }
            }
            RelayToParent::SessionsEnd { request_id } => {
                if self.sessions.done(request_id, &id) == Delivery::Discarded {
                    tracing::debug!("{id}: end of an old `show sessions`");
                }
            }
        }
        Ok(())
    }
}
