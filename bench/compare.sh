#!/usr/bin/env bash
# Before and after in one run: nginx serving the static pages, wharf built from a git revision and wharf built from
# the working tree, loaded scenario by scenario in turn, so that the noise of a shared machine falls on all three
# alike. Prints the shared bench's rows, then each wharf's median rps as a ratio to nginx's, and each wharf's peak RSS.
#
#   bench/compare.sh [REV]          (default REV: HEAD)
#
# Environment: SCENARIOS (default "hot uniform zipf zipf@128"), WARM (below), and DURATION, REPS, CONNS, WARMUP as
# for the shared simple-load.sh. BENCH_DATABASE_URL serves another seeded database (postgres://..., seeded with bench/seed) instead
# of $BENCH_DATA/wharf/wharf.db. Besides the shared bench's scenarios (hot uniform zipf zipf-gzip root-gzip
# root-identity, each with an optional @CONNS), three kinds of its own:
#   json:NAME          the simple API's mix NAME asked for as PEP 691 JSON (nginx, which cannot negotiate, serves
#                      the HTML of the same pages: the same work for a static server)
#   api:NAME           PyPI's JSON API, /pypi/PROJECT/json, over mix NAME (nginx serves the same bytes as files)
#   api-release:NAME   the same for /pypi/PROJECT/1.1/json
# The JSON API's files and mixes are written by bench/apidocs on first use (hot, zipf, and uniform over the projects
# of the Zipf mix). Needs what bench/run.sh needs; the servers' logs and builds go to /tmp/wharf-bench-run/compare.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
export BENCH_DATA=${BENCH_DATA:-/var/tmp/wharf-bench}
REV=${1:-HEAD}
SCENARIOS=${SCENARIOS:-hot uniform zipf zipf@128}
RUN=/tmp/wharf-bench-run/compare
rm -rf "$RUN" && mkdir -p "$RUN/before-src"
DATABASE_URL=${BENCH_DATABASE_URL:-sqlite:$BENCH_DATA/wharf/wharf.db}
[[ $DATABASE_URL != sqlite:* ]] || [ -s "${DATABASE_URL#sqlite:}" ] ||
  { echo "no seeded database: run bench/run.sh once" >&2; exit 1; }

git archive "$REV" | tar -x -C "$RUN/before-src"
(cd "$RUN/before-src" && go build -o "$RUN/wharf-before" ./cmd/wharf)
go build -o "$RUN/wharf-after" ./cmd/wharf

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

declare -A URL PID
start_wharf() { # label
  local log=$RUN/$1.log
  # Each server has its own data folder, for the index root's files it writes there at start (and clears first); the
  # database is the seeded one, or BENCH_DATABASE_URL's.
  mkdir -p "$RUN/data-$1"
  taskset -c 0 "$RUN/wharf-$1" serve --data-dir "$RUN/data-$1" --database-url "$DATABASE_URL" --listen 127.0.0.1:0 \
    > "$log" 2>&1 &
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
# A build that fills its page log at start is measured after the fill, and after its writes reached the disk: the
# state of a server that has run for a while, as nginx's files are.
for label in before after; do
  grep -q "page log filled" "$RUN/wharf-$label" || continue
  for _ in $(seq 600); do grep -q '"msg":"simple index: page log filled"' "$RUN/$label.log" && break; sleep 1; done
done
sync

if [[ " $SCENARIOS " == *" api"* ]] && [ ! -s "$BENCH_DATA/static/paths-api/zipf.txt" ]; then
  go run ./bench/apidocs -database-url "$DATABASE_URL" -static "$BENCH_DATA/static"
fi

# json_load LABEL NAME CONNS: the simple-API mix NAME with PEP 691's Accept header, run and summarised as the shared
# simple-load.sh does its scenarios (it has no way to add a header to a mix of pages).
json_load() {
  local label=$1 name=$2 c=$3 dir=$RUN/results/$1 hdr=() r
  [ "$label" = nginx ] || hdr=(-H "Accept: application/vnd.pypi.simple.v1+json")
  mkdir -p "$dir"
  run() {
    timeout $(($2 + 30)) taskset -c "${CLIENT_CPU:-1}" wrk -t1 -c"$c" -d"$2"s --timeout 10s "${hdr[@]}" \
      -s "$SHARED/random-paths.lua" "${URL[$label]}" -- "$BENCH_DATA/static/paths/$name.txt" /simple/ > "$1" 2>&1 || true
  }
  run /dev/null "${WARMUP:-2}"
  for r in $(seq "${REPS:-3}"); do run "$dir/json-$name-c$c-r$r.txt" "${DURATION:-15}"; done
  python3 - "$label" "json-$name" "$c" "$dir" "${REPS:-3}" <<'PY'
import json, statistics as st, sys
label, name, c, d, reps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
runs = [json.loads(l[5:]) for r in range(1, reps + 1) for l in open(f"{d}/{name}-c{c}-r{r}.txt") if l.startswith("JSON ")]
if not runs:
    print(f"| {label} | {name} | {c} | FAILED (see {d}) | | | | | |"); sys.exit()
rps = [x["rps"] for x in runs]
errs = sum(x["non2xx3xx"] + x["err_connect"] + x["err_read"] + x["err_write"] + x["err_timeout"] for x in runs)
med = lambda k: st.median(x[k] for x in runs)
fmt = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"
print(f"| {label} | {name} | {c} | {fmt(st.median(rps))} | {fmt(min(rps))}–{fmt(max(rps))} | "
      f"{med('p50_ms'):.2f} | {med('p99_ms'):.2f} | {med('mb_s'):.1f} | {errs} |")
PY
}

# WARM: mixes whose every page each server is asked for once, in order, before anything is measured: the state of
# servers that have run for a while (wharf appends a page or a JSON API document to its log when it first serves it;
# nginx's files are then in the page cache). A mix of the simple API by its name; of the JSON API as api:NAME or
# api-release:NAME, as in SCENARIOS.
[ -z "${WARM:-}" ] || go build -o "$RUN/walk" ./bench/walk
for mix in ${WARM:-}; do
  paths=paths prefix=simple/ name=$mix
  case $mix in api:* | api-release:*) paths=paths-${mix%%:*} prefix=pypi/ name=${mix#*:} ;; esac
  for label in nginx before after; do
    printf '%s, warmed by %s: ' "$label" "$mix"
    taskset -c "${CLIENT_CPU:-1}" "$RUN/walk" -base "${URL[$label]%simple/}$prefix" \
      -paths "$BENCH_DATA/static/$paths/$name.txt"
  done
done

rows=$RUN/rows.md
echo "| server | scenario | conns | rps (median) | rps min–max | p50 ms | p99 ms | MB/s | errors |" | tee "$rows"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|" | tee -a "$rows"
for sc in $SCENARIOS; do
  kind=simple name=$sc
  case $sc in api:* | api-release:* | json:*) kind=${sc%%:*} name=${sc#*:} ;; esac
  conns=${CONNS:-32}
  [ "${name%@*}" != "$name" ] && conns=${name#*@} && name=${name%@*}
  for label in nginx before after; do
    case $kind in
      simple)
        SCENARIOS=$name@$conns NO_HEADER=1 RESULTS_DIR=$RUN/results/$label "$SHARED/simple-load.sh" "${URL[$label]}" "$label" ;;
      api | api-release)
        SCENARIOS=$name@$conns NO_HEADER=1 RESULTS_DIR=$RUN/results/$label-$kind "$SHARED/simple-load.sh" \
          "${URL[$label]%simple/}pypi/" "$label" "$BENCH_DATA/static/paths-$kind" | sed "s/^| $label | /| $label | $kind-/" ;;
      json) json_load "$label" "$name" "$conns" ;;
    esac | grep '^|' | tee -a "$rows"
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
