#!/bin/sh
# Runs every fuzz target of fuzz/ for SECONDS each (default 60), starting
# from its committed seed corpus (fuzz/seeds/TARGET) and the corpus of
# earlier runs (fuzz/corpus/TARGET, not committed). A crash stops the run
# with its input in fuzz/artifacts/TARGET/; turn it into a regression
# test of the crate whose parser it broke.
#
#   scripts/fuzz.sh [SECONDS]            every target
#   FUZZ_TARGETS="http_head chunked" scripts/fuzz.sh 30
#   FUZZ_RUNS=10000000 scripts/fuzz.sh   stop each at that many inputs
#   FUZZ_PROFILE=ci scripts/fuzz.sh 10   quicker build (scripts/test.sh)
#
# The targets follow cargo-fuzz's layout (`cargo fuzz run http_head` works
# where cargo-fuzz is installed), but this script needs only the stable
# toolchain: it builds with plain cargo and the flags cargo-fuzz passes
# (SanitizerCoverage through -Cpasses/-Cllvm-args, `--cfg fuzzing`, debug
# assertions and overflow checks), and without AddressSanitizer (the
# targets are safe Rust; an ASan build needs -Zsanitizer and so nightly,
# and an ASan build of aws-lc for the TLS target takes a quarter of an
# hour). libfuzzer-sys builds libFuzzer itself with the C++ compiler.
set -eu
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
targets=${FUZZ_TARGETS:-"config http_head chunked imsg control agentx tls_client_hello"}
runs=${FUZZ_RUNS:--1}
profile=${FUZZ_PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-target}
triple=$(rustc -vV | sed -n 's/^host: //p')

RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks -Cforce-frame-pointers"
export RUSTFLAGS
# The config parser's crates are built without compare tracing
# (scripts/fuzz-rustc.sh): every character the preprocessor reads and
# every step of pest's machinery (its call-limit and stack checks, its
# stack of positions) compares integers, and libFuzzer's hook for each
# compare was half of the target's CPU. Its string compares (pest's
# keywords) still reach libFuzzer through the memcmp interceptor. Over
# 10,000 inputs of one corpus: 565 inputs per CPU-second with tracing,
# 1,376 without; from the seeds in 180 s: 10,240 edges with, 10,292
# without (twice the inputs). A target dir built before this change
# keeps the old code of these crates until they rebuild (cargo does
# not see a new wrapper): `cargo clean -p pest -p relayd-config`.
RUSTC_WRAPPER="$(pwd)/../scripts/fuzz-rustc.sh"
FUZZ_NO_CMP_CRATES="relayd_config pest config"
export RUSTC_WRAPPER FUZZ_NO_CMP_CRATES
# --target keeps the flags off build scripts and proc macros.
bins=""
for target in $targets; do
    bins="$bins --bin $target"
done
# shellcheck disable=SC2086
cargo build --profile "$profile" --locked --target "$triple" $bins

status=0
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "fuzz.sh: $target for ${seconds}s" >&2
    log="artifacts/$target/run.log"
    # The config parser touches tens of thousands of coverage features
    # per input, and libFuzzer's entropic schedule updates its books for
    # every one: measured over 20,000 inputs from the seeds, 26 s of CPU
    # with it, 16 s without, and the same coverage reached (10,044 and
    # 10,031 edges). The other targets touch few and keep the default.
    #
    # config's inputs are at most 1 KiB: a cost per input grows with its
    # length, and 1 KiB holds a configuration of every kind of statement
    # at once (seeds/config/example-compact is example.conf without its
    # comments, 934 bytes; no seed is longer, so libFuzzer cuts none).
    case $target in
    config) schedule="-entropic=0 -max_len=1024" ;;
    *) schedule=-entropic=1 ;;
    esac
    # shellcheck disable=SC2086
    if "$target_dir/$triple/$profile/$target" $schedule \
        -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" \
        "corpus/$target" "seeds/$target" >"$log" 2>&1; then
        # libFuzzer's closing lines: inputs run, and the rate.
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        echo "fuzz.sh: $target: ${execs:-?} executions (${rate:-?}/s), no crash" >&2
    else
        status=1
        echo "fuzz.sh: $target FAILED; its input is in fuzz/artifacts/$target/:" >&2
        tail -40 "$log" >&2
    fi
done
exit "$status"
