#!/usr/bin/env bash
# README command 2 (and .ci/run): set up, start the real services the tests use, and run
# fmt, clippy -D warnings, a bounded fuzz run of every connector parser (infra/fuzz.sh) and every
# test, including the Kafka conformance suite against tansu.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash infra/setup.sh --broker)"
source infra/lib.sh

started_here=""
cleanup() { if [ -n "$started_here" ]; then bash infra/kafka-stop.sh --wipe >&2 || true; fi; }
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check (the workspace and the connector fuzz crate)"
cargo fmt --all -- --check
cargo fmt --manifest-path api/connectors/fuzz/Cargo.toml -- --check

step "cargo clippy --workspace --all-targets -D warnings (and the connector fuzz crate)"
cargo clippy -q --workspace --all-targets -- -D warnings
cargo clippy -q --manifest-path api/connectors/fuzz/Cargo.toml --all-targets \
  --target-dir "$MINDSET_CACHE/fuzz/clippy" -- -D warnings

step "storefront pixel mapping (node --test)"
node --test api/assets/shopify-pixel/test/ >&2

step "build tests"
cargo test -q --workspace --no-run

step "fuzz every platform parser (infra/fuzz.sh: shopify, woocommerce, amazon, flipkart, segment; ${MINDSET_FUZZ_SECONDS:-15} s each, fails on any crash)"
bash infra/fuzz.sh

step "start the Kafka-protocol broker (tansu) on 127.0.0.1"
if ! pid_alive "$MINDSET_STATE/tansu.pid" tansu 2>/dev/null; then started_here=1; fi
bootstrap=$(bash infra/kafka-start.sh | sed -n 's/^KAFKA_BOOTSTRAP=//p')
export MINDSET_KAFKA_BOOTSTRAP="$bootstrap"
echo "broker: $MINDSET_KAFKA_BOOTSTRAP" >&2

step "cargo test --workspace (embedded and Kafka conformance, 1M events each)"
cargo test --workspace -- --test-threads 2
