#!/usr/bin/env bash
# Installs the tansu Kafka-protocol broker (crates.io, Apache-2.0) with SQLite storage into the cache.
# Idempotent: a cached binary of the pinned version is reused. Cold: ~17 min on 2 cores.
source "$(dirname "$0")/lib.sh"
TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
root="$MINDSET_CACHE/tansu-$TANSU_VERSION"
if [ -x "$root/bin/tansu" ]; then echo "$root/bin/tansu"; exit 0; fi
log "installing tansu $TANSU_VERSION (features libsql) into $root; this takes a while on a cold machine"
CARGO_TARGET_DIR="$MINDSET_CACHE/tansu-build" cargo install tansu --version "$TANSU_VERSION" --locked \
  --features libsql --root "$root" >&2
rm -rf "$MINDSET_CACHE/tansu-build"
echo "$root/bin/tansu"
