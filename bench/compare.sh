#!/usr/bin/env bash
# Before and after in one run: nginx serving the static pages, wharf built from a git revision and wharf built from
# the working tree, loaded scenario by scenario in turn, so that the noise of a shared machine falls on all three
# alike. Prints the shared bench's rows, then each wharf's median rps as a ratio to nginx's.
#
#   bench/compare.sh [REV]          (default REV: HEAD)
#
# Environment: SCENARIOS (default "hot uniform zipf zipf@128"), and DURATION, REPS, CONNS, WARMUP as for the shared
# simple-load.sh. Needs what bench/run.sh needs; the servers' logs and builds go to /tmp/wharf-bench-run/compare.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
export BENCH_DATA=${BENCH_DATA:-/var/tmp/wharf-bench}
REV=${1:-HEAD}
SCENARIOS=${SCENARIOS:-hot uniform zipf zipf@128}
RUN=/tmp/wharf-bench-run/compare
rm -rf "$RUN" && mkdir -p "$RUN/before-src"
[ -s "$BENCH_DATA/wharf/wharf.db" ] || { echo "no seeded database: run bench/run.sh once" >&2; exit 1; }

git archive "$REV" | tar -x -C "$RUN/before-src"
(cd "$RUN/before-src" && go build -o "$RUN/wharf-before" ./cmd/wharf)
go build -o "$RUN/wharf-after" ./cmd/wharf

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

declare -A URL PID
start_wharf() { # label
  local log=$RUN/$1.log
  taskset -c 0 "$RUN/wharf-$1" serve --data-dir "$BENCH_DATA/wharf" --listen 127.0.0.1:0 > "$log" 2>&1 &
  PID[$1]=$!; pids+=("$!")
  # The structured "listening" record carries the address the server listens on (the greeting names the site's).
  for _ in $(seq 100); do grep -q '"msg":"listening"' "$log" && break; sleep 0.2; done
  URL[$1]=http://$(grep -o '"addr":"[0-9.:]*"' "$log" | head -1 | cut -d'"' -f4)/simple/
}
out=$("$SHARED/run-nginx.sh" "$BENCH_DATA/static")
URL[nginx]=$(sed -n 's/^URL=//p' <<<"$out"); PID[nginx]=$(sed -n 's/^PID=//p' <<<"$out"); pids+=("${PID[nginx]}")
start_wharf before
start_wharf after
sleep 3 # the roots are built in the background at start

rows=$RUN/rows.md
echo "| server | scenario | conns | rps (median) | rps min–max | p50 ms | p99 ms | MB/s | errors |" | tee "$rows"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|" | tee -a "$rows"
for sc in $SCENARIOS; do
  for label in nginx before after; do
    SCENARIOS=$sc NO_HEADER=1 RESULTS_DIR=$RUN/results/$label "$SHARED/simple-load.sh" "${URL[$label]}" "$label" |
      grep '^|' | tee -a "$rows"
  done
done
echo
for label in before after; do
  printf -- '- wharf %s: %s, %s\n' "$label" "$(grep VmHWM /proc/${PID[$label]}/status | tr -s ' \t' ' ')" \
    "$(grep VmRSS /proc/${PID[$label]}/status | tr -s ' \t' ' ')"
done
echo
python3 - "$rows" <<'EOF'
import sys
rps = {}
for line in open(sys.argv[1]):
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if len(cells) < 4 or not cells[3].replace(',', '').replace('.', '').isdigit():
        continue
    rps[(cells[0], cells[1] + '@' + cells[2])] = float(cells[3].replace(',', ''))
print("| scenario | nginx | before | ratio | after | ratio |")
print("|---|---:|---:|---:|---:|---:|")
for sc in dict.fromkeys(k[1] for k in rps):
    n, b, a = (rps.get((l, sc)) for l in ("nginx", "before", "after"))
    if n and b and a:
        print(f"| {sc} | {n:,.0f} | {b:,.0f} | {b / n:.2f} | {a:,.0f} | {a / n:.2f} |")
EOF
