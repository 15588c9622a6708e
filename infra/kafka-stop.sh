#!/usr/bin/env bash
# Stops the local tansu broker started by kafka-start.sh (by its own PID only).
# Usage: infra/kafka-stop.sh [--wipe]   --wipe also deletes the SQLite data (all topics and offsets).
source "$(dirname "$0")/lib.sh"
lock_service tansu

wipe=false
case "${1:-}" in
  "") ;;
  --wipe) wipe=true ;;
  *) log "usage: $0 [--wipe]"; exit 2 ;;
esac

pid_file="$MINDSET_STATE/tansu.pid"
data_dir="$MINDSET_STATE/tansu"

if pid_alive "$pid_file" "$TANSU_MATCH"; then
  pid=$(cat "$pid_file")
  stop_pidfile "$pid_file"
  log "stopped tansu (pid $pid)"
else
  # A stale pidfile (process gone, or its PID reused by something else) is just removed.
  rm -f "$pid_file"
  log "tansu was not running"
fi
rm -f "$MINDSET_STATE/tansu.port"

if $wipe; then
  rm -rf "$data_dir"
  log "wiped $data_dir"
fi
