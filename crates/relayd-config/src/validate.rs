//! Checks that need the whole configuration, run once it is built (as
//! relayd does at the end of `load_config`): timeouts against the check
//! interval, host `parent` ids, and that there is something to do.

use crate::build::Locations;
use crate::source::{Loc, Normalized};
use crate::{Config, ConfigError};

pub(crate) fn validate(
    config: &Config,
    src: &Normalized,
    locations: &Locations,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let end = end_of_top_file(src);
    let global = &config.global;
    let interval_ms = u64::from(global.interval_secs) * 1000;

    if u64::from(global.timeout_ms) >= interval_ms {
        let loc = locations.timeout.or(locations.interval).unwrap_or(end);
        errors.push(src.error_at(
            loc,
            format!(
                "global timeout exceeds interval: timeout {} ms must be less than the \
                 interval of {} s",
                global.timeout_ms, global.interval_secs
            ),
        ));
    }

    let used_tables = config.tables.iter().filter(|t| t.port.is_some());
    for table in used_tables.clone() {
        if u64::from(table.timeout_ms) >= interval_ms {
            let loc = locations.tables.get(&table.name).copied().unwrap_or(end);
            errors.push(src.error_at(
                loc,
                format!(
                    "table timeout exceeds interval: {} (timeout {} ms, interval {} s)",
                    table.name, table.timeout_ms, global.interval_secs
                ),
            ));
        }
    }

    let hosts: Vec<_> = used_tables.flat_map(|t| t.hosts.iter()).collect();
    for host in &hosts {
        let Some(parent_id) = host.parent else {
            continue;
        };
        let parent = hosts.iter().find(|h| h.id == parent_id);
        let valid = parent_id != host.id && parent.is_some_and(|p| p.parent.is_none());
        if !valid {
            let loc = locations.hosts.get(&host.id).copied().unwrap_or(end);
            errors.push(src.error_at(
                loc,
                format!(
                    "host parent id {parent_id} invalid for host {} (id {}): it must name \
                     another host without a parent",
                    host.name, host.id
                ),
            ));
        }
    }

    if config.redirects.is_empty() && config.relays.is_empty() && config.routers.is_empty() {
        errors.push(src.error_at(
            end,
            "no actions, nothing to do (define a redirect, relay or router)",
        ));
    }
    errors
}

/// The last position of the top file, for problems that have no line.
fn end_of_top_file(src: &Normalized) -> Loc {
    src.locs
        .iter()
        .rev()
        .find(|loc| loc.file == 0)
        .copied()
        .unwrap_or(Loc {
            file: 0,
            line: 1,
            column: 1,
        })
}
