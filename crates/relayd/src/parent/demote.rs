//! carp demotion on Linux, as keepalived track files. OpenBSD relayd moves
//! the carp demotion counter of an interface group; Linux has no carp, so
//! the parent writes one file per group, `DIR/GROUP`, holding `1` while the
//! group is demoted and `0` otherwise, for keepalived's `vrrp_track_file`
//! to lower the VRRP priority (see relayd.conf(5), LINUX NOTES).
//!
//! - `demote GROUP` in a `forward to`: the group is demoted while every
//!   checked host of such a table is down (relayd's hce rule).
//! - the global `demote GROUP`: `0` while relayd runs, `1` once it stops.
//!
//! DIR is `/var/run/relayd/demote`; tests move it with RELAYD_DEMOTE_DIR.

use super::mirror::Mirror;
use relayd_config::Config;
use relayd_proto::status::HostState;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DEFAULT_DIR: &str = "/var/run/relayd/demote";

/// Why a track file could not be written.
#[derive(Debug, thiserror::Error)]
enum DemoteError {
    #[error("not usable as a file name")]
    BadName,
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct Demotion {
    dir: PathBuf,
    /// What each group's file says now.
    written: BTreeMap<String, bool>,
}

impl Demotion {
    pub fn from_env() -> Demotion {
        let dir = std::env::var_os("RELAYD_DEMOTE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
        Demotion {
            dir,
            written: BTreeMap::new(),
        }
    }

    /// Brings every group's file up to date with the hosts the mirror shows.
    pub fn update(&mut self, mirror: &Mirror) {
        for (group, demoted) in demoted_groups(mirror) {
            if self.written.get(&group) != Some(&demoted) {
                self.write(&group, demoted);
            }
        }
    }

    /// relayd stops: the global group is demoted, table groups are released.
    pub fn shut_down(&mut self, config: &Config) {
        let groups: Vec<String> = self.written.keys().cloned().collect();
        for group in groups {
            let demoted = config.global.demote.as_deref() == Some(group.as_str());
            self.write(&group, demoted);
        }
    }

    fn write(&mut self, group: &str, demoted: bool) {
        match write_track_file(&self.dir, group, demoted) {
            Ok(()) => {
                tracing::info!(
                    "demote group {group}: {}",
                    if demoted { "demoted" } else { "not demoted" }
                );
                self.written.insert(group.to_string(), demoted);
            }
            Err(e) => tracing::warn!("demote group {group}: {e}"),
        }
    }
}

/// Every group the configuration names, and whether it is demoted now.
fn demoted_groups(mirror: &Mirror) -> BTreeMap<String, bool> {
    let config = mirror.config();
    let mut groups = BTreeMap::new();
    if let Some(group) = &config.global.demote {
        groups.insert(group.clone(), false);
    }
    for table in config.tables.iter().filter(|t| !t.disabled) {
        let Some(group) = &table.demote else { continue };
        let states: Vec<Option<HostState>> = table
            .hosts
            .iter()
            .map(|h| mirror.host_state(h.id))
            .collect();
        let checked = states.contains(&Some(HostState::Down));
        let none_up = states.iter().all(|s| *s != Some(HostState::Up));
        *groups.entry(group.clone()).or_insert(false) |= checked && none_up;
    }
    groups
}

/// Replaces the file at once, so keepalived never reads half of it.
fn write_track_file(dir: &Path, group: &str, demoted: bool) -> Result<(), DemoteError> {
    if group.is_empty() || group.contains('/') || group.starts_with('.') {
        return Err(DemoteError::BadName);
    }
    std::fs::create_dir_all(dir).map_err(|source| DemoteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(group);
    let temporary = dir.join(format!(".{group}.new"));
    std::fs::write(&temporary, if demoted { "1\n" } else { "0\n" })
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|source| DemoteError::Io { path, source })
}
