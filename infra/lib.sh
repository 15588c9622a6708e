#!/usr/bin/env bash
# Shared helpers for infra/ scripts: cache and state locations, PID handling.
# Everything installed lives under $MINDSET_CACHE (default $HOME/.cache/mindset) so warm runs are quick;
# everything started writes its PID and logs under $MINDSET_STATE (default $MINDSET_CACHE/run).
set -euo pipefail
MINDSET_CACHE="${MINDSET_CACHE:-$HOME/.cache/mindset}"
MINDSET_STATE="${MINDSET_STATE:-$MINDSET_CACHE/run}"
mkdir -p "$MINDSET_CACHE" "$MINDSET_STATE"

# What the command line of each service started here contains (pid_alive checks it before trusting a pidfile).
# shellcheck disable=SC2034 # used by the scripts that source this file
TANSU_MATCH="tansu broker"
# shellcheck disable=SC2034
FIRESTORE_MAIN=com.google.cloud.datastore.emulator.firestore.CloudFirestore

log() { printf '[infra] %s\n' "$*" >&2; }

# wait_port HOST PORT SECONDS — wait until a TCP port accepts connections.
wait_port() {
  local host=$1 port=$2 secs=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# stop_pidfile FILE — stop the process recorded in FILE (TERM, then KILL), by its own PID only.
stop_pidfile() {
  local f=$1 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# pid_alive FILE PATTERN — true when FILE names a live process whose command line contains PATTERN
# (guards against a stale pidfile whose PID was reused by an unrelated process).
pid_alive() {
  local f=$1 pattern=$2 pid cmd
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$pattern"* ]]
}

# port_busy PORT — true when something already accepts connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready PID PORT SECONDS — wait until 127.0.0.1:PORT accepts connections; fail early if PID exits.
wait_ready() {
  local pid=$1 port=$2 secs=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if port_busy "$port"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# lock_service NAME — hold $MINDSET_STATE/NAME.lock (on fd 9) until the calling script exits, so two
# start/stop scripts for one service never race. A daemon started under it must close fd 9 (9>&-).
lock_service() {
  exec 9>"$MINDSET_STATE/$1.lock"
  flock 9
}
