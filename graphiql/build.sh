#!/usr/bin/env bash
# Vendors GraphiQL's browser assets into ../src/http/graphiql/.
#
# Why: the gateway embeds these files with include_bytes! and serves them
# itself under /graphiql/, so the GraphiQL page works with no internet access
# (no CDN). The versions are pinned in package.json / package-lock.json.
#
# Rerun this script after changing any version here. Its output is committed,
# like a lock file, so building the gateway never needs npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../src/http/graphiql"

cd "$here"
npm ci --no-audit --no-fund

mkdir -p "$out"
cp node_modules/graphiql/graphiql.min.js                 "$out/graphiql.min.js"
cp node_modules/graphiql/graphiql.min.css                "$out/graphiql.min.css"
cp node_modules/react/umd/react.production.min.js        "$out/react.production.min.js"
cp node_modules/react-dom/umd/react-dom.production.min.js "$out/react-dom.production.min.js"

echo "GraphiQL assets written to $out:"
ls -l "$out"
