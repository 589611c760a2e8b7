#!/usr/bin/env bash
# CSV import and export at scale on PostgreSQL, each against the database's own floor,
# measured in the same run:
#   export: `credit-gateway export` of every invoice   vs  COPY (SELECT …) TO STDOUT
#   import: `credit-gateway import` marking the unpaid  vs  COPY into a temp table
#           invoices Paid                                    + one UPDATE … FROM it
# Usage: benches/csv.sh [INVOICES] (default 1000000). Needs PostgreSQL on 127.0.0.1:5432
# (user postgres, trust auth), psql and GNU time. Prints one line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=cg_bench_csv
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/credit-gateway
export RUST_LOG=warn CREDIT_GATEWAY_SECRET=bench CREDIT_GATEWAY_IMPORT_WAIT_SECONDS=1

psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
echo "seeding $N invoices…" >&2
DATABASE_URL="$PG/$DB" "$BIN" seed --accounts $((N / 10)) --orders "$N" --invoices "$N" 2>/dev/null
psql -q "$PG/$DB" -c "VACUUM ANALYZE"

# Runs a command under GNU time; prints "LABEL seconds peak_rss_mib".
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@"
  read -r secs kib < "$WORK/time"
  printf '%-14s %8.2f s  %7.1f MiB peak\n' "$label" "$secs" "$(echo "$kib / 1024" | bc -l)"
}

measure export env DATABASE_URL="$PG/$DB" "$BIN" export --output "$WORK/all.csv"
measure copy-export sh -c "psql -q '$PG/$DB' -c \"COPY (SELECT id, friendly_id, account_id, order_id, installment, value_units, currency, due_date, status, payment_link, observation, version FROM invoices ORDER BY due_date, id) TO STDOUT WITH (FORMAT csv, HEADER)\" > '$WORK/copy.csv'"
echo "rows exported: $(($(wc -l < "$WORK/all.csv") - 1))"

# The spreadsheet step: every unpaid invoice becomes Paid. Text cells are quoted in the
# export (the seeded store has no comma inside a cell, so splitting on commas is safe).
awk -F, 'BEGIN { OFS = "," } NR > 1 && ($9 == "\"Open\"" || $9 == "\"Overdue\"") { $9 = "\"Paid\"" } { print }' \
  "$WORK/all.csv" > "$WORK/paid.csv"
awk -F, 'NR > 1 && $9 == "\"Paid\"" { gsub(/"/, "", $1); print $1 }' "$WORK/paid.csv" | tr -d '\r' > "$WORK/ids.txt"
echo "rows marked paid (or paid already): $(wc -l < "$WORK/ids.txt")"

# The floor runs on an identical copy, taken before the import changes anything.
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS ${DB}_floor WITH (FORCE)" -c "CREATE DATABASE ${DB}_floor TEMPLATE $DB"

measure import env DATABASE_URL="$PG/$DB" "$BIN" import "$WORK/paid.csv"
measure copy-update psql -q "$PG/${DB}_floor" -v ON_ERROR_STOP=1 \
  -c "BEGIN" \
  -c "CREATE TEMP TABLE paid (id text PRIMARY KEY)" \
  -c "\\copy paid FROM '$WORK/ids.txt'" \
  -c "UPDATE invoices i SET status = 'PAID', resolved_at = now(), updated_at = now(), version = i.version + 1 FROM paid WHERE i.id = paid.id AND i.status <> 'PAID'" \
  -c "COMMIT"

psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS ${DB}_floor WITH (FORCE)"
