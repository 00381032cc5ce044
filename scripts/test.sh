#!/bin/sh
# Runs the whole test suite: installs what the tests need (Debian packages),
# builds every binary, then runs every test of the workspace, and ends with
# the number of tests that skipped.
#
# Run as root, every test must run: RELAYD_E2E_REQUIRED=1 turns each skip
# (no root, no network namespace, a missing tool) into a failure, so the
# suite cannot pass by skipping. Without root the tests that need it skip
# and are listed at the end.
set -eu
cd "$(dirname "$0")/.."

# Every program a test runs, with the Debian package that has it.
need=""
want() {
    command -v "$1" >/dev/null 2>&1 || need="$need $2"
}
want ip iproute2
want nft nftables
want sysctl procps
want mandoc mandoc
want systemd-analyze systemd
want openssl openssl
want curl curl
want wrk wrk
want unbound unbound
want dig bind9-dnsutils
want python3 python3
want sha1sum coreutils
want promtool prometheus
want prometheus prometheus
want keepalived keepalived
want snmpd snmpd
want snmpwalk snmp
want snmpget snmp
want unshare util-linux
want mount mount
want useradd passwd
want groupadd passwd
want userdel passwd
want groupdel passwd
# libFuzzer (the fuzz step) is C++, built by libfuzzer-sys.
want c++ g++
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -qq $(printf '%s\n' $need | sort -u) >/dev/null
    else
        echo "test.sh: missing$need; some tests will be skipped (run as root to install)" >&2
    fi
fi
# The daemon's children chroot to /var/empty and run as _relayd, as relayd(8).
if [ "$(id -u)" = 0 ]; then
    mkdir -p /var/empty
    getent passwd _relayd >/dev/null 2>&1 ||
        useradd --system --user-group --home-dir /var/empty --no-create-home \
            --shell /usr/sbin/nologin _relayd
    export RELAYD_E2E_REQUIRED="${RELAYD_E2E_REQUIRED:-1}"
fi
command -v cargo >/dev/null 2>&1 || { echo "test.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }

# Each skip appends a line here (tests/support/require.rs).
RELAYD_E2E_SKIP_LOG=$(mktemp "${TMPDIR:-/tmp}/relayd-skips.XXXXXX")
export RELAYD_E2E_SKIP_LOG
trap 'rm -f "$RELAYD_E2E_SKIP_LOG"' EXIT

cargo build --workspace --all-targets
status=0
cargo test --workspace --no-fail-fast -- --test-threads="${RELAYD_TEST_THREADS:-2}" || status=$?

# Fuzzing, bounded: every target of fuzz/ but the TLS one for
# RELAYD_FUZZ_SECONDS (default 5) each, from its committed seeds. The
# `ci` build profile (opt-level 1, no debug info) took 290 CPU seconds
# from clean, about 2.5 minutes on two idle cores, so the step stays under
# four minutes. tls_client_hello is left out (its build compiles aws-lc,
# minutes on its own) and runs only from scripts/fuzz.sh.
if command -v c++ >/dev/null 2>&1; then
    FUZZ_TARGETS="config http_head chunked imsg control agentx" FUZZ_PROFILE=ci \
        scripts/fuzz.sh "${RELAYD_FUZZ_SECONDS:-5}" || status=$?
else
    echo "test.sh: fuzzing skipped: no C++ compiler for libFuzzer (install g++)" >&2
fi

skipped=$(wc -l <"$RELAYD_E2E_SKIP_LOG")
echo "test.sh: $skipped skipped"
sed 's/^/    SKIPPED /' "$RELAYD_E2E_SKIP_LOG"
exit "$status"
