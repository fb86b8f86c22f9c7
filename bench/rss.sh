#!/usr/bin/env bash
# Whether wharf's memory stays flat under a long load: one `wharf serve` (built from the working tree) on the seeded
# database, loaded minute after minute with wrk at 128 connections (Zipf over the simple pages, every third minute
# uniform, every fifth the JSON API's Zipf mix), printing each minute's rate and the server's VmRSS and VmHWM.
#
#   bench/rss.sh                    (MINUTES, default 30; BENCH_DATABASE_URL as for compare.sh)
#
# Needs what bench/compare.sh needs, the JSON API's mixes included (bench/apidocs).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-$(pwd)/../shared/bench}
export BENCH_DATA=${BENCH_DATA:-/var/tmp/wharf-bench}
DATABASE_URL=${BENCH_DATABASE_URL:-sqlite:$BENCH_DATA/wharf/wharf.db}
RUN=/tmp/wharf-bench-run/rss
rm -rf "$RUN" && mkdir -p "$RUN/data"
go build -o "$RUN/wharf" ./cmd/wharf
taskset -c 0 "$RUN/wharf" serve --data-dir "$RUN/data" --database-url "$DATABASE_URL" --listen 127.0.0.1:0 \
  > "$RUN/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '"msg":"listening"' "$RUN/log" && break; sleep 0.2; done
URL=http://$(grep -o '"addr":"[0-9.:]*"' "$RUN/log" | head -1 | cut -d'"' -f4)
sleep 3 # the root is built in the background at start
for _ in $(seq 600); do grep -q '"msg":"simple index: page log filled"' "$RUN/log" && break; sleep 1; done
echo "| minute | mix | rps | VmRSS MB | VmHWM MB |"
echo "|---:|---|---:|---:|---:|"
for i in $(seq "${MINUTES:-30}"); do
  prefix=/simple/ dir=paths mix=zipf
  [ $((i % 3)) = 0 ] && mix=uniform
  [ $((i % 5)) = 0 ] && prefix=/pypi/ dir=paths-api mix=zipf
  rps=$(taskset -c "${CLIENT_CPU:-1}" wrk -t1 -c128 -d60s --timeout 10s -s "$SHARED/random-paths.lua" "$URL$prefix" \
    -- "$BENCH_DATA/static/$dir/$mix.txt" "$prefix" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  kb() { awk -v k="$1:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$PID/status"; }
  echo "| $i | $dir/$mix | $rps | $(kb VmRSS) | $(kb VmHWM) |"
done
