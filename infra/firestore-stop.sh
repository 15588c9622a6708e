#!/usr/bin/env bash
# Stops the Firestore emulator started by firestore-start.sh (the java process, by its own PID only).
# The emulator keeps its data in memory, so stopping it discards all documents.
source "$(dirname "$0")/lib.sh"
lock_service firestore

pid_file="$MINDSET_STATE/firestore.pid"

if pid_alive "$pid_file" "$FIRESTORE_MAIN"; then
  pid=$(cat "$pid_file")
  stop_pidfile "$pid_file"
  log "stopped Firestore emulator (pid $pid)"
else
  # A stale pidfile (process gone, or its PID reused by something else) is just removed.
  rm -f "$pid_file"
  log "Firestore emulator was not running"
fi
rm -f "$MINDSET_STATE/firestore.port"
