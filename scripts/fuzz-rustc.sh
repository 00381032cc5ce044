#!/bin/sh
# RUSTC_WRAPPER of scripts/fuzz.sh: compiles the crates named in
# FUZZ_NO_CMP_CRATES (crate names, blank-separated) without
# SanitizerCoverage's compare tracing, every other crate as given.
rustc=$1
shift
strip=no
prev=
for arg; do
    if [ "$prev" = --crate-name ]; then
        for name in ${FUZZ_NO_CMP_CRATES:-}; do
            [ "$arg" = "$name" ] && strip=yes
        done
    fi
    prev=$arg
done
if [ "$strip" = yes ]; then
    for arg; do
        shift
        [ "$arg" = -Cllvm-args=-sanitizer-coverage-trace-compares ] && continue
        set -- "$@" "$arg"
    done
fi
exec "$rustc" "$@"
