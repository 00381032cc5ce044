//! What a route is here: a destination prefix in a routing table at a
//! metric, through one or more gateways (several make a multipath route),
//! with an optional realm. The same type describes what relayd wants and
//! what the kernel holds, so the two compare with `==`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Linux's main routing table, where routes go without `rtable`.
pub const MAIN_TABLE: u32 = 254;
/// Linux's local table (addresses of this host); never relayd's.
pub const LOCAL_TABLE: u32 = 255;
/// The metric Linux gives an IPv6 route added with metric 0.
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// A destination network with its host bits cleared, as the kernel keeps
/// it (`route 10.1.2.3/8` is the route to 10.0.0.0/8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Destination {
    addr: IpAddr,
    len: u8,
}

/// A prefix length longer than its address family allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix length {len} for {addr}")]
pub struct InvalidPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Destination {
    pub fn new(addr: IpAddr, len: u8) -> Result<Destination, InvalidPrefix> {
        let masked = match addr {
            IpAddr::V4(v4) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
            _ => return Err(InvalidPrefix { addr, len }),
        };
        Ok(Destination { addr: masked, len })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// What identifies a route in the kernel: two routes with the same key
/// cannot both exist (Linux's IPv4 key also has the TOS, always 0 here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RouteKey {
    pub table: u32,
    pub destination: Destination,
    pub metric: u32,
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} table ", self.destination)?;
        match self.table {
            MAIN_TABLE => f.write_str("main")?,
            table => write!(f, "{table}")?,
        }
        write!(f, " metric {}", self.metric)
    }
}

/// A route: its key, its gateways (one nexthop each, equal weights) and
/// the realm it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub key: RouteKey,
    pub gateways: BTreeSet<IpAddr>,
    pub realm: Option<u16>,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)?;
        let mut gateways = self.gateways.iter();
        if let Some(first) = gateways.next() {
            write!(f, " via {first}")?;
            for gateway in gateways {
                write!(f, ", {gateway}")?;
            }
        }
        if let Some(realm) = self.realm {
            write!(f, " realm {realm}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(text: &str) -> Destination {
        let (addr, len) = text.split_once('/').expect("prefix");
        Destination::new(addr.parse().expect("address"), len.parse().expect("length"))
            .expect("valid prefix")
    }

    #[test]
    fn host_bits_are_cleared_as_the_kernel_keeps_them() {
        assert_eq!(destination("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(destination("10.1.2.3/32").to_string(), "10.1.2.3/32");
        assert_eq!(destination("10.1.2.3/0").to_string(), "0.0.0.0/0");
        assert_eq!(
            destination("2001:db8:1:2::5/48").to_string(),
            "2001:db8:1::/48"
        );
        assert_eq!(destination("2001:db8::1/0").to_string(), "::/0");
        assert_eq!(
            destination("2001:db8::1/128").to_string(),
            "2001:db8::1/128"
        );
    }

    #[test]
    fn prefix_lengths_past_the_family_are_refused() {
        let v4: IpAddr = "10.0.0.0".parse().expect("address");
        assert_eq!(
            Destination::new(v4, 33),
            Err(InvalidPrefix { addr: v4, len: 33 })
        );
        let v6: IpAddr = "::".parse().expect("address");
        assert!(Destination::new(v6, 129).is_err());
        assert!(Destination::new(v6, 128).is_ok());
    }

    #[test]
    fn a_route_reads_like_ip_route() {
        let route = Route {
            key: RouteKey {
                table: MAIN_TABLE,
                destination: destination("0.0.0.0/0"),
                metric: 0,
            },
            gateways: ["10.0.0.2", "10.0.0.1"]
                .iter()
                .map(|g| g.parse().expect("gateway"))
                .collect(),
            realm: Some(5),
        };
        assert_eq!(
            route.to_string(),
            "0.0.0.0/0 table main metric 0 via 10.0.0.1, 10.0.0.2 realm 5"
        );
        let key = RouteKey {
            table: 7,
            ..route.key
        };
        assert_eq!(key.to_string(), "0.0.0.0/0 table 7 metric 0");
    }
}
