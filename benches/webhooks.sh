#!/usr/bin/env bash
# Webhook delivery at volume: N invoice.created events (default 100,000, written by
# `seed` in bulk) delivered to a receiver on 127.0.0.1, timed from the start of the seed
# to the last message received, with the gateway's resident memory sampled throughout.
#
#   benches/webhooks.sh [N] [sqlite|postgres]     # needs target/release/credit-gateway
#
# The receiver (Node's HTTP server, connections kept alive) counts distinct webhook-ids and
# answers 204; the signatures are checked by the Standard Webhooks library in the test
# suite (tests/api/webhooks.rs), not here. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
backend="${2:-sqlite}"
bin="${BIN:-${CARGO_TARGET_DIR:-target}/release/credit-gateway}"
[ -x "$bin" ] || cargo build --release --locked
work="$(mktemp -d)"
secret="bench-$(date +%s%N)"
cleanup() {
  kill "${gateway:-0}" "${receiver:-0}" 2>/dev/null || true
  if [ "$backend" = postgres ]; then
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$backend" = postgres ]; then
  db="cg_bench_webhooks_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" >/dev/null
  url="postgres://postgres@127.0.0.1:5432/$db"
else
  url="sqlite://$work/bench.db?mode=rwc"
fi
export DATABASE_URL="$url" CREDIT_GATEWAY_SECRET="$secret" RUST_LOG="${RUST_LOG:-warn}"
export CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS=127.0.0.1

# The receiver: counts distinct webhook-ids into $work/count. Node's HTTP server keeps
# connections alive (Python's standard one closes each after one answer and, sharing the
# two cores, was slower than the gateway it measured).
cat > "$work/receiver.js" <<'EOF'
const http = require("http"), fs = require("fs");
const out = process.argv[2], seen = new Set();
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    seen.add(req.headers["webhook-id"]);
    if (seen.size % 1000 === 0 || seen.size < 1000) {
      fs.writeFileSync(out + ".new", String(seen.size));
      fs.renameSync(out + ".new", out);
    }
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
EOF
echo 0 > "$work/count"
node "$work/receiver.js" "$work/count" > "$work/port" &
receiver=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port="$(cat "$work/port")"

"$bin" serve --bind 127.0.0.1:0 > "$work/serve.out" 2> "${SERVE_LOG:-/dev/null}" &
gateway=$!
for _ in $(seq 100); do grep -q http:// "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
base="$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -1)"
token="$("$bin" token --admin)"
curl -sf "$base/graphql" -H 'content-type: application/json' -H "authorization: Bearer $token" \
  -d "{\"query\":\"mutation { createWebhookEndpoint(input: {url: \\\"http://127.0.0.1:$port/hook\\\", eventTypes: [\\\"invoice.created\\\"]}) { userErrors { message } } }\"}" \
  > /dev/null
rss() { awk '/VmRSS/ {print $2}' "/proc/$gateway/status"; }
sleep 1
idle="$(rss)"
peak="$idle"
start="$(date +%s.%N)"
"$bin" seed --accounts 1000 --orders "$n" --invoices "$n" > /dev/null 2>&1
seeded="$(date +%s.%N)"
# The receiver rewrites the count file: read it as 0 when caught mid-write.
count() { local c; c="$(cat "$work/count" 2>/dev/null)"; echo "${c:-0}"; }
while [ "$(count)" -lt "$n" ]; do
  now="$(rss)"; [ "$now" -gt "$peak" ] && peak="$now"
  if [ "$(echo "$(date +%s.%N) - $start > 900" | bc)" = 1 ]; then
    echo "timed out with $(count) of $n delivered" >&2; exit 1
  fi
  sleep 0.5
done
done_at="$(date +%s.%N)"
now="$(rss)"; [ "$now" -gt "$peak" ] && peak="$now"
printf 'webhooks (%s): %d events delivered in %.1f s (seed %.1f s of it), %.0f/s; gateway RSS idle %.1f MiB, peak %.1f MiB (+%.1f MiB)\n' \
  "$backend" "$n" "$(echo "$done_at - $start" | bc)" "$(echo "$seeded - $start" | bc)" \
  "$(echo "$n / ($done_at - $start)" | bc -l)" "$(echo "$idle / 1024" | bc -l)" \
  "$(echo "$peak / 1024" | bc -l)" "$(echo "($peak - $idle) / 1024" | bc -l)"
