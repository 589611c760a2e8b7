#!/usr/bin/env bash
# The reference read against the database's own ceiling, measured in the same run:
#
#   "the first 50 Open invoices by due date, each with value, due date, status, payment
#    link, order ID, its account (id, name, email, credit limit) and its order (id,
#    value, created)"
#
# 1. builds the release binary; makes sure the benchmark database holds the seeded store
#    (seeds it when it does not: about 1.5 minutes on PostgreSQL at the default scale);
# 2. start-up: starts the gateway on the existing database STARTS times and reports the
#    time until /readyz answers, and its resident memory after 2 s idle;
# 3. captures the SQL statements the gateway runs for the reference read at page sizes
#    10, 50 and 100 from its own statement log (`RUST_LOG=credit_gateway::sql=debug`,
#    real parameter values) and prints them;
# 4. RUNS times: wrk, CONNS connections for DURATION seconds against the gateway, then
#    (PostgreSQL) pgbench replaying the captured statements of one request (custom
#    script, -M prepared, CONNS clients, same duration). Prints req/s, p50, p99, the
#    gateway's own CPU time per request (user + system, from /proc, over the wrk run),
#    and gateway / ceiling.
#
# Usage: benches/reference.sh [postgres|sqlite]   (default postgres)
#   env: RUNS=3 DURATION=20 CONNS=32 STARTS=5 INVOICES=1000000 (seed scale; accounts and
#        orders follow the seed's defaults: INVOICES/10 and INVOICES)
#        PG=postgres://postgres@127.0.0.1:5432 DB=cg_perf_ref  SQLITE=target/bench/reference-N.db
#        SSLMODE=disable: the gateway and pgbench both connect with this sslmode (on
#        loopback, TLS only adds cost to both; `prefer`, the drivers' default, measures it)
#        SMOKE=1: 2,000 invoices, 1 run of 2 s, 1 start (proves the harness works, ~1 min
#        with a warm build)
# Needs: PostgreSQL on 127.0.0.1:5432 (user postgres, trust), psql, pgbench, wrk, jq, curl
# (installed with apt-get when missing and running as root). Loopback only; bounded:
# RUNS * (2 * DURATION + 6) seconds plus the seeding.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=${1:-postgres}
if [[ -n "${SMOKE:-}" ]]; then
  RUNS=${RUNS:-1} DURATION=${DURATION:-2} STARTS=${STARTS:-1} INVOICES=${INVOICES:-2000}
  DB=${DB:-cg_perf_smoke}
fi
RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
CONNS=${CONNS:-32}
STARTS=${STARTS:-5}
INVOICES=${INVOICES:-1000000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
SSLMODE=${SSLMODE:-disable}
DB=${DB:-cg_perf_ref}
TARGET=${CARGO_TARGET_DIR:-target}
SQLITE=${SQLITE:-$TARGET/bench/reference-$INVOICES.db}
PORT=${PORT:-18777}
BIN=$TARGET/release/credit-gateway
URL=http://127.0.0.1:$PORT

need() {
  local missing=()
  for tool in psql pgbench wrk jq curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  ((${#missing[@]} == 0)) && return
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq && apt-get install -y -qq wrk jq curl postgresql-client >/dev/null
  else
    echo "missing: ${missing[*]}; install them (Debian: apt-get install wrk jq curl postgresql-client)" >&2
    exit 1
  fi
}
need

WORK=$(mktemp -d)
GW_PID=
stop_gateway() {
  if [[ -n "$GW_PID" ]]; then kill "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true; fi
  GW_PID=
}
trap 'stop_gateway; rm -rf "$WORK"' EXIT

cargo build --release --quiet

export CREDIT_GATEWAY_SECRET=bench-reference NO_COLOR=1
# The seeded data must stay as seeded: no sweeper persisting overdue invoices.
export CREDIT_GATEWAY_SWEEPER=false
# One token sends every request: a load test, not a caller to throttle.
export CREDIT_GATEWAY_THROTTLE_CAPACITY=0
case $BACKEND in
  postgres)
    export DATABASE_URL=$PG/$DB?sslmode=$SSLMODE
    seeded=$(psql -qAt "$DATABASE_URL" -c "SELECT count(*) FROM invoices" 2>/dev/null || echo 0)
    if [[ "$seeded" != "$INVOICES" ]]; then
      echo "seeding $INVOICES invoices into $DB…" >&2
      psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
      RUST_LOG=warn "$BIN" seed --accounts $((INVOICES / 10)) --orders "$INVOICES" --invoices "$INVOICES" 2>/dev/null
      psql -q "$DATABASE_URL" -c "VACUUM ANALYZE"
    fi
    ;;
  sqlite)
    mkdir -p "$(dirname "$SQLITE")"
    export DATABASE_URL="sqlite://$SQLITE?mode=rwc"
    if [[ ! -f "$SQLITE.done" ]]; then
      echo "seeding $INVOICES invoices into $SQLITE…" >&2
      rm -f "$SQLITE" "$SQLITE-wal" "$SQLITE-shm"
      RUST_LOG=warn "$BIN" seed --accounts $((INVOICES / 10)) --orders "$INVOICES" --invoices "$INVOICES" 2>/dev/null
      touch "$SQLITE.done"
    fi
    ;;
  *) echo "usage: $0 [postgres|sqlite]" >&2; exit 2 ;;
esac
TOKEN=$("$BIN" token --admin)

query() { # page size → request body
  jq -cn --argjson n "$1" '{query: "query Reference($first: Int!) { invoices(status: OPEN, first: $first) { nodes { value dueDate status paymentLink orderId account { id name email creditLimit } order { id value createdAt } } } }", variables: {first: $n}}'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# CPU time the process has used (user + system), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Starts the gateway with RUST_LOG=$1; sets READY_MS, the milliseconds until /readyz answers.
start_gateway() {
  local t0 t1
  t0=$(date +%s%N)
  RUST_LOG=$1 "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
  GW_PID=$!
  until curl -sf -o /dev/null "$URL/readyz"; do
    kill -0 "$GW_PID" 2>/dev/null || { cat "$WORK/gateway.log" >&2; exit 1; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  READY_MS=$(((t1 - t0) / 1000000))
}

post() { curl -sf "$URL/graphql" -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" -d "$1"; }

label=$BACKEND; [[ $BACKEND == postgres ]] && label+=" (sslmode=$SSLMODE)"
echo "== $label, $INVOICES invoices, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"

# --- start-up time and idle memory on the existing database
for i in $(seq 1 "$STARTS"); do
  start_gateway warn
  sleep 2
  echo "start $i: ready in $READY_MS ms, idle rss $(rss_kib "$GW_PID") KiB"
  stop_gateway
done

# --- statements per request, captured from the gateway's own statement log
start_gateway "warn,credit_gateway::sql=debug"
sql_lines() { grep -o 'credit_gateway::sql: {.*' "$WORK/gateway.log" | sed 's/^credit_gateway::sql: //'; }
for n in 10 50 100; do
  before=$(sql_lines | wc -l)
  post "$(query "$n")" >"$WORK/response-$n.json"
  sleep 0.3 # the log line of the last statement is written after the response may leave
  sql_lines | tail -n +"$((before + 1))" >"$WORK/statements-$n.jsonl"
  got=$(jq '.data.invoices.nodes | length' "$WORK/response-$n.json")
  errors=$(jq '.errors | length' "$WORK/response-$n.json")
  echo "page size $n: $got invoices, $errors errors, $(wc -l <"$WORK/statements-$n.jsonl") statements:"
  # Column lists and IN lists shortened: `SELECT [17 columns] FROM … IN ($1, …)`.
  jq -r '.sql as $s | ($s | capture("^SELECT (?<cols>.*?) FROM (?<rest>.*)$") // {cols: "", rest: $s}) as $m
    | "  SELECT [\($m.cols | split(", ") | length) columns] FROM \($m.rest | gsub("\\((\\$[0-9]+|\\?)(, (\\$[0-9]+|\\?))*\\)"; "(…)"))  [\(.params | length) params]"' \
    "$WORK/statements-$n.jsonl"
done
stop_gateway

# The ceiling's script: the page-size-50 statements, parameters as pgbench variables
# (`-M prepared` binds them as parameters, as the gateway does).
jq -r 'input_line_number as $i | .sql | gsub("\\$(?<n>[0-9]+)"; ":s\($i)p\(.n)") + ";"' \
  "$WORK/statements-50.jsonl" >"$WORK/reference.pgbench"
# A list bound as one array (`= ANY($1)`) is logged as `ARRAY ['a','b']`: pgbench binds
# text, so it gets PostgreSQL's array literal `{a,b}` (the ids hold no comma or quote).
jq -r 'input_line_number as $i | .params | to_entries[]
    | (.value | if type == "string" and startswith("ARRAY [")
        then "{" + (ltrimstr("ARRAY [") | rtrimstr("]") | gsub("\u0027"; "")) + "}"
        else . end) as $v
    | "s\($i)p\(.key + 1)=\($v)"' \
  "$WORK/statements-50.jsonl" >"$WORK/reference.vars"
mapfile -t VARS <"$WORK/reference.vars"
DEFINES=()
for v in "${VARS[@]}"; do DEFINES+=(-D "$v"); done

ms() { # wrk duration (e.g. 49.85ms, 812.00us, 1.02s) → milliseconds
  awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /us$/) v /= 1000; else if (d ~ /ms$/) v += 0; else if (d ~ /s$/) v *= 1000; printf "%.2f", v }'
}
percentile() { # file of microseconds, p → milliseconds
  sort -n "$1" | awk -v p="$2" '{ a[NR] = $1 } END { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; printf "%.2f", a[i] / 1000 }'
}

query 50 >"$WORK/body.json"
cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local f = assert(io.open(os.getenv("BODY"), "r"))
wrk.body = f:read("*a")
f:close()
EOF

# Share of the CPUs busy over one second: the runs need an otherwise idle machine, and
# each run's line says how busy it was just before.
busy() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  echo $(( 100 * (total - idle) / total ))
}

for run in $(seq 1 "$RUNS"); do
  before=$(busy)
  start_gateway warn
  # Warm-up: connections, prepared statements, PostgreSQL's caches.
  TOKEN=$TOKEN BODY=$WORK/body.json wrk -t2 -c"$CONNS" -d2s -s "$WORK/post.lua" "$URL/graphql" >/dev/null
  ticks=$(cpu_ticks "$GW_PID")
  TOKEN=$TOKEN BODY=$WORK/body.json wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$URL/graphql" >"$WORK/wrk.txt"
  ticks=$(($(cpu_ticks "$GW_PID") - ticks))
  rss=$(rss_kib "$GW_PID")
  stop_gateway
  if grep -q -e 'Non-2xx' -e 'Socket errors' "$WORK/wrk.txt"; then cat "$WORK/wrk.txt" >&2; echo "errors during the run" >&2; exit 1; fi
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.txt")
  p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")")
  p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")")
  requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
  cpu=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.2f", 1000 * t / hz / n }')
  line="run $run: gateway $rps req/s p50 $p50 ms p99 $p99 ms, $cpu ms of CPU per request (rss after $rss KiB)"
  if [[ $BACKEND == postgres ]]; then
    rm -f "$WORK"/pgbench_log.*
    (cd "$WORK" && pgbench -n -M prepared -c "$CONNS" -j 2 -T 2 "${DEFINES[@]}" -f reference.pgbench "$DATABASE_URL" >/dev/null)
    (cd "$WORK" && pgbench -n -M prepared -c "$CONNS" -j 2 -T "$DURATION" -l "${DEFINES[@]}" -f reference.pgbench "$DATABASE_URL" >pgbench.txt 2>&1) \
      || { cat "$WORK/pgbench.txt" >&2; exit 1; }
    tps=$(awk '/^tps = / { print $3 }' "$WORK/pgbench.txt")
    failed=$(awk '/^number of failed transactions:/ { print $5 }' "$WORK/pgbench.txt")
    cat "$WORK"/pgbench_log.* | awk '{ print $3 }' >"$WORK/latencies"
    line+=" | pgbench $tps tps p50 $(percentile "$WORK/latencies" 50) ms p99 $(percentile "$WORK/latencies" 99) ms (failed ${failed:-0}) | ratio $(awk -v a="$rps" -v b="$tps" 'BEGIN { printf "%.2f", a / b }')"
  fi
  echo "$line | machine busy before: $before %"
done
