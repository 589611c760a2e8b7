#!/usr/bin/env bash
# The reference read against the database's own ceiling and a peer, measured in the same
# run:
#
#   "the first 50 Open invoices by due date, each with value, due date, status, payment
#    link, order ID, its account (id, name, email, credit limit) and its order (id,
#    value, created)"
#
# 1. builds the release binary (not with SKIP_BUILD=1); makes sure the benchmark
#    database holds the seeded store (seeds it when it does not: about 1.5 minutes on
#    PostgreSQL at the default scale); (PostgreSQL, PEER=1) installs PostGraphile 4 with
#    npm into a scratch folder kept between runs, $CARGO_TARGET_DIR/bench/postgraphile-V
#    (once: later runs reuse it without asking the registry);
# 2. start-up: starts the gateway on the existing database STARTS times and reports the
#    time until /readyz answers, and its resident memory after 2 s idle;
# 3. captures the SQL statements the gateway runs for the reference read at page sizes
#    10, 50 and 100 from its own statement log (`RUST_LOG=credit_gateway::sql=debug`,
#    real parameter values) and prints them; checks the page of 50 holds 50 invoices and
#    no error, and (peer) that PostGraphile's answer to the same read does too;
# 4. RUNS times, interleaved: wrk, CONNS connections for DURATION seconds against the
#    gateway; then (PostgreSQL, PEER=1) the same wrk against the peer, PostGraphile 4
#    (one node process, NODE_ENV=production, --disable-query-log) over the same tables,
#    answering the equivalent query
#      allInvoices(condition: {status: "OPEN"}, orderBy: [DUE_DATE_ASC, ID_ASC], first: 50)
#      { nodes { valueUnits currency dueDate status paymentLink orderId
#                accountByAccountId { id name email creditLimitUnits currency }
#                orderByOrderId { id valueUnits currency createdAt } } };
#    then (PostgreSQL) pgbench replaying the captured statements of one request (custom
#    script, -M prepared, CONNS clients, same duration). Prints req/s, p50, p99, each
#    server's own CPU time per request (user + system, from /proc, over the wrk run),
#    and gateway / ceiling, peer / ceiling and gateway / peer; at the end, the median of
#    each figure over the runs (and of the per-run p99 gateway / p99 ceiling).
#
# Usage: benches/reference.sh [postgres|sqlite]   (default postgres)
#   env: RUNS=3 DURATION=20 CONNS=32 STARTS=5 INVOICES=1000000 (seed scale; accounts and
#        orders follow the seed's defaults: INVOICES/10 and INVOICES)
#        PG=postgres://postgres@127.0.0.1:5432 DB=cg_perf_ref  SQLITE=target/bench/reference-N.db
#        SSLMODE=disable: the gateway, the peer and pgbench all connect with this sslmode
#        (on loopback, TLS only adds cost to all; `prefer`, the drivers' default,
#        measures it)
#        PEER=1: PostGraphile as the peer (PostgreSQL only; PEER=0 skips it)
#        POSTGRAPHILE=4.14.1 (the exact version npm installs) PEER_PORT=PORT+1
#        SKIP_BUILD=1: use the release binary as it is (no cargo build)
#        SMOKE=1: 2,000 invoices, 1 run of 2 s, 1 start (proves the harness works, ~1 min
#        with a warm build)
# Needs: PostgreSQL on 127.0.0.1:5432 (user postgres, trust), psql, pgbench, wrk, jq, curl
# (installed with apt-get when missing and running as root), and for the peer node and
# npm (and the npm registry, the first time). Loopback only; bounded:
# RUNS * (3 * DURATION + 12) seconds plus the seeding and the peer's installation.
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
# The peer: PostGraphile 4, PostgreSQL only.
PEER=${PEER:-1}
[[ $BACKEND == postgres ]] || PEER=0
POSTGRAPHILE=${POSTGRAPHILE:-4.14.1}
PEER_DIR=$TARGET/bench/postgraphile-$POSTGRAPHILE
PEER_PORT=${PEER_PORT:-$((PORT + 1))}
PEER_URL=http://127.0.0.1:$PEER_PORT

need() {
  local missing=() tools=(psql pgbench wrk jq curl) packages=(wrk jq curl postgresql-client)
  if [[ $PEER == 1 ]]; then tools+=(node npm pgrep); packages+=(nodejs npm procps); fi
  for tool in "${tools[@]}"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  ((${#missing[@]} == 0)) && return
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq && apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    echo "missing: ${missing[*]}; install them (Debian: apt-get install ${packages[*]})" >&2
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
PEER_PID=
stop_peer() {
  if [[ -n "$PEER_PID" ]]; then kill "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; fi
  PEER_PID=
}
trap 'stop_gateway; stop_peer; rm -rf "$WORK"' EXIT

[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --release --quiet

# The peer, installed once per version into a folder of its own and reused after: a
# second run does not ask the registry.
PEER_BIN=$PEER_DIR/node_modules/.bin/postgraphile
if [[ $PEER == 1 ]]; then
  installed=$(jq -r .version "$PEER_DIR/node_modules/postgraphile/package.json" 2>/dev/null || true)
  if [[ "$installed" != "$POSTGRAPHILE" ]]; then
    echo "installing postgraphile@$POSTGRAPHILE into $PEER_DIR (npm)…" >&2
    mkdir -p "$PEER_DIR"
    npm install --prefix "$PEER_DIR" --no-audit --no-fund --loglevel=error --save-exact \
      "postgraphile@$POSTGRAPHILE" >&2
  fi
fi

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

# The same read from PostGraphile: its names for the same columns (`valueUnits` and
# `currency` are what the gateway's `value` is made of; relations by foreign key).
peer_query() {
  jq -cn '{query: "query Reference { allInvoices(condition: {status: \"OPEN\"}, orderBy: [DUE_DATE_ASC, ID_ASC], first: 50) { nodes { valueUnits currency dueDate status paymentLink orderId accountByAccountId { id name email creditLimitUnits currency } orderByOrderId { id valueUnits currency createdAt } } } }"}'
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

# Starts PostGraphile: one node process (no --cluster-workers), no query log, no GraphiQL,
# no watch, its default pool of 10 connections (the gateway's default too). Sets
# PEER_READY_MS, the milliseconds until it answers a query (it introspects the database
# first).
start_peer() {
  local t0 t1
  t0=$(date +%s%N)
  NODE_ENV=production node "$PEER_BIN" --connection "$DATABASE_URL" --schema public \
    --host 127.0.0.1 --port "$PEER_PORT" --disable-query-log --disable-graphiql \
    >"$WORK/peer.log" 2>&1 &
  PEER_PID=$!
  until curl -sf -o /dev/null "$PEER_URL/graphql" -H 'content-type: application/json' -d '{"query":"{__typename}"}'; do
    kill -0 "$PEER_PID" 2>/dev/null || { cat "$WORK/peer.log" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(date +%s%N)
  PEER_READY_MS=$(((t1 - t0) / 1000000))
  peer_alone
}
# Its CPU is read from its one process: it must not have started others.
peer_alone() {
  if pgrep -P "$PEER_PID" >/dev/null; then
    ps -o pid,ppid,args --ppid "$PEER_PID" >&2
    echo "PostGraphile started child processes: its CPU per request would miss theirs" >&2
    exit 1
  fi
}
post_peer() { curl -sf "$PEER_URL/graphql" -H 'content-type: application/json' -d "$1"; }
# Fails unless the answer in file $1 holds 50 invoices at path $2 and no error.
check_page() {
  local got errors
  got=$(jq "$2 | length" "$1")
  errors=$(jq '.errors | length' "$1")
  if [[ "$got" != 50 || "$errors" != 0 ]]; then
    jq -c . "$1" | cut -c 1-2000 >&2
    echo "$1: expected 50 invoices and no error, got $got invoices and $errors errors" >&2
    exit 1
  fi
}

label=$BACKEND; [[ $BACKEND == postgres ]] && label+=" (sslmode=$SSLMODE)"
echo "== $label, $INVOICES invoices, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
[[ $PEER == 1 ]] && echo "== peer: PostGraphile $(jq -r .version "$PEER_DIR/node_modules/postgraphile/package.json"), node $(node -v), NODE_ENV=production, one process"

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
check_page "$WORK/response-50.json" .data.invoices.nodes

if [[ $PEER == 1 ]]; then
  peer_query >"$WORK/peer-body.json"
  start_peer
  post_peer "$(cat "$WORK/peer-body.json")" >"$WORK/peer-response.json" \
    || { cat "$WORK/peer.log" >&2; echo "PostGraphile refused the query" >&2; exit 1; }
  stop_peer
  check_page "$WORK/peer-response.json" .data.allInvoices.nodes
  echo "peer: ready in $PEER_READY_MS ms, 50 invoices, 0 errors; first: $(jq -c '.data.allInvoices.nodes[0]' "$WORK/peer-response.json")"
fi

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
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
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

# wrk against the server at $1 (process $2), the body in $3, bearer token $4 (or none):
# a 2 s warm-up (connections, prepared statements, PostgreSQL's caches, the JIT), then
# the measured run. Sets RPS, P50, P99 (ms), CPU (the process's own CPU time per request,
# ms) and RSS (KiB, after the run).
load() {
  local url=$1 pid=$2 body=$3 token=$4 ticks requests
  TOKEN=$token BODY=$body wrk -t2 -c"$CONNS" -d2s -s "$WORK/post.lua" "$url" >/dev/null
  ticks=$(cpu_ticks "$pid")
  TOKEN=$token BODY=$body wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$url" >"$WORK/wrk.txt"
  ticks=$(($(cpu_ticks "$pid") - ticks))
  RSS=$(rss_kib "$pid")
  if grep -q -e 'Non-2xx' -e 'Socket errors' "$WORK/wrk.txt"; then cat "$WORK/wrk.txt" >&2; echo "errors during the run" >&2; exit 1; fi
  RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.txt")
  P50=$(ms "$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")")
  P99=$(ms "$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")")
  requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
  CPU=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.2f", 1000 * t / hz / n }')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { printf "%.2f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# "median (run 1, run 2, …)" of the named array's values, in run order.
summary() {
  local -n values=$1
  local IFS=,
  local listed="${values[*]}"
  echo "$(median "${values[@]}") (${listed//,/, })"
}

G_RPS=() G_P50=() G_P99=() G_CPU=() P_RPS=() P_P50=() P_P99=() P_CPU=()
C_TPS=() C_P50=() C_P99=() GC=() PC=() GP=() G99C=() P99C=()
for run in $(seq 1 "$RUNS"); do
  before=$(busy)
  start_gateway warn
  load "$URL/graphql" "$GW_PID" "$WORK/body.json" "$TOKEN"
  stop_gateway
  G_RPS+=("$RPS") G_P50+=("$P50") G_P99+=("$P99") G_CPU+=("$CPU")
  line="run $run: gateway $RPS req/s p50 $P50 ms p99 $P99 ms, $CPU ms of CPU per request (rss after $RSS KiB)"
  if [[ $PEER == 1 ]]; then
    start_peer
    post_peer "$(cat "$WORK/peer-body.json")" >"$WORK/peer-response.json" \
      || { cat "$WORK/peer.log" >&2; echo "PostGraphile refused the query" >&2; exit 1; }
    check_page "$WORK/peer-response.json" .data.allInvoices.nodes
    load "$PEER_URL/graphql" "$PEER_PID" "$WORK/peer-body.json" ""
    peer_alone
    stop_peer
    P_RPS+=("$RPS") P_P50+=("$P50") P_P99+=("$P99") P_CPU+=("$CPU")
    line+=" | peer $RPS req/s p50 $P50 ms p99 $P99 ms, $CPU ms of CPU per request (rss after $RSS KiB)"
  fi
  if [[ $BACKEND == postgres ]]; then
    rm -f "$WORK"/pgbench_log.*
    (cd "$WORK" && pgbench -n -M prepared -c "$CONNS" -j 2 -T 2 "${DEFINES[@]}" -f reference.pgbench "$DATABASE_URL" >/dev/null)
    (cd "$WORK" && pgbench -n -M prepared -c "$CONNS" -j 2 -T "$DURATION" -l "${DEFINES[@]}" -f reference.pgbench "$DATABASE_URL" >pgbench.txt 2>&1) \
      || { cat "$WORK/pgbench.txt" >&2; exit 1; }
    tps=$(awk '/^tps = / { print $3 }' "$WORK/pgbench.txt")
    failed=$(awk '/^number of failed transactions:/ { print $5 }' "$WORK/pgbench.txt")
    cat "$WORK"/pgbench_log.* | awk '{ print $3 }' >"$WORK/latencies"
    c50=$(percentile "$WORK/latencies" 50) c99=$(percentile "$WORK/latencies" 99)
    C_TPS+=("$tps") C_P50+=("$c50") C_P99+=("$c99")
    GC+=("$(ratio "${G_RPS[-1]}" "$tps")") G99C+=("$(ratio "${G_P99[-1]}" "$c99")")
    line+=" | pgbench $tps tps p50 $c50 ms p99 $c99 ms (failed ${failed:-0}) | gateway/ceiling ${GC[-1]}"
    if [[ $PEER == 1 ]]; then
      PC+=("$(ratio "${P_RPS[-1]}" "$tps")") GP+=("$(ratio "${G_RPS[-1]}" "${P_RPS[-1]}")") P99C+=("$(ratio "${P_P99[-1]}" "$c99")")
      line+=", peer/ceiling ${PC[-1]}, gateway/peer ${GP[-1]}"
    fi
  fi
  echo "$line | machine busy before: $before %"
done

echo "== medians of $RUNS runs (each run's value in parentheses)"
echo "gateway: $(summary G_RPS) req/s, p50 $(summary G_P50) ms, p99 $(summary G_P99) ms, $(summary G_CPU) ms of CPU per request"
if [[ $PEER == 1 ]]; then
  echo "peer: $(summary P_RPS) req/s, p50 $(summary P_P50) ms, p99 $(summary P_P99) ms, $(summary P_CPU) ms of CPU per request"
fi
if [[ $BACKEND == postgres ]]; then
  echo "ceiling: $(summary C_TPS) tps, p50 $(summary C_P50) ms, p99 $(summary C_P99) ms"
  echo "gateway/ceiling $(summary GC); p99 gateway / p99 ceiling $(summary G99C)"
  if [[ $PEER == 1 ]]; then
    echo "peer/ceiling $(summary PC); gateway/peer $(summary GP); p99 peer / p99 ceiling $(summary P99C)"
  fi
fi
