#!/usr/bin/env bash
# Starts Google's Cloud Firestore emulator (in memory) on 127.0.0.1 and prints
# FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT on stdout. Idempotent: an emulator already started by this
# script is reused. Installs the Debian package google-cloud-cli-firestore-emulator if it is missing.
#
# Env: MINDSET_FIRESTORE_PORT (default 18080), JAVA (default java),
#      MINDSET_FIRESTORE_JAVA_OPTS (default -Xmx1g).
# State: $MINDSET_STATE/firestore.pid, firestore.port, firestore.log.
source "$(dirname "$0")/lib.sh"
lock_service firestore

port="${MINDSET_FIRESTORE_PORT:-18080}"
pid_file="$MINDSET_STATE/firestore.pid"
port_file="$MINDSET_STATE/firestore.port"
log_file="$MINDSET_STATE/firestore.log"
work_dir="$MINDSET_STATE/firestore"
pkg=google-cloud-cli-firestore-emulator
jar_dir=/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator

if pid_alive "$pid_file" "$FIRESTORE_MAIN"; then
  running_port=$(cat "$port_file" 2>/dev/null || echo "?")
  if [ "$running_port" != "$port" ]; then
    log "Firestore emulator (pid $(cat "$pid_file")) already runs on port $running_port, not $port; run infra/firestore-stop.sh first"
    exit 1
  fi
  if ! wait_ready "$(cat "$pid_file")" "$port" 60; then
    log "Firestore emulator (pid $(cat "$pid_file")) runs but 127.0.0.1:$port does not accept connections; see $log_file"
    exit 1
  fi
  log "Firestore emulator already running (pid $(cat "$pid_file")) on 127.0.0.1:$port; logs: $log_file"
  echo "FIRESTORE_EMULATOR_HOST=127.0.0.1:$port"
  exit 0
fi
rm -f "$pid_file" "$port_file"

if port_busy "$port"; then
  log "127.0.0.1:$port is already in use by another process; set MINDSET_FIRESTORE_PORT to a free port"
  exit 1
fi

find_jar() { find "$jar_dir" -maxdepth 1 -name '*.jar' 2>/dev/null | sort | head -n 1; }
jar=$(find_jar)
if [ -z "$jar" ]; then
  log "$pkg is not installed; installing it with apt-get"
  apt-get update >&2
  candidate=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    log "apt has no candidate for $pkg (the google-cloud-sdk apt source is needed); cannot install it"
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" >&2
  jar=$(find_jar)
  [ -n "$jar" ] || { log "no jar under $jar_dir after installing $pkg"; exit 1; }
fi
java="${JAVA:-java}"
command -v "$java" >/dev/null || { log "java not found (the emulator needs Java 11+); set JAVA"; exit 1; }

mkdir -p "$work_dir"
printf '=== %s starting Firestore emulator on 127.0.0.1:%s\n' "$(date -u +%FT%TZ)" "$port" >>"$log_file"
# Same JVM flags as the package's own cloud_firestore_emulator wrapper (English error messages).
# shellcheck disable=SC2086 # MINDSET_FIRESTORE_JAVA_OPTS is a list of JVM flags
(
  cd "$work_dir"
  exec setsid "$java" ${MINDSET_FIRESTORE_JAVA_OPTS:--Xmx1g} -Duser.language=en -cp "$jar" "$FIRESTORE_MAIN" \
    --host 127.0.0.1 --port "$port" \
    </dev/null >>"$log_file" 2>&1 9>&-
) &
pid=$!
echo "$pid" >"$pid_file"
echo "$port" >"$port_file"

# Ready = the port accepts and the HTTP endpoint answers "Ok" (when curl is there to ask it).
http_ok() { ! command -v curl >/dev/null || [ "$(curl -s -m 2 "http://127.0.0.1:$port/")" = "Ok" ]; }
ready=false
if wait_ready "$pid" "$port" 60; then
  for ((i = 0; i < 100; i++)); do
    if http_ok; then ready=true; break; fi
    sleep 0.2
  done
fi
if ! $ready; then
  log "Firestore emulator did not become ready on 127.0.0.1:$port; last lines of $log_file:"
  tail -n 20 "$log_file" >&2
  stop_pidfile "$pid_file"
  rm -f "$port_file"
  exit 1
fi
log "started Firestore emulator (pid $pid) on 127.0.0.1:$port (in memory); logs: $log_file"
echo "FIRESTORE_EMULATOR_HOST=127.0.0.1:$port"
