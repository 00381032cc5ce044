//! What redirects ask for that nftables cannot do, found when the
//! configuration is loaded (`relayd -n`, start, reload). What would change
//! the meaning of a whole redirection (a mode nftables has no counterpart
//! for, `route to`) is refused with an error that says why. What concerns
//! one `listen on` line alone (an address family no host of the tables
//! has, an interface name no interface can have) is a warning naming that
//! line: that listen address redirects nothing, as with pf, and the rest
//! of the redirection runs.

use crate::joined::Joined;
use relayd_config::{Config, Mode, Origin, Redirect, RedirectListen, Table};
use std::net::IpAddr;

/// The longest interface name Linux has (IFNAMSIZ less the NUL); nftables
/// refuses a longer `iifname`.
const MAX_INTERFACE_NAME: usize = 15;

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
}

/// A redirect the Linux pfe cannot set up, with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}redirection {redirect}: {problem}", place(.origin))]
pub struct RedirectProblem {
    origin: Origin,
    redirect: String,
    problem: Problem,
}

/// Every redirect problem of a configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Joined(.0, "\n"))]
pub struct UnsupportedRedirects(pub Vec<RedirectProblem>);

/// Why one `listen on` address redirects nothing, or not always.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenProblem {
    #[error(
        "no {family} host in {tables}: nftables cannot translate between \
         address families, this address redirects nothing"
    )]
    NoHostOfFamily {
        family: &'static str,
        tables: String,
    },
    #[error(
        "no {family} host in <{table}>: this address redirects nothing \
         while <{table}> is in use"
    )]
    FamilyMissingIn { family: &'static str, table: String },
    #[error(
        "interface name \"{name}\" is empty or longer than {MAX_INTERFACE_NAME} \
         bytes: no interface has it, this line redirects nothing"
    )]
    InterfaceName { name: String },
}

/// A `listen on` line of a redirect that nftables cannot use as written,
/// with the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}redirection {redirect}: listen on {listen}: {problem}", place(.origin))]
pub struct ListenWarning {
    origin: Origin,
    redirect: String,
    listen: IpAddr,
    problem: ListenProblem,
}

/// `file:line: `, or nothing for a configuration without positions.
fn place(origin: &Origin) -> String {
    if origin.file.is_empty() {
        String::new()
    } else {
        format!("{}:{}: ", origin.file, origin.line)
    }
}

/// Whether nftables can match `listen` at all: the listen lines that
/// cannot (an interface name no interface can have: empty, or too long)
/// are left out of the ruleset, and warned about at load.
pub fn listen_usable(listen: &RedirectListen) -> bool {
    listen
        .interface
        .as_ref()
        .is_none_or(|name| (1..=MAX_INTERFACE_NAME).contains(&name.len()))
}

/// Every redirect the Linux pfe cannot set up (`Err`), else the warnings
/// about single listen lines.
pub fn check_redirects(config: &Config) -> Result<Vec<ListenWarning>, UnsupportedRedirects> {
    let problems: Vec<RedirectProblem> = config
        .redirects
        .iter()
        .flat_map(redirect_problems)
        .collect();
    if problems.is_empty() {
        Ok(config
            .redirects
            .iter()
            .flat_map(|r| listen_warnings(config, r))
            .collect())
    } else {
        Err(UnsupportedRedirects(problems))
    }
}

fn redirect_problems(redirect: &Redirect) -> Vec<RedirectProblem> {
    let mut problems = Vec::new();
    if redirect.route_to {
        problems.push(Problem::RouteTo);
    }
    if let Some(forward) = redirect.forward.first() {
        match forward.mode {
            Mode::LeastStates => problems.push(Problem::LeastStates),
            Mode::Hash | Mode::LoadBalance => problems.push(Problem::RelayMode),
            Mode::RoundRobin | Mode::Random | Mode::SourceHash => {}
        }
    }
    problems
        .into_iter()
        .map(|problem| RedirectProblem {
            origin: redirect.origin.clone(),
            redirect: redirect.name.clone(),
            problem,
        })
        .collect()
}

fn listen_warnings(config: &Config, redirect: &Redirect) -> Vec<ListenWarning> {
    let tables: Vec<&Table> = redirect
        .forward
        .iter()
        .filter_map(|f| config.table(&f.table))
        .collect();
    let mut warnings = Vec::new();
    for listen in &redirect.listen {
        let mut warn = |problem| {
            warnings.push(ListenWarning {
                origin: listen.origin.clone(),
                redirect: redirect.name.clone(),
                listen: listen.addr,
                problem,
            })
        };
        if let Some(name) = listen.interface.as_ref().filter(|_| !listen_usable(listen)) {
            warn(ListenProblem::InterfaceName { name: name.clone() });
            continue;
        }
        let v4 = listen.addr.is_ipv4();
        let family = if v4 { "IPv4" } else { "IPv6" };
        let lacking: Vec<&Table> = tables
            .iter()
            .copied()
            .filter(|t| !t.hosts.iter().any(|h| h.addr.is_ipv4() == v4))
            .collect();
        if !tables.is_empty() && lacking.len() == tables.len() {
            let names: Vec<String> = tables.iter().map(|t| format!("<{}>", t.template)).collect();
            warn(ListenProblem::NoHostOfFamily {
                family,
                tables: names.join(" or "),
            });
        } else {
            for table in lacking {
                warn(ListenProblem::FamilyMissingIn {
                    family,
                    table: table.template.clone(),
                });
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::{parse_str, LoadOptions};

    /// A redirect `www` with `lines` inside, over <web> (IPv4) and the
    /// backup <spare> with `spare` as its host.
    fn config(lines: &str, spare: &str) -> Config {
        let text = format!(
            "table <web> {{ 10.0.1.2 }}\ntable <spare> {{ {spare} }}\n\
             redirect www {{\n{lines}\n\
             forward to <web> port 80 check tcp\nforward to <spare> port 80 check tcp\n}}\n"
        );
        parse_str(&text, "relayd.conf", &LoadOptions::default()).expect("valid")
    }

    fn warnings(lines: &str, spare: &str) -> Vec<String> {
        check_redirects(&config(lines, spare))
            .expect("no refusal")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn supported_redirects_pass_without_warnings() {
        for mode in ["roundrobin", "random", "source-hash"] {
            let lines =
                format!("listen on 10.0.0.1 port 80\nforward to <web> mode {mode} check tcp");
            let text = format!("table <web> {{ 10.0.1.2 }}\nredirect www {{\n{lines}\n}}\n");
            let config = parse_str(&text, "relayd.conf", &LoadOptions::default()).unwrap();
            assert_eq!(check_redirects(&config), Ok(vec![]), "{mode}");
        }
    }

    #[test]
    fn what_changes_the_whole_redirection_is_refused_with_its_place() {
        let refused = |lines: &str| {
            let text = format!(
                "table <web> {{ 10.0.1.2 }}\n\nredirect www {{\nlisten on 10.0.0.1 port 80\n\
                 {lines}\n}}\n"
            );
            let config = parse_str(&text, "relayd.conf", &LoadOptions::default()).unwrap();
            check_redirects(&config).unwrap_err().to_string()
        };
        let error = refused("forward to <web> mode least-states check tcp");
        assert!(
            error.starts_with("relayd.conf:3: redirection www: mode least-states"),
            "{error}"
        );
        let error = refused("route to <web> check icmp interface eth0");
        assert!(error.contains("route to"), "{error}");
    }

    #[test]
    fn a_listen_family_no_table_has_is_a_warning_naming_its_line() {
        let lines = "listen on 10.0.0.1 port 80\nlisten on fd00::1 port 80";
        let warnings = warnings(lines, "10.0.3.2");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("relayd.conf:5: redirection www: listen on fd00::1: no IPv6 host in <web> or <spare>"),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("redirects nothing"), "{warnings:?}");
        // A backup table of the family: the address works while it is used.
        let warnings = self::warnings(lines, "fd00::2");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("listen on 10.0.0.1: no IPv4 host in <spare>"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("listen on fd00::1: no IPv6 host in <web>"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("while <web> is in use"),
            "{warnings:?}"
        );
    }

    #[test]
    fn an_interface_name_no_interface_can_have_is_a_warning_and_left_out() {
        let lines = "listen on 10.0.0.1 port 80 interface averyveryverylongname\n\
                     listen on 10.0.0.1 port 81 interface eth0";
        let config = config(lines, "10.0.3.2");
        let warnings: Vec<String> = check_redirects(&config)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("relayd.conf:4: "), "{warnings:?}");
        assert!(
            warnings[0].contains("\"averyveryverylongname\" is empty or longer than 15"),
            "{warnings:?}"
        );
        let usable: Vec<bool> = config.redirects[0]
            .listen
            .iter()
            .map(listen_usable)
            .collect();
        assert_eq!(usable, [false, true]);
    }
}
