//! The parent's answers to relayctl: `show` from the mirror, enable and
//! disable applied to the mirror and passed on to the engines, reload,
//! poll and log verbosity.

use super::children::Common;
use super::mirror::ObjectKind;
use super::Parent;
use crate::control::Answer;
use relayd_proto::control::{ControlReply, ControlRequest};
use relayd_proto::messages::parent_hce::ParentToHce;
use relayd_proto::messages::parent_pfe::ParentToPfe;
use relayd_proto::messages::parent_relay::ParentToRelay;
use std::path::Path;

impl Parent {
    pub(super) async fn handle_control(&mut self, request: ControlRequest) -> Answer {
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
            // Answered by the main loop from the relay processes' lists
            // (see sessions.rs); nothing is left to say here.
            ControlRequest::ShowSessions => return Answer::Replies(vec![ControlReply::End]),
            ControlRequest::Monitor => return Answer::Monitor(self.monitor.subscribe()),
            ControlRequest::HostEnable(target) => {
                self.toggle(ObjectKind::Host, &target, true).await
            }
            ControlRequest::HostDisable(target) => {
                self.toggle(ObjectKind::Host, &target, false).await
            }
            ControlRequest::TableEnable(target) => {
                self.toggle(ObjectKind::Table, &target, true).await
            }
            ControlRequest::TableDisable(target) => {
                self.toggle(ObjectKind::Table, &target, false).await
            }
            ControlRequest::RedirectEnable(target) => {
                self.toggle(ObjectKind::Redirect, &target, true).await
            }
            ControlRequest::RedirectDisable(target) => {
                self.toggle(ObjectKind::Redirect, &target, false).await
            }
            ControlRequest::Reload => {
                tracing::info!("reload requested by relayctl");
                let path = self.options.config_path.clone();
                self.reload(&path).await
            }
            ControlRequest::Load(file) => {
                tracing::info!("load of {file} requested by relayctl");
                self.reload(Path::new(&file)).await
            }
            ControlRequest::Poll => self.tree.send_hce(&ParentToHce::Poll, None).await,
            ControlRequest::LogBrief => self.set_verbosity(0).await,
            ControlRequest::LogVerbose => self.set_verbosity(1).await,
            ControlRequest::Shutdown => {
                tracing::info!("shutdown requested by relayctl");
                Ok(())
            }
        };
        Answer::Replies(vec![match result {
            Ok(()) => ControlReply::Ok,
            Err(e) => {
                tracing::warn!("control command failed: {e}");
                ControlReply::Failed(e)
            }
        }])
    }

    async fn set_verbosity(&mut self, level: u8) -> Result<(), String> {
        crate::log::set_verbosity(level);
        self.tree
            .broadcast(Common::SetVerbose(u32::from(level)))
            .await
    }

    /// Applies an enable/disable to the mirror, then tells the engines that
    /// act on it and the `monitor` clients.
    async fn toggle(
        &mut self,
        kind: ObjectKind,
        target: &relayd_proto::Target,
        enable: bool,
    ) -> Result<(), String> {
        let toggled = self.mirror.toggle(kind, target, enable)?;
        for object in &toggled.objects {
            let id = object.id;
            match kind {
                ObjectKind::Host => {
                    let (hce, pfe, relay) = if enable {
                        (
                            ParentToHce::HostEnable(id),
                            ParentToPfe::HostEnable(id),
                            ParentToRelay::HostEnable(id),
                        )
                    } else {
                        (
                            ParentToHce::HostDisable(id),
                            ParentToPfe::HostDisable(id),
                            ParentToRelay::HostDisable(id),
                        )
                    };
                    self.tree.send_hce(&hce, None).await?;
                    self.tree.send_pfe(&pfe).await?;
                    for instance in 0..self.tree.relay_count() {
                        self.tree.send_relay(instance, &relay, None).await?;
                    }
                }
                ObjectKind::Table => {
                    let (hce, pfe, relay) = if enable {
                        (
                            ParentToHce::TableEnable(id),
                            ParentToPfe::TableEnable(id),
                            ParentToRelay::TableEnable(id),
                        )
                    } else {
                        (
                            ParentToHce::TableDisable(id),
                            ParentToPfe::TableDisable(id),
                            ParentToRelay::TableDisable(id),
                        )
                    };
                    self.tree.send_hce(&hce, None).await?;
                    self.tree.send_pfe(&pfe).await?;
                    for instance in 0..self.tree.relay_count() {
                        self.tree.send_relay(instance, &relay, None).await?;
                    }
                }
                ObjectKind::Redirect => {
                    let msg = if enable {
                        ParentToPfe::RedirectEnable(id)
                    } else {
                        ParentToPfe::RedirectDisable(id)
                    };
                    self.tree.send_pfe(&msg).await?;
                }
            }
        }
        for event in toggled.events() {
            let _ = self.monitor.send(event);
        }
        Ok(())
    }
}
