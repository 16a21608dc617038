#!/usr/bin/env bash
# `make run-cluster`: a local Parley cluster for trying cluster mode — one redis-server (AOF with
# appendfsync always, data in ./data-cluster/redis) and three nodes on it. Ctrl-C stops everything.
# Ports: REDIS_PORT (6390), nodes' TCP 9101-9103, HTTP 8101-8103 and IRC 6601-6603 (BASE_TCP,
# BASE_HTTP and BASE_IRC move them; each node needs its own IRC port on one machine).
set -euo pipefail
cd "$(dirname "$0")/.."
REDIS_PORT="${REDIS_PORT:-6390}"
BASE_TCP="${BASE_TCP:-9100}"
BASE_HTTP="${BASE_HTTP:-8100}"
BASE_IRC="${BASE_IRC:-6600}"
NODES="${NODES:-3}"

if ! command -v redis-server >/dev/null 2>&1; then
  echo "run-cluster: redis-server is not installed (Debian/Ubuntu: sudo apt-get install redis-server)" >&2
  exit 1
fi

mkdir -p data-cluster/redis
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "run-cluster: stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/data-cluster/redis" --save '' \
  --appendonly yes --appendfsync always --loglevel warning &
pids+=($!)
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break
  sleep 0.1
done

for i in $(seq 1 "$NODES"); do
  node dist/server/main.js --redis "redis://127.0.0.1:$REDIS_PORT" --host 127.0.0.1 \
    --tcp-port "$((BASE_TCP + i))" --http-port "$((BASE_HTTP + i))" --irc-port "$((BASE_IRC + i))" --log-level "${LOG_LEVEL:-warn}" "$@" &
  pids+=($!)
done
# Each node prints its listening line once it accepts connections; wait for all of them.
for i in $(seq 1 "$NODES"); do
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$((BASE_HTTP + i))") 2>/dev/null && break
    sleep 0.1
  done
done

echo
echo "Parley cluster: redis://127.0.0.1:$REDIS_PORT (data in data-cluster/redis)"
for i in $(seq 1 "$NODES"); do
  echo "  node $i: console  make run-console NAME=you PORT=$((BASE_TCP + i))    web  http://localhost:$((BASE_HTTP + i))/    irc  localhost:$((BASE_IRC + i))"
done
echo "Ctrl-C stops Redis and the nodes."
wait -n "${pids[@]}" || true
