//! Which host of a new configuration is a host of the running one, so a
//! reload carries its state over (the hce's tracker, the parent's mirror)
//! instead of starting it from unknown. A host is the same host when it
//! has the same name and address in a table of the same name, port and
//! check method; its id may differ.

use relayd_config::{Host, ObjectId, Table};
use std::collections::HashMap;
use std::net::IpAddr;

/// The hosts of the running configuration, by table name, host name and
/// address.
pub struct SameHost<'a> {
    hosts: HashMap<(&'a str, &'a str, IpAddr), (&'a Table, ObjectId)>,
}

impl<'a> SameHost<'a> {
    pub fn new(running: impl IntoIterator<Item = &'a Table>) -> SameHost<'a> {
        let mut hosts = HashMap::new();
        for table in running {
            for host in &table.hosts {
                let key = (table.name.as_str(), host.name.as_str(), host.addr);
                hosts.insert(key, (table, host.id));
            }
        }
        SameHost { hosts }
    }

    /// The id `host` of `table` had in the running configuration, if it
    /// was there and is checked the same way.
    pub fn running_id(&self, table: &Table, host: &Host) -> Option<ObjectId> {
        let key = (table.name.as_str(), host.name.as_str(), host.addr);
        let (old, id) = self.hosts.get(&key)?;
        (old.port == table.port && old.check == table.check).then_some(*id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::Check;

    fn table(name: &str, port: u16, check: Check, hosts: &[(ObjectId, &str)]) -> Table {
        Table {
            id: 1,
            name: name.into(),
            template: name.into(),
            port: Some(port),
            disabled: false,
            check,
            interval_secs: 10,
            timeout_ms: 200,
            demote: None,
            hosts: hosts
                .iter()
                .map(|(id, addr)| Host {
                    id: *id,
                    name: addr.to_string(),
                    addr: addr.parse().unwrap(),
                    retry: 0,
                    parent: None,
                    priority: None,
                    ip_ttl: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_same_host_is_found_under_its_new_id_and_not_when_checked_otherwise() {
        let running = [table("web:80", 80, Check::Tcp, &[(1, "10.0.0.1")])];
        let same = SameHost::new(&running);
        let moved = table(
            "web:80",
            80,
            Check::Tcp,
            &[(7, "10.0.0.2"), (8, "10.0.0.1")],
        );
        assert_eq!(same.running_id(&moved, &moved.hosts[1]), Some(1));
        assert_eq!(same.running_id(&moved, &moved.hosts[0]), None);
        let icmp = table("web:80", 80, Check::Icmp, &[(1, "10.0.0.1")]);
        assert_eq!(same.running_id(&icmp, &icmp.hosts[0]), None);
        let other = table("api:80", 80, Check::Tcp, &[(1, "10.0.0.1")]);
        assert_eq!(same.running_id(&other, &other.hosts[0]), None);
    }
}
