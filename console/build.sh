#!/usr/bin/env bash
# Builds the browser console (/console and /my-credits) into ../src/http/console/.
#
# Why: the gateway embeds index.html, app.js and app.css with include_bytes! /
# include_str! and serves them itself, so it needs no Node.js at run time and works
# offline. The output is committed, like a lock file; CI reruns this script and fails
# if the result differs, so the build must stay deterministic (pinned versions in
# package-lock.json, no hashes or timestamps in the output).
#
# Rerun it after changing anything under src/, a dependency, or ../schema.graphql
# (the typed operations in src/gql/ are regenerated from it, and a schema change
# that breaks an operation fails here).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

npm ci --no-audit --no-fund
npm run build

echo "Console assets written to $here/../src/http/console:"
ls -l ../src/http/console
echo "app.js gzipped: $(gzip -9 -c ../src/http/console/app.js | wc -c) bytes"
