//! Loading the configuration file and sending it to the children: at
//! startup, on SIGHUP and on `relayctl reload|load`. A file that does not
//! load, or whose addresses cannot be bound, leaves the running
//! configuration untouched.

use super::children::Common;
use super::mirror::Mirror;
use super::{sockets, Parent, CONFIG_TIMEOUT};
use relayd_config::{Config, LoadOptions};
use relayd_proto::config_parts;
use relayd_proto::messages::parent_relay::ParentToRelay;
use relayd_proto::messages::ListenSocket;
use std::path::Path;

/// Loads the configuration file; all errors in one text, one per line.
pub fn load_config(path: &Path, macros: &[(String, String)]) -> Result<Config, String> {
    let options = LoadOptions {
        macros: macros.to_vec(),
        resolver: None,
    };
    let config = relayd_config::load_file(path, &options).map_err(|errors| errors.to_string())?;
    // What the file says that this platform's engines cannot do.
    crate::pfe::check_redirects(&config)?;
    crate::relay::refuse_unsupported(&config)?;
    super::unsupported::refuse_unsupported(&config)?;
    Ok(config)
}

impl Parent {
    /// Sends `config` to every child: `Reset`, its parts, for relays their
    /// listening sockets, then the `ConfigDone` barrier. Sockets are opened
    /// first, so a config whose addresses cannot be bound changes nothing.
    pub(super) async fn distribute(&mut self, config: &Config) -> Result<(), String> {
        let mut relay_sockets = Vec::new();
        for _ in 0..self.tree.relay_count() {
            relay_sockets.push(sockets::open_relay_sockets(config)?);
        }
        for id in self.tree.ids() {
            self.tree.send_common(id, Common::Reset, None).await?;
            for part in config_parts(config, id.kind) {
                self.tree
                    .send_common(id, Common::Config(Box::new(part)), None)
                    .await?;
            }
        }
        for (instance, sockets) in (0u32..).zip(relay_sockets) {
            for socket in sockets {
                let message = ParentToRelay::ListenSocket(ListenSocket {
                    relay_id: socket.relay,
                    index: socket.index,
                    addr: socket.addr,
                    tls: socket.tls,
                });
                self.tree
                    .send_relay(instance, &message, Some(socket.fd))
                    .await?;
            }
        }
        for id in self.tree.ids() {
            self.tree.send_common(id, Common::ConfigDone, None).await?;
        }
        self.pending_config = self.tree.ids().into_iter().collect();
        self.config_deadline = tokio::time::Instant::now() + CONFIG_TIMEOUT;
        Ok(())
    }

    pub(super) async fn reload(&mut self, path: &Path) -> Result<(), String> {
        if !self.pending_config.is_empty() {
            return Err("a configuration is still being loaded".into());
        }
        let config = load_config(path, &self.options.macros)?;
        let running = self.mirror.config();
        if config.global.prefork != running.global.prefork {
            tracing::warn!("prefork changed: takes effect when relayd restarts");
        }
        if config.global.socket != running.global.socket {
            tracing::warn!("control socket changed: takes effect when relayd restarts");
        }
        self.distribute(&config).await?;
        tracing::info!(
            "loaded {}: {} tables, {} redirects, {} relays",
            path.display(),
            config.tables.len(),
            config.redirects.len(),
            config.relays.len()
        );
        self.mirror = Mirror::new(config);
        self.demotion.update(&self.mirror);
        self.options.config_path = path.to_path_buf();
        Ok(())
    }
}
