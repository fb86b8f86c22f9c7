#!/usr/bin/env bash
# The side-by-side benchmark of the read path: nginx serving the same pages as static files against wharf, in one
# run, with the shared scripts of ../shared/bench. Prints the markdown rows the closing notes quote.
#
#   bench/run.sh [SCENARIOS...]     (default: all: load root pip)
#
# Needs: nginx wrk hyperfine twine (apt), the shared bench data (gen-static.py once, ~6 minutes, ~7 GB) and a seeded
# wharf database (bench/seed, ~3 minutes): both are made here when missing. Data lives in $BENCH_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
export BENCH_DATA=${BENCH_DATA:-/var/tmp/wharf-bench}
SCENARIOS=${*:-load root pip}
RUN=/tmp/wharf-bench-run
mkdir -p "$RUN"
for p in nginx wrk hyperfine twine; do command -v "$p" >/dev/null || { apt-get install -y -qq "$p" >/dev/null; }; done

go build -o "$RUN/wharf" ./cmd/wharf
[ -s "$BENCH_DATA/static/paths/uniform.txt" ] || python3 "$SHARED/gen-static.py"
if [ ! -s "$BENCH_DATA/wharf/wharf.db" ]; then
  go run ./bench/seed -database-url "sqlite:$BENCH_DATA/wharf/wharf.db"
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_wharf() { # data-dir -> sets WHARF_URL and WHARF_PID
  local dir=$1 log=$RUN/wharf-$(basename "$1").log
  taskset -c 0 "$RUN/wharf" serve --data-dir "$dir" --listen 127.0.0.1:0 > "$log" 2>&1 &
  WHARF_PID=$!; pids+=("$WHARF_PID")
  # The structured "listening" record carries the address the server listens on (the greeting names the site's).
  for _ in $(seq 100); do grep -q '"msg":"listening"' "$log" && break; sleep 0.2; done
  WHARF_URL=http://$(grep -o '"addr":"[0-9.:]*"' "$log" | head -1 | cut -d'"' -f4)/simple/
  sleep 3 # the root is built in the background at start
  # The page log is filled at start; measured after the fill, and after its writes reached the disk, the server is
  # in the state of one that has run for a while, as nginx's files are.
  for _ in $(seq 600); do grep -q '"msg":"simple index: page log filled"' "$log" && break; sleep 1; done
  sync
}

start_nginx() { # docroot -> sets NGINX_URL and NGINX_PID
  local out
  out=$("$SHARED/run-nginx.sh" "$1" | tee "$RUN/nginx.out")
  NGINX_URL=$(sed -n 's/^URL=//p' <<<"$out"); NGINX_PID=$(sed -n 's/^PID=//p' <<<"$out"); pids+=("$NGINX_PID")
}

if [[ " $SCENARIOS " == *" load "* || " $SCENARIOS " == *" root "* ]]; then
  start_nginx "$BENCH_DATA/static"
  start_wharf "$BENCH_DATA/wharf"
  if [[ " $SCENARIOS " == *" load "* ]]; then
    SERVER_PID=$NGINX_PID "$SHARED/simple-load.sh" "$NGINX_URL" nginx-static
    SERVER_PID=$WHARF_PID NO_HEADER=1 "$SHARED/simple-load.sh" "$WHARF_URL" wharf
  fi
  if [[ " $SCENARIOS " == *" root "* ]]; then
    "$SHARED/root-ttfb.sh" "$NGINX_URL" nginx-static
    "$SHARED/root-ttfb.sh" "$WHARF_URL" wharf
  fi
  cleanup; pids=()
fi

if [[ " $SCENARIOS " == *" pip "* ]]; then
  chain=$BENCH_DATA/chain
  if [ ! -d "$chain/wheels" ]; then
    python3 "$SHARED/make-wheels.py" chain --length 20 --out "$chain/wheels" --static "$chain/static"
  fi
  start_nginx "$chain/static"
  rm -rf "$RUN/chain-wharf"
  start_wharf "$RUN/chain-wharf"
  echo 'quiet river lantern 1234' | "$RUN/wharf" user create bench --email bench@example.com --data-dir "$RUN/chain-wharf" >/dev/null
  token=$("$RUN/wharf" token create --user bench --data-dir "$RUN/chain-wharf")
  twine upload --non-interactive --disable-progress-bar --repository-url "${WHARF_URL%simple/}legacy/" \
    -u __token__ -p "$token" "$chain"/wheels/*.whl >/dev/null
  "$SHARED/pip-install.sh" "$chain/wheels" pip-floor
  "$SHARED/pip-install.sh" "$NGINX_URL" nginx-static
  "$SHARED/pip-install.sh" "$WHARF_URL" wharf
fi
