#!/usr/bin/env bash
# Fuzzes every connector parser (api/connectors/fuzz: shopify, woocommerce, amazon, flipkart,
# segment) with libFuzzer for a bounded time, and fails on any crash, timeout or out-of-memory.
#
#   infra/fuzz.sh [SECONDS] [TARGET...]   SECONDS per target (default $MINDSET_FUZZ_SECONDS or 15),
#                                         every target when none is named
#
# Runs on the stable toolchain: cargo-fuzz needs `-Z` flags, which RUSTC_BOOTSTRAP=1 allows, and
# builds with `--sanitizer none` (the connectors are safe Rust, so a bug shows as a panic, which
# libFuzzer catches without AddressSanitizer). cargo-fuzz, the instrumented build (its own target
# dir, so the normal build cache is left alone) and the growing corpus are cached under
# $MINDSET_CACHE/fuzz; each run is seeded from api/connectors/fuzz/seeds.txt. Targets run
# MINDSET_FUZZ_JOBS at a time (default: the number of cores). A crashing input is kept under
# $MINDSET_CACHE/fuzz/artifacts/<target>/ and printed, with the command that replays it.
# docs/fuzzing.md says more.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

secs="${1:-${MINDSET_FUZZ_SECONDS:-15}}"
[[ $secs =~ ^[1-9][0-9]*$ ]] || { log "usage: infra/fuzz.sh [SECONDS] [TARGET...] (SECONDS: a positive integer)"; exit 2; }
shift || true
crate=api/connectors/fuzz
mapfile -t all < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$crate/Cargo.toml" | grep -vx mindset-connectors-fuzz)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { log "unknown fuzz target $t (targets: ${all[*]})"; exit 2; }
done

fuzz_cache="$MINDSET_CACHE/fuzz"
target_dir="$fuzz_cache/target"
mkdir -p "$fuzz_cache"
PATH="$(bash infra/install-cargo-fuzz.sh):$PATH"
export RUSTC_BOOTSTRAP=1

# The fuzz crate is its own workspace with its own Cargo.lock; refuse a lock file that is stale.
cargo fetch -q --locked --manifest-path "$crate/Cargo.toml"
start=$SECONDS
build() { (cd api/connectors && cargo fuzz build --sanitizer none --target-dir "$target_dir" "$@") >&2; }
if [ ${#targets[@]} -eq ${#all[@]} ]; then
  build || { log "building the fuzz targets failed"; exit 1; }
else
  for t in "${targets[@]}"; do build "$t" || { log "building fuzz target $t failed"; exit 1; }; done
fi
log "fuzz targets built in $((SECONDS - start)) s (${targets[*]})"
bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"

# Seeds: each line of seeds.txt is `<target> <topic> <file>...`, written as `<topic>\n<body>`.
seeds=$(mktemp -d)
logs=$(mktemp -d)
trap 'rm -rf "$seeds" "$logs"' EXIT
n=0
while read -r target topic files; do
  case "$target" in "" | "#"*) continue ;; esac
  read -ra files <<<"$files"
  mkdir -p "$seeds/$target"
  n=$((n + 1))
  {
    printf '%s\n' "$topic"
    if [ ${#files[@]} -eq 1 ]; then
      cat "api/connectors/${files[0]}"
    else
      printf '['
      for i in "${!files[@]}"; do
        [ "$i" -eq 0 ] || printf ','
        cat "api/connectors/${files[$i]}"
      done
      printf ']'
    fi
  } >"$seeds/$target/$(printf '%03d' "$n")-${topic//\//_}"
done <"$crate/seeds.txt"

run() {
  local t=$1 corpus="$fuzz_cache/corpus/$1" artifacts="$fuzz_cache/artifacts/$1/"
  mkdir -p "$corpus" "$artifacts" "$seeds/$t"
  "$bin_dir/$t" "$corpus" "$seeds/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" -print_final_stats=1 >"$logs/$t.log" 2>&1
}

# Report one finished target; false when it found something (or never ran).
report() {
  local t=$1 rc=$2 l="$logs/$1.log" runs crash
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$l")
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    log "fuzz $t: no crash in $runs inputs ($secs s);$(grep -E '^#[0-9]+' "$l" | tail -1 |
      awk '{for (i = 1; i < NF; i++) if ($i ~ /^(cov|ft|corp|exec\/s):$/) printf " %s %s", $i, $(i + 1)}')"
    return 0
  fi
  log "fuzz $t FAILED (exit $rc); the end of libFuzzer's output:"
  tail -n 60 "$l" >&2
  crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$l" | tail -1)
  if [ -n "$crash" ] && [ -f "$crash" ]; then
    log "the input, $crash (first line: the topic; cat -v shows control and non-ASCII bytes):"
    head -c 4000 "$crash" | cat -v >&2
    printf '\n' >&2
    log "replay it: $bin_dir/$t $crash"
  fi
  return 1
}

jobs_max="${MINDSET_FUZZ_JOBS:-$(nproc)}"
log "fuzzing ${targets[*]} for $secs s each, $jobs_max at a time, from $n seeds"
declare -A target_of=()
failed=()
queue=("${targets[@]}")
while [ ${#queue[@]} -gt 0 ] || [ ${#target_of[@]} -gt 0 ]; do
  while [ ${#queue[@]} -gt 0 ] && [ ${#target_of[@]} -lt "$jobs_max" ]; do
    run "${queue[0]}" &
    target_of[$!]=${queue[0]}
    queue=("${queue[@]:1}")
  done
  rc=0
  wait -n -p done_pid "${!target_of[@]}" || rc=$?
  t=${target_of[$done_pid]}
  unset "target_of[$done_pid]"
  report "$t" "$rc" || failed+=("$t")
done

if [ ${#failed[@]} -gt 0 ]; then
  log "fuzzing found a problem in: ${failed[*]}"
  exit 1
fi
log "fuzzing: no crash in ${targets[*]} ($((SECONDS - start)) s with the build)"
