#!/usr/bin/env bash
# CSV import and export at scale on PostgreSQL, each against the database's own floor,
# measured in the same run:
#   export: `credit-gateway export` of every invoice   vs  COPY (SELECT …) TO STDOUT
#   import: `credit-gateway import` marking the unpaid  vs  COPY into a temp table
#           invoices Paid                                    + one UPDATE … FROM it
#                                                       and vs  the same + one INSERT … SELECT
#                                                            of an event per changed invoice
#                                                            (the audit trail's floor)
# Usage: benches/csv.sh [INVOICES] (default 1000000); SKIP_BUILD=1 uses the release binary (or BIN=)
# as is. The seeded store is kept as cg_bench_csv_seeded_N and copied for each run
# (FRESH=1 seeds it again). Needs PostgreSQL on 127.0.0.1:5432
# (user postgres, trust auth), psql and GNU time. Prints one line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=cg_bench_csv
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --release --quiet
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/credit-gateway}
export RUST_LOG=warn CREDIT_GATEWAY_SECRET=bench CREDIT_GATEWAY_IMPORT_WAIT_SECONDS=1

# The seeded store is kept (seeding a million takes minutes) and each run works on a
# copy of it; FRESH=1 seeds it again.
SEEDED=${DB}_seeded_$N
seeded=$(psql -qAt "$PG/$SEEDED" -c "SELECT count(*) FROM invoices" 2>/dev/null || echo 0)
if [[ "$seeded" != "$N" || -n "${FRESH:-}" ]]; then
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $SEEDED WITH (FORCE)" -c "CREATE DATABASE $SEEDED"
  echo "seeding $N invoices…" >&2
  DATABASE_URL="$PG/$SEEDED" "$BIN" seed --accounts $((N / 10)) --orders "$N" --invoices "$N" 2>/dev/null
  psql -q "$PG/$SEEDED" -c "VACUUM ANALYZE"
fi
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB TEMPLATE $SEEDED"
psql -q "$PG/$DB" -c "VACUUM ANALYZE"

declare -A SECS
# Runs a command under GNU time; prints "LABEL seconds peak_rss_mib".
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@"
  read -r secs kib < "$WORK/time"
  SECS[$label]=$secs
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

# The floors run on identical copies, taken before the import changes anything.
for floor in floor events_floor; do
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS ${DB}_$floor WITH (FORCE)" -c "CREATE DATABASE ${DB}_$floor TEMPLATE $DB"
done

measure import env DATABASE_URL="$PG/$DB" "$BIN" import "$WORK/paid.csv"
measure copy-update psql -q "$PG/${DB}_floor" -v ON_ERROR_STOP=1 \
  -c "BEGIN" \
  -c "CREATE TEMP TABLE paid (id text PRIMARY KEY)" \
  -c "\\copy paid FROM '$WORK/ids.txt'" \
  -c "UPDATE invoices i SET status = 'PAID', resolved_at = now(), updated_at = now(), version = i.version + 1 FROM paid WHERE i.id = paid.id AND i.status <> 'PAID'" \
  -c "COMMIT"

# The audit trail's floor: what any import that records its changes must do at least,
# in one transaction: the ids in by COPY, one event row per invoice that changes (with
# the status it leaves, read before the update), and the one UPDATE.
measure copy-update-events psql -q "$PG/${DB}_events_floor" -v ON_ERROR_STOP=1 \
  -c "BEGIN" \
  -c "CREATE TEMP TABLE paid (id text PRIMARY KEY)" \
  -c "\\copy paid FROM '$WORK/ids.txt'" \
  -c "INSERT INTO invoice_events (invoice_id, status_from, status_to, actor, source, occurred_at) SELECT i.id, i.status, 'PAID', 'floor', 'CSV_IMPORT', now() FROM invoices i JOIN paid USING (id) WHERE i.status <> 'PAID' ORDER BY i.id" \
  -c "UPDATE invoices i SET status = 'PAID', resolved_at = now(), updated_at = now(), version = i.version + 1 FROM paid WHERE i.id = paid.id AND i.status <> 'PAID'" \
  -c "COMMIT"
changed=$(psql -qAt "$PG/${DB}_events_floor" -c "SELECT count(*) FROM invoice_events WHERE actor = 'floor'")
echo "events written by the audit trail's floor: $changed"
ratio() { awk -v a="${SECS[$1]}" -v b="${SECS[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
echo "ratios: export/copy-export $(ratio export copy-export), import/copy-update $(ratio import copy-update), import/copy-update-events $(ratio import copy-update-events)"

for floor in floor events_floor; do
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS ${DB}_$floor WITH (FORCE)"
done
