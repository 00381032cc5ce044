//! The parent's answers to relayctl: `show` from the mirror, enable and
//! disable applied to the mirror and passed on to the engines, poll and log
//! verbosity. Reloads and `show sessions` are answered when they end
//! (configure.rs, sessions.rs).

use super::error::{CommandError, ParentError};
use super::links::EngineMessage;
use super::mirror::ObjectKind;
use super::Parent;
use crate::control::Answer;
use relayd_config::ObjectId;
use relayd_proto::control::{ControlReply, ControlRequest};
use relayd_proto::messages::parent_hce::ParentToHce;
use relayd_proto::messages::parent_pfe::ParentToPfe;
use relayd_proto::messages::parent_relay::ParentToRelay;
use relayd_proto::messages::Lifecycle;

impl Parent {
    /// Answers a request the main loop does not answer itself.
    pub(super) fn handle_control(&mut self, request: ControlRequest) -> Answer {
        let result = match request {
            // Checked when the connection opened; a repeat gets the answer again.
            ControlRequest::Hello { .. } => {
                return Answer::Replies(vec![ControlReply::Hello {
                    version: relayd_proto::CONTROL_VERSION,
                }])
            }
            ControlRequest::ShowSummary
            | ControlRequest::ShowHosts
            | ControlRequest::ShowRedirects
            | ControlRequest::ShowRelays
            | ControlRequest::ShowRouters => return Answer::Replies(self.mirror.summary()),
            ControlRequest::ShowMetrics => {
                let text = super::exposition::render(&self.mirror.summary());
                return Answer::Replies(vec![ControlReply::Metrics(text), ControlReply::End]);
            }
            ControlRequest::Monitor => return Answer::Monitor(self.monitor.subscribe()),
            ControlRequest::HostEnable(target) => self.toggle(ObjectKind::Host, &target, true),
            ControlRequest::HostDisable(target) => self.toggle(ObjectKind::Host, &target, false),
            ControlRequest::TableEnable(target) => self.toggle(ObjectKind::Table, &target, true),
            ControlRequest::TableDisable(target) => self.toggle(ObjectKind::Table, &target, false),
            ControlRequest::RedirectEnable(target) => {
                self.toggle(ObjectKind::Redirect, &target, true)
            }
            ControlRequest::RedirectDisable(target) => {
                self.toggle(ObjectKind::Redirect, &target, false)
            }
            ControlRequest::RouterEnable(target) => self.toggle(ObjectKind::Router, &target, true),
            ControlRequest::RouterDisable(target) => {
                self.toggle(ObjectKind::Router, &target, false)
            }
            ControlRequest::Poll => self
                .links
                .to_every(|| EngineMessage::Hce(ParentToHce::Poll))
                .map_err(CommandError::from),
            ControlRequest::LogBrief => self.set_verbosity(0),
            ControlRequest::LogVerbose => self.set_verbosity(1),
            // The main loop answers these itself.
            ControlRequest::ShowSessions
            | ControlRequest::Reload
            | ControlRequest::Load(_)
            | ControlRequest::Shutdown
            | ControlRequest::Drain { .. }
            | ControlRequest::TableAdd { .. }
            | ControlRequest::TableRemove { .. } => Ok(()),
        };
        Answer::Replies(vec![match result {
            Ok(()) => ControlReply::Ok,
            Err(e) => {
                tracing::warn!("control command failed: {e}");
                ControlReply::Failed(e.to_string())
            }
        }])
    }

    fn set_verbosity(&mut self, level: u8) -> Result<(), CommandError> {
        crate::log::set_verbosity(level);
        Ok(self
            .links
            .broadcast(&Lifecycle::SetVerbose(u32::from(level)))?)
    }

    /// Applies an enable/disable to the mirror, then tells the engines that
    /// act on it and the `monitor` clients.
    fn toggle(
        &mut self,
        kind: ObjectKind,
        target: &relayd_proto::Target,
        enable: bool,
    ) -> Result<(), CommandError> {
        let toggled = self.mirror.toggle(kind, target, enable)?;
        for object in &toggled.objects {
            let id = object.id;
            match (kind, enable) {
                (ObjectKind::Host, true) => self.to_engines(
                    ParentToHce::HostEnable(id),
                    ParentToPfe::HostEnable(id),
                    ParentToRelay::HostEnable(id),
                )?,
                (ObjectKind::Host, false) => self.to_engines(
                    ParentToHce::HostDisable(id),
                    ParentToPfe::HostDisable(id),
                    ParentToRelay::HostDisable(id),
                )?,
                (ObjectKind::Table, true) => self.to_engines(
                    ParentToHce::TableEnable(id),
                    ParentToPfe::TableEnable(id),
                    ParentToRelay::TableEnable(id),
                )?,
                (ObjectKind::Table, false) => self.to_engines(
                    ParentToHce::TableDisable(id),
                    ParentToPfe::TableDisable(id),
                    ParentToRelay::TableDisable(id),
                )?,
                (ObjectKind::Redirect, true) => self
                    .links
                    .to_every(|| EngineMessage::Pfe(ParentToPfe::RedirectEnable(id)))?,
                (ObjectKind::Redirect, false) => self
                    .links
                    .to_every(|| EngineMessage::Pfe(ParentToPfe::RedirectDisable(id)))?,
                (ObjectKind::Router, true) => self
                    .links
                    .to_every(|| EngineMessage::Pfe(ParentToPfe::RouterEnable(id)))?,
                (ObjectKind::Router, false) => self
                    .links
                    .to_every(|| EngineMessage::Pfe(ParentToPfe::RouterDisable(id)))?,
            }
        }
        for event in toggled.events() {
            let _ = self.monitor.send(event);
        }
        Ok(())
    }

    /// A host disabled before a table change is disabled again in the
    /// engines, which started the changed configuration afresh.
    pub(super) fn host_switch_again(&self, id: ObjectId) -> Result<(), ParentError> {
        self.links
            .to_every(|| EngineMessage::Hce(ParentToHce::HostDisable(id)))?;
        self.links
            .to_every(|| EngineMessage::Pfe(ParentToPfe::HostDisable(id)))?;
        self.links
            .to_every(|| EngineMessage::Relay(ParentToRelay::HostDisable(id)))
    }

    /// A switch for the hce, the pfe and every relay process.
    fn to_engines(
        &self,
        hce: ParentToHce,
        pfe: ParentToPfe,
        relay: ParentToRelay,
    ) -> Result<(), CommandError> {
        self.links.to_every(|| EngineMessage::Hce(hce.clone()))?;
        self.links.to_every(|| EngineMessage::Pfe(pfe.clone()))?;
        self.links
            .to_every(|| EngineMessage::Relay(relay.clone()))?;
        Ok(())
    }
}
