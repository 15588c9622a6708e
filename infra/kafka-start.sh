#!/usr/bin/env bash
# Starts the local Kafka-protocol broker (tansu, SQLite storage) on 127.0.0.1 and prints
# KAFKA_BOOTSTRAP=127.0.0.1:PORT on stdout. Idempotent: a broker already started by this script is reused.
#
# Env: MINDSET_KAFKA_PORT (default 19092), MINDSET_TANSU_LOG (tansu's RUST_LOG filter, default warn).
# State: $MINDSET_STATE/tansu.pid, tansu.port, tansu.log; data in $MINDSET_STATE/tansu/tansu.db.
source "$(dirname "$0")/lib.sh"
lock_service tansu

port="${MINDSET_KAFKA_PORT:-19092}"
pid_file="$MINDSET_STATE/tansu.pid"
port_file="$MINDSET_STATE/tansu.port"
log_file="$MINDSET_STATE/tansu.log"
data_dir="$MINDSET_STATE/tansu"

if pid_alive "$pid_file" "$TANSU_MATCH"; then
  running_port=$(cat "$port_file" 2>/dev/null || echo "?")
  if [ "$running_port" != "$port" ]; then
    log "tansu (pid $(cat "$pid_file")) already runs on port $running_port, not $port; run infra/kafka-stop.sh first"
    exit 1
  fi
  if ! wait_ready "$(cat "$pid_file")" "$port" 30; then
    log "tansu (pid $(cat "$pid_file")) runs but 127.0.0.1:$port does not accept connections; see $log_file"
    exit 1
  fi
  log "tansu already running (pid $(cat "$pid_file")) on 127.0.0.1:$port; logs: $log_file"
  echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
  exit 0
fi
rm -f "$pid_file" "$port_file"

if port_busy "$port"; then
  log "127.0.0.1:$port is already in use by another process; set MINDSET_KAFKA_PORT to a free port"
  exit 1
fi

tansu=$("$(dirname "$0")/install-tansu.sh")

mkdir -p "$data_dir"
# tansu calls dotenv(), which loads the first .env found in the working directory or any parent.
# This empty one stops that search, so no stray .env can add a schema registry or an OTLP exporter.
printf '# Intentionally empty: stops tansu from loading a .env from a parent directory.\n' >"$data_dir/.env"

printf '=== %s starting tansu on 127.0.0.1:%s\n' "$(date -u +%FT%TZ)" "$port" >>"$log_file"
# tansu 0.6.0 resolves the sqlite URL's host and path against its working directory, so the broker
# runs inside $data_dir with a relative URL. Flags beat the CLUSTER_ID/LISTENER_URL/... env vars;
# the two optional features that would reach out (schema registry, OTLP metrics) are unset.
# NO_COLOR keeps ANSI escapes out of the log file.
(
  cd "$data_dir"
  exec env -u OTEL_EXPORTER_OTLP_ENDPOINT -u SCHEMA_REGISTRY \
    RUST_LOG="${MINDSET_TANSU_LOG:-warn}" NO_COLOR=1 \
    setsid "$tansu" broker \
    --cluster-id mindset \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "sqlite://tansu.db" \
    </dev/null >>"$log_file" 2>&1 9>&-
) &
pid=$!
echo "$pid" >"$pid_file"
echo "$port" >"$port_file"

if ! wait_ready "$pid" "$port" 30; then
  log "tansu did not start listening on 127.0.0.1:$port; last lines of $log_file:"
  tail -n 20 "$log_file" >&2
  stop_pidfile "$pid_file"
  rm -f "$port_file"
  exit 1
fi
log "started tansu (pid $pid) on 127.0.0.1:$port; data: $data_dir/tansu.db; logs: $log_file"
echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
