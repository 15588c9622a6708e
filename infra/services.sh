#!/usr/bin/env bash
# Starts, stops or describes the local services Mindset's integration tests and demo run against:
# the Kafka-protocol broker (tansu) and the Firestore emulator, both on 127.0.0.1.
#
# Usage: infra/services.sh up            start both (reusing running ones); prints export lines
#        infra/services.sh down [--wipe] stop both; --wipe also deletes the broker's data
#        infra/services.sh env           print export lines for the running services (exit 1 if one is down)
# Typical: eval "$(infra/services.sh up)"
# Exports KAFKA_BOOTSTRAP, MINDSET_KAFKA_BOOTSTRAP (the same address; read by the Kafka tests and
# benches) and FIRESTORE_EMULATOR_HOST (read by the Firestore client libraries).
source "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

case "${1:-}" in
  up)
    kafka=$("$here/kafka-start.sh")
    firestore=$("$here/firestore-start.sh")
    echo "export $kafka"
    echo "export MINDSET_$kafka"
    echo "export $firestore"
    ;;
  down)
    shift
    "$here/firestore-stop.sh"
    "$here/kafka-stop.sh" "$@"
    ;;
  env)
    missing=0
    if pid_alive "$MINDSET_STATE/tansu.pid" "$TANSU_MATCH"; then
      echo "export KAFKA_BOOTSTRAP=127.0.0.1:$(cat "$MINDSET_STATE/tansu.port")"
      echo "export MINDSET_KAFKA_BOOTSTRAP=127.0.0.1:$(cat "$MINDSET_STATE/tansu.port")"
    else
      log "tansu is not running; start it with infra/kafka-start.sh"; missing=1
    fi
    if pid_alive "$MINDSET_STATE/firestore.pid" "$FIRESTORE_MAIN"; then
      echo "export FIRESTORE_EMULATOR_HOST=127.0.0.1:$(cat "$MINDSET_STATE/firestore.port")"
    else
      log "the Firestore emulator is not running; start it with infra/firestore-start.sh"; missing=1
    fi
    exit "$missing"
    ;;
  *)
    log "usage: $0 up | down [--wipe] | env"
    exit 2
    ;;
esac
