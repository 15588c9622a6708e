#!/usr/bin/env bash
# Installs what building and testing Mindset needs on a fresh Debian machine, idempotently:
# the C toolchain pieces librdkafka's build uses (cmake, curl, OpenSSL, SASL, zlib headers),
# the CPU libtorch that stream-apps/nlp and so the `mindset` binary link (infra/fetch-libtorch.sh;
# about 440 MB) plus the model weights and data (infra/fetch-nlp.sh), and with --broker (what the
# tests need) Chromium, the node packages of tests/collect (real Segment and browser clients of the
# track API) and the tansu Kafka-protocol broker, all cached under $HOME/.cache/mindset. Prints the
# `export` lines a build needs. (`--nlp` is accepted and changes nothing: the NLP parts are always
# fetched, since every build links libtorch.)
source "$(dirname "$0")/lib.sh"

need_apt=()
tests=""; for arg in "$@"; do [ "$arg" = "--broker" ] && tests=chromium; done
for pkg in cmake pkg-config libcurl4-openssl-dev libssl-dev libsasl2-dev zlib1g-dev $tests; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi
command -v cargo >/dev/null 2>&1 || { log "cargo not found: install Rust (rustup) first"; exit 1; }

# The track API's client tests: @segment/analytics-node and playwright-core, from the lock file.
collect="$(dirname "$0")/../tests/collect"
if [ -n "$tests" ] && { [ ! -d "$collect/node_modules" ] || [ "$collect/package-lock.json" -nt "$collect/node_modules" ]; }; then
  command -v npm >/dev/null 2>&1 || { log "npm not found: install Node.js 20+ first"; exit 1; }
  log "npm ci in tests/collect"
  (cd "$collect" && npm ci --silent --no-audit --no-fund >&2 && touch node_modules)
fi

# The pollers' platform mocks: @stoplight/prism-cli (serves Amazon's ordersV0.json), from the lock file.
platforms="$(dirname "$0")/../tests/platforms"
if [ -n "$tests" ] && { [ ! -d "$platforms/node_modules" ] || [ "$platforms/package-lock.json" -nt "$platforms/node_modules" ]; }; then
  command -v npm >/dev/null 2>&1 || { log "npm not found: install Node.js 20+ first"; exit 1; }
  log "npm ci in tests/platforms"
  (cd "$platforms" && npm ci --silent --no-audit --no-fund >&2 && touch node_modules)
fi

for arg in "$@"; do
  case "$arg" in
    --broker) "$(dirname "$0")/install-tansu.sh" >/dev/null ;;
    --nlp) ;;
    *) log "unknown option $arg (expected --broker)"; exit 2 ;;
  esac
done
"$(dirname "$0")/fetch-libtorch.sh"
"$(dirname "$0")/fetch-nlp.sh"
# Builds are cached across clones (CI runs in a fresh clone every time).
echo "export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$MINDSET_CACHE/target}"
