//! The seccomp filter: a kind's list (`calls`) compiled to BPF with
//! seccompiler and installed for every thread of the process.

use super::calls::{self, Rule};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};
use std::collections::BTreeMap;

/// Why the filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("unsupported architecture {0}")]
    Architecture(&'static str),
    #[error("cannot build the filter: {0}")]
    Build(seccompiler::BackendError),
    #[error("cannot install the filter: {0}")]
    Install(seccompiler::Error),
}

/// Builds the filter of the common calls and `own` for process `pid`; a
/// call outside it traps.
pub fn build(own: &[Rule], pid: u32) -> Result<BpfProgram, FilterError> {
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|_| FilterError::Architecture(std::env::consts::ARCH))?;
    // Per call, the conditions of which one must hold; `None`: always.
    // A call may be listed more than once (the common list, the kind's
    // own) with arguments of its own each time.
    let mut wanted: BTreeMap<i64, Option<Vec<SeccompCondition>>> = BTreeMap::new();
    for rule in calls::allowed(own) {
        let conditions = conditions(rule, pid).map_err(FilterError::Build)?;
        let entry = wanted
            .entry(i64::from(rule.call().id()))
            .or_insert_with(|| Some(Vec::new()));
        match (entry.as_mut(), conditions.is_empty()) {
            (_, true) => *entry = None,
            (Some(any_of), false) => any_of.extend(conditions),
            (None, false) => {}
        }
    }
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (call, any_of) in wanted {
        let chain = any_of
            .unwrap_or_default()
            .into_iter()
            .map(|condition| SeccompRule::new(vec![condition]))
            .collect::<Result<_, _>>()
            .map_err(FilterError::Build)?;
        rules.insert(call, chain);
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Trap, SeccompAction::Allow, arch)
        .map_err(FilterError::Build)?;
    filter.try_into().map_err(FilterError::Build)
}

/// The conditions of which one must hold (none: always allowed).
fn conditions(rule: Rule, pid: u32) -> Result<Vec<SeccompCondition>, seccompiler::BackendError> {
    // Every checked argument is an int (a family, an ioctl request, a
    // prctl option, a pid): compare its low 32 bits.
    let equal = |arg: u8, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
    };
    match rule {
        Rule::Always(_) => Ok(Vec::new()),
        Rule::ArgIn(_, arg, values) => values.iter().map(|v| equal(arg, *v)).collect(),
        Rule::ToSelf(_) => Ok(vec![equal(0, u64::from(pid))?]),
    }
}

/// Installs the filter of the common calls and `own` on every thread of
/// this process.
pub fn install(own: &[Rule]) -> Result<(), FilterError> {
    let program = build(own, std::process::id())?;
    seccompiler::apply_filter_all_threads(&program).map_err(FilterError::Install)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_compiles_and_a_call_listed_twice_keeps_both_arguments() {
        for own in [
            calls::HCE,
            calls::PFE,
            calls::RELAY,
            calls::CA,
            calls::METRICS,
        ] {
            let program = build(own, 4242).expect("filter builds");
            assert!(!program.is_empty());
        }
        // The ca's prctl (PR_SET_DUMPABLE) adds to the common one
        // (PR_SET_NAME): one more comparison than the common list alone.
        let common = build(&[], 1).unwrap().len();
        let ca_only = build(calls::CA, 1).unwrap().len();
        assert!(ca_only > common, "{ca_only} <= {common}");
    }
}
