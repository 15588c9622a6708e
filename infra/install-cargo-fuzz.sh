#!/usr/bin/env bash
# Installs cargo-fuzz (crates.io, MIT/Apache-2.0) into the cache and prints the folder that holds
# the `cargo-fuzz` binary (put it on PATH to get `cargo fuzz`). Idempotent: a cached binary of the
# pinned version is reused. Cold: ~2.5 min on 2 cores (measured with the other core busy).
source "$(dirname "$0")/lib.sh"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
root="$MINDSET_CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION"
if [ -x "$root/bin/cargo-fuzz" ]; then echo "$root/bin"; exit 0; fi
log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $root"
CARGO_TARGET_DIR="$MINDSET_CACHE/cargo-fuzz-build" cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" \
  --locked --root "$root" >&2
rm -rf "$MINDSET_CACHE/cargo-fuzz-build"
echo "$root/bin"
