//! What relayd installed outside its processes and must not leave behind
//! when a child dies: the pfe's `table inet relayd`, whose DNAT rules would
//! go on redirecting traffic to hosts nobody checks any more.
//!
//! The pfe deletes its table when it leaves cleanly; a pfe killed outright
//! (or a daemon going down because another child died first, the pfe then
//! being stopped) may not. So when the daemon stops because a child was
//! lost, the parent (root, no chroot) loads libnftables itself once every
//! child is gone and deletes the table if it is still there. Routes stay,
//! as relayd leaves them (see `pfe`).

use crate::pfe::{remove_leftover_table, Nftables, TABLE};

/// Deletes `table inet relayd` if a child left it behind. Call after
/// every child exited.
pub fn remove_redirections() {
    let mut nft = match Nftables::load() {
        Ok(nft) => nft,
        // No libnftables: the pfe could not have built a table either.
        Err(e) => {
            tracing::debug!("leftovers: {e}");
            return;
        }
    };
    match remove_leftover_table(&mut nft) {
        Ok(true) => tracing::warn!("removed table {TABLE} a lost child left behind"),
        Ok(false) => {}
        Err(e) => tracing::error!("cannot remove table {TABLE} a lost child left behind: {e}"),
    }
}
