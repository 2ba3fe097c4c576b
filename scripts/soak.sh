#!/usr/bin/env bash
# `make soak`: starts `cinder serve` on 127.0.0.1 (a free port) with ../shared's stories260K, runs scripts/soak.py
# against it (N concurrent streams for T seconds, a share disconnecting at random, RSS sampled), stops the server
# with SIGTERM and checks that it exits 0. Not part of `make test` (it runs for minutes).
# Usage: scripts/soak.sh [CLIENTS=64] [SECONDS=60]; MODEL=path, THREADS=n, SHARED=dir, CINDER_BIN=binary.
set -u
cd "$(dirname "$0")/.." || exit 1
CLIENTS=${1:-64}
SECS=${2:-60}
SHARED=${SHARED:-../shared}
MODEL=${MODEL:-$SHARED/models/stories260K.gguf}
BIN=${CINDER_BIN:-./cinder}
[ -x "$BIN" ] && [ -f "$MODEL" ] || { echo "soak: needs $BIN and $MODEL" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# every client comes from 127.0.0.1: no per-address limit here; room for every client's connection
"$BIN" serve -m "$MODEL" --port 0 -t "${THREADS:-2}" --parallel 16 --max-queue 256 --max-connections-per-ip 0 \
    --max-connections $((CLIENTS + 16)) --quiet >"$log.out" 2>"$log" &
pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$log.out" 2>/dev/null)
    [ -n "$url" ] && break
    sleep 0.1
done
rm -f "$log.out"
[ -n "$url" ] || { echo "soak: the server did not start" >&2; cat "$log" >&2; kill "$pid"; exit 1; }
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] && break
    sleep 0.1
done
python3 scripts/soak.py --port "${url##*:}" --pid "$pid" --clients "$CLIENTS" --seconds "$SECS"
rc=$?
health=$(curl -s "$url/health")
echo "soak: /health after: $health"
kill -TERM "$pid"
wait "$pid"
src=$?
[ $src -eq 0 ] || { echo "soak: the server exited $src after SIGTERM" >&2; rc=1; }
grep -E 'level=(warn|error)' "$log" | head -5
exit $rc
