//! [`Route`]s to rtnetlink route messages and back, with
//! netlink-packet-route's types.
//!
//! A route relayd writes: protocol [`RTPROT_RELAYD`], type unicast, scope
//! universe, its table (`RTA_TABLE`), destination, metric
//! (`RTA_PRIORITY`), and one gateway (`RTA_GATEWAY`) or several nexthops
//! of equal weight (`RTA_MULTIPATH`). IPv4 keeps the realm in `RTA_FLOW`,
//! in each nexthop of a multipath route (the kernel refuses a route-wide
//! realm that differs from its nexthops').

use crate::protocol::RTPROT_RELAYD;
use crate::route::{Destination, Route, RouteKey};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop,
    RouteProtocol, RouteRealm, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `RT_TABLE_COMPAT`: what the one-byte header table says of a table past
/// 255 (`RTA_TABLE` holds the real number).
const TABLE_COMPAT: u8 = 252;

fn family(ipv4: bool) -> AddressFamily {
    if ipv4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// The header and key attributes every message about `key` carries.
fn keyed(key: &RouteKey) -> RouteMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family(key.destination.is_ipv4());
    message.header.destination_prefix_length = key.destination.prefix_len();
    message.header.table = u8::try_from(key.table).unwrap_or(TABLE_COMPAT);
    message.header.protocol = RouteProtocol::from(RTPROT_RELAYD);
    message.header.scope = RouteScope::Universe;
    message.header.kind = RouteType::Unicast;
    message.attributes.push(RouteAttribute::Table(key.table));
    if key.destination.prefix_len() > 0 {
        message
            .attributes
            .push(RouteAttribute::Destination(key.destination.addr().into()));
    }
    message
        .attributes
        .push(RouteAttribute::Priority(key.metric));
    message
}

fn realm_attribute(realm: u16) -> RouteAttribute {
    RouteAttribute::Realm(RouteRealm {
        source: 0,
        destination: realm,
    })
}

/// The message that adds or replaces `route`.
pub(crate) fn new_route(route: &Route) -> RouteMessage {
    let mut message = keyed(&route.key);
    let realm = route
        .realm
        .filter(|_| route.key.destination.is_ipv4())
        .map(realm_attribute);
    match route.gateways.len() {
        1 => {
            message.attributes.extend(
                route
                    .gateways
                    .iter()
                    .map(|&gateway| RouteAttribute::Gateway(gateway.into())),
            );
            message.attributes.extend(realm);
        }
        _ => {
            let hops = route
                .gateways
                .iter()
                .map(|&gateway| {
                    let mut hop = RouteNextHop::default();
                    hop.attributes.push(RouteAttribute::Gateway(gateway.into()));
                    hop.attributes.extend(realm.clone());
                    hop
                })
                .collect();
            message.attributes.push(RouteAttribute::MultiPath(hops));
        }
    }
    message
}

/// The message that deletes relayd's route at `key` with all its
/// nexthops; the protocol in it makes the kernel match relayd's routes
/// only.
pub(crate) fn delete_route(key: &RouteKey) -> RouteMessage {
    keyed(key)
}

/// The dump request for one address family's routes of relayd's
/// protocol (in `table`, or in all tables). With strict checking the
/// kernel filters by protocol and table itself; [`parse_route`] filters
/// again for kernels that do not.
pub(crate) fn dump_request(ipv4: bool, table: Option<u32>) -> RouteMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family(ipv4);
    message.header.protocol = RouteProtocol::from(RTPROT_RELAYD);
    if let Some(table) = table {
        message.header.table = u8::try_from(table).unwrap_or(TABLE_COMPAT);
        message.attributes.push(RouteAttribute::Table(table));
    } else {
        message.header.table = RouteHeader::RT_TABLE_UNSPEC;
    }
    message
}

fn ip_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A route of a dump, if it is one of relayd's (protocol, family, not a
/// cached clone) in `table` (any table when `None`). Others are `None`.
pub(crate) fn parse_route(message: &RouteMessage, table: Option<u32>) -> Option<Route> {
    let header = &message.header;
    if u8::from(header.protocol) != RTPROT_RELAYD || header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let ipv4 = match header.address_family {
        AddressFamily::Inet => true,
        AddressFamily::Inet6 => false,
        _ => return None,
    };
    let mut route_table = u32::from(header.table);
    let mut destination = if ipv4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let mut metric = 0;
    let mut gateways = BTreeSet::new();
    let mut realm = None;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(t) => route_table = *t,
            RouteAttribute::Destination(address) => destination = ip_of(address)?,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(address) => gateways.extend(ip_of(address)),
            RouteAttribute::Realm(r) => realm = Some(r.destination),
            RouteAttribute::MultiPath(hops) => {
                for hop in hops {
                    for attribute in &hop.attributes {
                        match attribute {
                            RouteAttribute::Gateway(address) => gateways.extend(ip_of(address)),
                            RouteAttribute::Realm(r) => realm = Some(r.destination),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if table.is_some_and(|wanted| wanted != route_table) {
        return None;
    }
    let destination = Destination::new(destination, header.destination_prefix_length).ok()?;
    Some(Route {
        key: RouteKey {
            table: route_table,
            destination,
            metric,
        },
        gateways,
        realm: realm.filter(|&r| r != 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{Emitable, Parseable};

    fn route(gateways: &[&str], realm: Option<u16>) -> Route {
        let ipv4 = gateways[0].contains('.');
        let destination = if ipv4 {
            Destination::new("198.51.100.0".parse().expect("ip"), 24)
        } else {
            Destination::new("2001:db8:99::".parse().expect("ip"), 48)
        }
        .expect("prefix");
        Route {
            key: RouteKey {
                table: 300,
                destination,
                metric: 52,
            },
            gateways: gateways.iter().map(|g| g.parse().expect("ip")).collect(),
            realm,
        }
    }

    /// Emits `message` and parses the bytes back, as the kernel would see
    /// and echo them.
    fn round_trip(message: &RouteMessage) -> RouteMessage {
        let mut bytes = vec![0; message.buffer_len()];
        message.emit(&mut bytes);
        RouteMessage::parse(bytes.as_slice()).expect("parse")
    }

    #[test]
    fn routes_survive_the_wire_single_and_multipath_ipv4_and_ipv6() {
        for route in [
            route(&["10.0.1.2"], Some(7)),
            route(&["10.0.1.2", "10.0.2.2"], Some(7)),
            route(&["10.0.1.2", "10.0.2.2"], None),
            route(&["2001:db8:1::2"], None),
            route(&["2001:db8:1::2", "2001:db8:2::2"], None),
        ] {
            let echoed = round_trip(&new_route(&route));
            assert_eq!(echoed.header.table, TABLE_COMPAT);
            assert_eq!(parse_route(&echoed, None), Some(route.clone()), "{route}");
            assert_eq!(parse_route(&echoed, Some(300)), Some(route.clone()));
            assert_eq!(parse_route(&echoed, Some(5)), None, "another table");
        }
    }

    #[test]
    fn multipath_realms_sit_in_each_nexthop() {
        let message = new_route(&route(&["10.0.1.2", "10.0.2.2"], Some(7)));
        assert!(!message
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Realm(_))));
        let Some(RouteAttribute::MultiPath(hops)) = message
            .attributes
            .iter()
            .find(|a| matches!(a, RouteAttribute::MultiPath(_)))
        else {
            panic!("multipath: {message:?}")
        };
        assert!(hops
            .iter()
            .all(|hop| hop.attributes.contains(&realm_attribute(7))));
    }

    #[test]
    fn ipv6_routes_carry_no_realm() {
        let message = new_route(&route(&["2001:db8:1::2"], Some(7)));
        assert!(!message
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Realm(_))));
    }

    #[test]
    fn routes_of_other_protocols_and_clones_are_not_relayds() {
        let mut message = new_route(&route(&["10.0.1.2"], None));
        message.header.protocol = RouteProtocol::Static;
        assert_eq!(parse_route(&message, None), None);
        let mut clone = new_route(&route(&["2001:db8:1::2"], None));
        clone.header.flags |= RouteFlags::Cloned;
        assert_eq!(parse_route(&clone, None), None);
    }

    #[test]
    fn a_default_route_has_no_destination_attribute() {
        let mut default = route(&["10.0.1.2"], None);
        default.key.destination =
            Destination::new("0.0.0.0".parse().expect("ip"), 0).expect("prefix");
        let message = new_route(&default);
        assert!(!message
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Destination(_))));
        assert_eq!(parse_route(&round_trip(&message), None), Some(default));
    }
}
