#!/usr/bin/env bash
# Soak: SECONDS of mixed load against one release gateway, its memory and descriptors
# sampled every second (issue 14: "both stay flat, every healthy request is answered").
#
# 1. builds the release binary (`cargo build --release --locked`; BIN=path skips it);
#    seeds a small store (ACCOUNTS=1000 accounts, INVOICES=20000 orders and invoices)
#    into a scratch SQLite file, or into a fresh PostgreSQL database DB=cg_soak on
#    PG=postgres://postgres@127.0.0.1:5432 (trust auth), dropped at the end;
# 2. starts `credit-gateway serve` on 127.0.0.1 (sweeper off, throttling off, header
#    timeout 10 s, body timeout 30 s, RUST_LOG=warn) and mints an admin token and the
#    token of the customer with the most open invoices;
# 3. runs benches/soak.py, one Python 3 process (standard library only), for SECONDS:
#      queries     4 admin + 2 customer loops, 5 a second each: `invoices(first: 50,
#                  status: OPEN) { totalCount nodes { id value dueDate account { name }
#                  order { id } } }`
#      mutations   2 loops, 4 a second each: `setPaymentLink`, `changeInvoice`
#                  (observation) on random open invoices; and 4 invoices paid and
#                  reopened in turn every 2 s (the status changes subscribers hear)
#      subscribers 20 WebSockets (graphql-transport-ws, 4 of them the customer's) on
#                  `invoiceStatusChanged` from a cursor read before the load; each must
#                  hear every acknowledged change once
#      import      at 3 s and then every 60 s: GET /export/invoices.csv?status=OPEN, and
#                  the file back through the multipart `importInvoicesCsv` (a dry run two
#                  times out of three; otherwise applied, with a note on every row)
#      hostile     200 connections held all the time: 100 idle, 50 sending their headers
#                  a byte every 5 s, 50 sending their body a byte every 5 s; each one the
#                  server closes is opened again
#    and records the gateway's VmRSS and open descriptors (/proc/PID) every second;
# 4. prints RSS and descriptors (first minute, last minute, whole run, per minute),
#    healthy requests sent / ok / failed with latencies, subscription events, imports,
#    hostile connections closed by the server, the gateway's warnings, and the command.
#
# Exits non-zero if any healthy request failed (transport error, timeout, non-2xx,
# GraphQL errors, unexpected userErrors), a subscriber missed or repeated a change, or
# the gateway died. Short runs work (`benches/soak.sh sqlite 20` in about a minute with
# a warm build); KEEP=1 keeps the scratch directory (kept anyway on failure), with the
# samples (samples.csv) and the gateway's log. Load knobs (see soak.py): QUERY_RATE,
# MUTATION_RATE, SUBSCRIBERS, HOSTILE, IMPORT_EVERY, REQUEST_TIMEOUT, …
#
# Usage: benches/soak.sh [sqlite|postgres] [SECONDS]   (default: sqlite 600)
# Needs: python3 (3.8+), psql for postgres. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

# The command, as it can be typed again (the settings given in the environment too).
COMMAND="benches/soak.sh${*:+ $*}"
for var in BIN PG DB ACCOUNTS INVOICES PORT ADMIN_QUERY_LOOPS CUSTOMER_QUERY_LOOPS QUERY_RATE MUTATION_LOOPS \
  MUTATION_RATE FLIP_INVOICES FLIP_EVERY SUBSCRIBERS CUSTOMER_SUBSCRIBERS IMPORT_EVERY IMPORT_FIRST_AT HOSTILE \
  TRICKLE REQUEST_TIMEOUT REUSE_IDLE DRAIN; do
  [[ -n "${!var:-}" ]] && COMMAND="$var=${!var} $COMMAND"
done

BACKEND=${1:-sqlite}
DURATION=${2:-600}
ACCOUNTS=${ACCOUNTS:-1000}
INVOICES=${INVOICES:-20000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=${DB:-cg_soak}
TARGET=${CARGO_TARGET_DIR:-target}

case $BACKEND in sqlite | postgres) ;; *) echo "usage: $0 [sqlite|postgres] [SECONDS]" >&2; exit 2 ;; esac
[[ $DURATION =~ ^[0-9]+$ ]] && ((DURATION >= 5)) || { echo "SECONDS must be a number, at least 5" >&2; exit 2; }

command -v python3 >/dev/null || { echo "missing: python3" >&2; exit 1; }
[[ $BACKEND == postgres ]] && { command -v psql >/dev/null || { echo "missing: psql" >&2; exit 1; }; }

WORK=$(mktemp -d -t cg-soak.XXXXXX)
GW_PID=
stop_gateway() {
  if [[ -n "$GW_PID" ]]; then kill "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true; fi
  GW_PID=
}
cleanup() {
  local rc=$?
  stop_gateway
  if [[ $BACKEND == postgres ]]; then
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ $rc != 0 || -n "${KEEP:-}" ]]; then
    echo "scratch directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

if [[ -z "${BIN:-}" ]]; then
  cargo build --release --locked --quiet
  BIN=$TARGET/release/credit-gateway
fi
[[ -x "$BIN" ]] || { echo "no gateway binary at $BIN" >&2; exit 1; }
export PGOPTIONS="-c client_min_messages=warning"

export NO_COLOR=1 RUST_LOG=warn
export CREDIT_GATEWAY_SECRET=soak-$$-$RANDOM
# The seeded data stays as seeded: no sweeper persisting overdue invoices.
export CREDIT_GATEWAY_SWEEPER=false
# A load test, not callers to throttle.
export CREDIT_GATEWAY_THROTTLE_CAPACITY=0
# The defaults, written down: what the hostile connections run into.
export CREDIT_GATEWAY_HEADER_TIMEOUT=10 CREDIT_GATEWAY_BODY_TIMEOUT=30

case $BACKEND in
  postgres)
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
    export DATABASE_URL=$PG/$DB
    ;;
  sqlite)
    export DATABASE_URL="sqlite://$WORK/soak.db?mode=rwc"
    ;;
esac

echo "== soak, $BACKEND, $DURATION s, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
  "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')," \
  "binary $BIN of $(date -r "$BIN" '+%Y-%m-%d %H:%M')"
echo "seeding $ACCOUNTS accounts, $INVOICES orders and invoices…" >&2
"$BIN" seed --accounts "$ACCOUNTS" --orders "$INVOICES" --invoices "$INVOICES" 2>"$WORK/seed.log" \
  || { cat "$WORK/seed.log" >&2; exit 1; }
[[ $BACKEND == postgres ]] && psql -q "$DATABASE_URL" -c "VACUUM ANALYZE"

# The open invoices, to pick mutation targets and the customer (the account with most).
"$BIN" export --status open --output "$WORK/open.csv"
ACCOUNT=$(python3 -c 'import collections, csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8-sig")))
print(collections.Counter(r["Account ID"] for r in rows).most_common(1)[0][0])' "$WORK/open.csv")
ADMIN_TOKEN=$("$BIN" token --admin)
CUSTOMER_TOKEN=$("$BIN" token --account "$ACCOUNT")
echo "open invoices: $(($(wc -l <"$WORK/open.csv") - 1)); customer: $ACCOUNT ($(grep -c "\"$ACCOUNT\"" "$WORK/open.csv") open)"

PORT=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
"$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
GW_PID=$!
ready() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; }
for _ in $(seq 1 300); do
  ready "http://127.0.0.1:$PORT/readyz" && break
  kill -0 "$GW_PID" 2>/dev/null || { cat "$WORK/gateway.log" >&2; echo "the gateway did not start" >&2; exit 1; }
  sleep 0.1
done
ready "http://127.0.0.1:$PORT/readyz" || { echo "the gateway is not ready after 30 s" >&2; exit 1; }
echo "gateway pid $GW_PID on 127.0.0.1:$PORT; descriptor limit $(awk '/Max open files/ { print $4 }' "/proc/$GW_PID/limits")"

rc=0
python3 benches/soak.py --port "$PORT" --pid "$GW_PID" --duration "$DURATION" \
  --admin-token "$ADMIN_TOKEN" --customer-token "$CUSTOMER_TOKEN" --customer-account "$ACCOUNT" \
  --open-csv "$WORK/open.csv" --samples "$WORK/samples.csv" || rc=$?

if kill -0 "$GW_PID" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$GW_PID/stat" 2>/dev/null) != Z ]]; then
  # A clean stop: SIGINT (`serve` stops cleanly on it, not on SIGTERM), then the
  # gateway finishes what is in flight and exits.
  t0=$(date +%s%N)
  kill -INT "$GW_PID"
  for _ in $(seq 1 150); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$GW_PID" 2>/dev/null; then
    echo "the gateway did not stop within 15 s of SIGINT" && rc=1
  else
    status=0; wait "$GW_PID" || status=$?
    echo "gateway stopped on SIGINT in $((($(date +%s%N) - t0) / 1000000)) ms, exit status $status"
    ((status == 0)) || rc=1
  fi
  GW_PID=
else
  status=0; wait "$GW_PID" || status=$?
  echo "THE GATEWAY DIED (exit status $status); its log: $WORK/gateway.log"
  GW_PID= rc=1
fi

warnings=$(grep -cE 'WARN|ERROR' "$WORK/gateway.log" || true)
echo "gateway log: $warnings warning or error lines$([[ $warnings != 0 ]] && echo ', by message (first 10):')"
if [[ $warnings != 0 ]]; then
  grep -E 'WARN|ERROR' "$WORK/gateway.log" | sed -E 's/^[^ ]+ +//; s/request_id=[0-9a-f]+/request_id=…/g' \
    | cut -c1-240 | sort | uniq -c | sort -rn | head -10
fi
echo "command: $COMMAND"
exit "$rc"
