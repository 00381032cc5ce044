//! What redirects ask for that nftables cannot do, refused when the
//! configuration is loaded (`relayd -n`, start, reload) with an error that
//! says why, rather than silently doing something else at run time.

use crate::joined::Joined;
use relayd_config::{Config, Mode, Redirect};
use std::net::IpAddr;

/// What one redirect asks for that nftables cannot do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(
        "route to (direct server return) is not supported on Linux: \
         nftables has no route-to; use forward to"
    )]
    RouteTo,
    #[error(
        "mode least-states is not supported on Linux: nftables cannot \
         pick the host with the fewest connections; use roundrobin, \
         random or source-hash"
    )]
    LeastStates,
    #[error("mode hash and loadbalance are for relays, not redirections")]
    RelayMode,
    #[error(
        "listen on {listen} needs an {family} host in table <{table}>: \
         nftables cannot translate between address families"
    )]
    FamilyMismatch {
        listen: IpAddr,
        family: &'static str,
        table: String,
    },
}

/// A redirect the Linux pfe cannot set up, with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}redirection {redirect}: {problem}")]
pub struct RedirectProblem {
    /// `file:line: `, or empty for a configuration without positions.
    place: String,
    redirect: String,
    problem: Problem,
}

/// Every redirect problem of a configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Joined(.0, "\n"))]
pub struct UnsupportedRedirects(pub Vec<RedirectProblem>);

/// Every redirect the Linux pfe cannot set up.
pub fn check_redirects(config: &Config) -> Result<(), UnsupportedRedirects> {
    let problems: Vec<RedirectProblem> = config
        .redirects
        .iter()
        .flat_map(|r| redirect_problems(config, r))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(UnsupportedRedirects(problems))
    }
}

fn redirect_problems(config: &Config, redirect: &Redirect) -> Vec<RedirectProblem> {
    let place = if redirect.origin.file.is_empty() {
        String::new()
    } else {
        format!("{}:{}: ", redirect.origin.file, redirect.origin.line)
    };
    let mut problems = Vec::new();
    let mut problem = |problem: Problem| {
        problems.push(RedirectProblem {
            place: place.clone(),
            redirect: redirect.name.clone(),
            problem,
        });
    };
    if redirect.route_to {
        problem(Problem::RouteTo);
    }
    if let Some(forward) = redirect.forward.first() {
        match forward.mode {
            Mode::LeastStates => problem(Problem::LeastStates),
            Mode::Hash | Mode::LoadBalance => problem(Problem::RelayMode),
            Mode::RoundRobin | Mode::Random | Mode::SourceHash => {}
        }
    }
    let Some(main) = redirect
        .forward
        .first()
        .and_then(|f| config.table(&f.table))
    else {
        return problems;
    };
    for listen in &redirect.listen {
        let v4 = listen.addr.is_ipv4();
        if !main.hosts.iter().any(|h| h.addr.is_ipv4() == v4) {
            problem(Problem::FamilyMismatch {
                listen: listen.addr,
                family: if v4 { "IPv4" } else { "IPv6" },
                table: main.template.clone(),
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::{
        Check, Host, IpProto, Origin, PortRange, RedirectListen, Table, TableForward,
    };

    fn config(mode: Mode, listen: &str, route_to: bool) -> Config {
        let mut config = Config::default();
        config.tables.push(Table {
            id: 1,
            name: "web:80".into(),
            template: "web".into(),
            port: Some(80),
            disabled: false,
            check: Check::Tcp,
            interval_secs: 10,
            timeout_ms: 200,
            demote: None,
            hosts: vec![Host {
                id: 1,
                name: "10.0.1.2".into(),
                addr: "10.0.1.2".parse().unwrap(),
                retry: 0,
                parent: None,
                priority: None,
                ip_ttl: None,
            }],
        });
        config.redirects.push(Redirect {
            id: 1,
            name: "www".into(),
            disabled: false,
            listen: vec![RedirectListen {
                addr: listen.parse().unwrap(),
                proto: IpProto::Tcp,
                port: PortRange { lo: 80, hi: 80 },
                interface: None,
            }],
            forward: vec![TableForward {
                table: "web:80".into(),
                mode,
                key: None,
                retry: 0,
                interface: None,
            }],
            route_to,
            pftag: None,
            pftag_match: false,
            sticky_address: false,
            session_timeout_secs: 600,
            origin: Origin {
                file: "relayd.conf".into(),
                line: 7,
            },
        });
        config
    }

    #[test]
    fn supported_redirects_pass() {
        for mode in [Mode::RoundRobin, Mode::Random, Mode::SourceHash] {
            assert_eq!(check_redirects(&config(mode, "10.0.0.1", false)), Ok(()));
        }
    }

    #[test]
    fn what_nftables_cannot_do_is_refused_with_its_place() {
        let error = check_redirects(&config(Mode::LeastStates, "10.0.0.1", false))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("relayd.conf:7: redirection www: mode least-states"),
            "{error}"
        );
        let error = check_redirects(&config(Mode::RoundRobin, "10.0.0.1", true))
            .unwrap_err()
            .to_string();
        assert!(error.contains("route to"), "{error}");
        let error = check_redirects(&config(Mode::RoundRobin, "fd00::1", false))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("needs an IPv6 host in table <web>"),
            "{error}"
        );
    }
}
