#!/usr/bin/env bash
# Workbooks and the aging report at scale, on PostgreSQL or SQLite:
#   export: `credit-gateway export --format xlsx` of every invoice (time, peak memory),
#           beside the CSV export of the same rows;
#   import: the workbook read back as an import's dry run (`import --dry-run`);
#   aging:  `receivablesAging` over every invoice, through a served gateway.
# Usage: benches/xlsx.sh [INVOICES] [postgres|sqlite] (default 1000000 postgres). Needs
# psql (PostgreSQL on 127.0.0.1:5432, trust) and GNU time. One line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
BACKEND=${2:-postgres}
WORK=$(mktemp -d)
DB=cg_bench_xlsx_$$
cleanup() {
  kill "${gateway:-0}" 2>/dev/null || true
  [ "$BACKEND" = postgres ] && psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/credit-gateway}
[ -x "$BIN" ] || cargo build --release --locked --quiet
export RUST_LOG=warn CREDIT_GATEWAY_SECRET=bench CREDIT_GATEWAY_IMPORT_MAX_ROWS=$((N + 1))
export CREDIT_GATEWAY_IMPORT_MAX_BYTES=$((1024 * 1024 * 1024)) CREDIT_GATEWAY_WEBHOOKS=false
if [ "$BACKEND" = postgres ]; then
  psql -q postgres://postgres@127.0.0.1:5432/postgres -c "CREATE DATABASE $DB"
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
else
  export DATABASE_URL="sqlite://$WORK/bench.db?mode=rwc"
fi
echo "seeding $N invoices ($BACKEND)…" >&2
"$BIN" seed --accounts $((N / 10 + 1)) --orders "$N" --invoices "$N" >/dev/null 2>&1

# Runs a command under GNU time; prints "LABEL seconds peak_rss_mib".
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@"
  read -r secs kib < "$WORK/time"
  printf '%-16s %8.2f s  %7.1f MiB peak\n' "$label" "$secs" "$(echo "$kib / 1024" | bc -l)"
}

measure export-xlsx "$BIN" export --format xlsx --output "$WORK/all.xlsx"
measure export-csv "$BIN" export --output "$WORK/all.csv"
printf 'sizes: xlsx %s MiB, csv %s MiB\n' "$(($(stat -c %s "$WORK/all.xlsx") >> 20))" "$(($(stat -c %s "$WORK/all.csv") >> 20))"
measure import-xlsx-dry sh -c "'$BIN' import --dry-run '$WORK/all.xlsx' > '$WORK/import.out' 2>&1 || true"
tail -1 "$WORK/import.out"

"$BIN" serve --bind 127.0.0.1:0 > "$WORK/serve.out" 2>/dev/null &
gateway=$!
for _ in $(seq 100); do grep -q http:// "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
base="$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)"
token="$("$BIN" token --admin)"
query='{"query":"{ receivablesAging { currencies { currency total { count value } over90 { count } mostOverdueAccounts { accountId value } } } }"}'
for run in 1 2 3; do
  curl -s -o "$WORK/aging.json" -w "aging run $run: %{time_total} s\n" "$base/graphql" \
    -H 'content-type: application/json' -H "authorization: Bearer $token" -d "$query"
done
head -c 300 "$WORK/aging.json"; echo
