#!/bin/sh
# The main job: builds relayd and checks the example configuration.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --workspace
./target/release/relayd -n -f etc/relayd.conf
