//! What the parent does with the messages its children send: configuration
//! acknowledgements, host states (mirrored for relayctl and `monitor`),
//! requests only root can serve, and the end of a channel (a lost child).

use super::children::ChildEvent;
use super::Parent;
use crate::proc::ProcId;
use relayd_proto::control::{IdName, MonitorEvent};
use relayd_proto::messages::parent_ca::CaToParent;
use relayd_proto::messages::parent_hce::HceToParent;
use relayd_proto::messages::parent_pfe::PfeToParent;
use relayd_proto::messages::parent_relay::{ParentToRelay, RelayToParent};
use relayd_proto::messages::BindAnyResult;
use relayd_proto::ProcessKind;

impl Parent {
    pub(super) async fn handle_child_event(&mut self, event: ChildEvent) -> Result<(), String> {
        match event {
            ChildEvent::Closed(id, why) => {
                return Err(format!("lost child: {id} ({why})"));
            }
            ChildEvent::Hce(received) => match received.msg {
                HceToParent::Ready => tracing::debug!("hce ready"),
                HceToParent::ConfigDone => {
                    self.config_acknowledged(ProcId::new(ProcessKind::Hce, 0))
                        .await?
                }
                HceToParent::HostStatus(status) => {
                    // Every check updates the counters; `monitor` shows
                    // state changes only, as relayd.
                    let state_changed =
                        self.mirror.host_state(status.host_id) != Some(status.state);
                    if self.mirror.update_host(status.clone()) && state_changed {
                        let _ = self.monitor.send(MonitorEvent::HostStatus(status));
                        self.demotion.update(&self.mirror);
                    }
                }
                HceToParent::Sync => {
                    let _ = self.monitor.send(MonitorEvent::Sync);
                }
                HceToParent::RunScript(request) => self.scripts.start(request),
            },
            ChildEvent::Pfe(received) => match received.msg {
                PfeToParent::Ready => tracing::debug!("pfe ready"),
                PfeToParent::ConfigDone => {
                    self.config_acknowledged(ProcId::new(ProcessKind::Pfe, 0))
                        .await?
                }
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
            },
            ChildEvent::Relay(instance, received) => match received.msg {
                RelayToParent::Ready => tracing::debug!("relay {} ready", instance + 1),
                RelayToParent::ConfigDone => {
                    self.config_acknowledged(ProcId::new(ProcessKind::Relay, instance))
                        .await?
                }
                RelayToParent::BindAny(request) => {
                    let (error, fd) = match super::sockets::open_bindany_socket(&request) {
                        Ok(fd) => (None, Some(fd)),
                        Err(e) => (Some(e), None),
                    };
                    let result = ParentToRelay::BindAnyResult(BindAnyResult {
                        request_id: request.request_id,
                        error,
                    });
                    self.tree.send_relay(instance, &result, fd).await?;
                }
                RelayToParent::Statistics(stats) => self.mirror.update_relay_statistics(stats),
                RelayToParent::Session {
                    request_id,
                    session,
                } => self.session_listed(request_id, session),
                RelayToParent::SessionsEnd { request_id } => {
                    self.sessions_listed(instance, request_id)
                }
            },
            ChildEvent::Ca(instance, received) => match received.msg {
                CaToParent::Ready => {
                    tracing::debug!("ca {} ready", instance + 1)
                }
                CaToParent::ConfigDone => {
                    self.config_acknowledged(ProcId::new(ProcessKind::Ca, instance))
                        .await?
                }
            },
        }
        Ok(())
    }
}
