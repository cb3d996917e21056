#!/usr/bin/env bash
# Instructions per proxied request: toolgate (as shipped, audit trail to a file) runs under
# `valgrind --tool=callgrind` in front of examples/upstream, and wrk sends N requests of one
# kind; the count covers every thread of toolgate in user space (hyper's server and client,
# the request path, the audit writer), not the kernel. Unlike requests/s it does not move
# with the machine's load, so two builds compare exactly: run it on each.
#
#   bash benches/callgrind.sh [headers|json|mcp ...]   # default: all three
#   N=2000 bash benches/callgrind.sh mcp               # requests per kind (default 600)
#   BIN=/path/to/toolgate bash benches/callgrind.sh    # another build
#
# headers: GET /payments/v1/payouts/po_1 (policies/tools, ALLOW reading headers)
# json:    POST /deploy/v1/deployments (policies/tools, ALLOW reading a JSON body)
# mcp:     POST /mcp tools/call create_payout with 1 KiB arguments (policies/mcp, ALLOW)
# Prints one line per kind; the callgrind file is kept in target/callgrind-KIND.out for
# callgrind_annotate. Needs valgrind, wrk and curl. Never run by CI. Traffic goes to
# 127.0.0.1 only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=benches/toolgate-config.sh
. benches/toolgate-config.sh
N=${N:-600}
KINDS=("$@")
[ ${#KINDS[@]} -gt 0 ] || KINDS=(headers json mcp)
for tool in valgrind wrk curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin toolgate --example upstream
  BIN=$ROOT/target/release/toolgate
else
  cargo build --release --quiet --example upstream
fi
UP_PORT=18180 TG_PORT=18100 TG_ADMIN=18190

run_kind() {
  local kind=$1 bundle=tools tmp vg up out total reqs
  [ "$kind" = mcp ] && bundle=mcp
  tmp=$(mktemp -d /tmp/toolgate-callgrind.XXXXXX)
  "$ROOT/target/release/examples/upstream" "127.0.0.1:$UP_PORT" 2>/dev/null &
  up=$!
  mkdir -p "$tmp/bundle" "$tmp/audit"
  cp -r "$ROOT/policies/$bundle/." "$tmp/bundle/"
  toolgate_config $TG_PORT $TG_ADMIN $UP_PORT "$tmp/bundle" "$tmp/audit/audit.jsonl" >"$tmp/toolgate.yaml"
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" --instr-atstart=no \
    "$BIN" serve --config "$tmp/toolgate.yaml" >/dev/null 2>"$tmp/valgrind.log" &
  vg=$!
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$TG_ADMIN/healthz" && break
    sleep 0.3
  done
  script "$kind" >"$tmp/request.lua"
  # Warm: connections pooled, first-use allocations made, before counting starts.
  wrk -t1 -c4 -d1s -s "$tmp/request.lua" "http://127.0.0.1:$TG_PORT/" >/dev/null 2>&1 || true
  callgrind_control -i on "$vg" >/dev/null
  # Under valgrind toolgate answers about 50 requests/s: the duration bounds the run.
  out=$(wrk -t1 -c4 -d$((N / 30 + 10))s -s "$tmp/request.lua" "http://127.0.0.1:$TG_PORT/")
  callgrind_control -d "$vg" >/dev/null
  sleep 1
  kill -INT "$vg" 2>/dev/null || true
  kill "$up" 2>/dev/null || true
  wait "$vg" "$up" 2>/dev/null || true
  total=$(callgrind_annotate "$tmp/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  reqs=$(awk -F'[= ]' '/^requests=/ {print $2}' <<<"$out")
  grep -q 'non2xx=0$' <<<"$out" || { echo "$kind: not every answer was 2xx: $out" >&2; exit 1; }
  mkdir -p "$ROOT/target"
  cp "$tmp/cg.out.1" "$ROOT/target/callgrind-$kind.out"
  printf '%-8s %6d requests  %12d instructions  %7d per request\n' \
    "$kind" "$reqs" "$total" $((total / reqs))
  rm -rf "$tmp"
}

# A wrk script sending N requests of one kind, then printing how many were answered.
script() {
  local approved_at head pad args
  case $1 in
  headers)
    cat <<'EOF'
wrk.method = "GET"
wrk.headers["x-actor"] = "agent-7"
wrk.headers["x-actor-role"] = "finance_operator"
wrk.headers["x-environment"] = "production"
wrk.headers["x-run-id"] = "run_pay_001"
local path = "/payments/v1/payouts/po_1"
EOF
    ;;
  json)
    cat <<'EOF'
wrk.method = "POST"
wrk.headers["x-actor"] = "agent-7"
wrk.headers["x-actor-role"] = "release_manager"
wrk.headers["x-environment"] = "staging"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"service":"payments","release":"2026.03.14","environment":"staging"}'
local path = "/deploy/v1/deployments"
EOF
    ;;
  mcp)
    # The same 1 KiB arguments object as benches/load.sh; the approval a minute old.
    approved_at=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)
    head='{"account":"acc-1","amount":250,"currency":"EUR","metadata":{"invoice":"INV-2026-000123","customer":"cus_7781","tags":["q1","eu","priority"],"lines":[{"sku":"A-1","qty":3},{"sku":"B-22","qty":1},{"sku":"C-333","qty":12}]},"memo":"'
    pad=$((1024 - ${#head} - 2))
    args="$head$(printf '%*s' "$pad" '' | tr ' ' 'm')\"}"
    cat <<EOF
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["x-actor"] = "agent-7"
wrk.headers["x-actor-role"] = "finance_operator"
wrk.headers["x-environment"] = "production"
wrk.headers["x-approval-status"] = "approved"
wrk.headers["x-approved-by"] = "alice@example.com"
wrk.headers["x-approved-at"] = "$approved_at"
wrk.body = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"create_payout","arguments":$args}}'
local path = "/mcp"
EOF
    ;;
  *)
    echo "unknown kind $1 (headers, json or mcp)" >&2
    exit 2
    ;;
  esac
  cat <<EOF
local sent = 0
request = function()
  sent = sent + 1
  if sent > $N then wrk.thread:stop() end
  return wrk.format(nil, path)
end
done = function(summary)
  io.write(string.format("requests=%d non2xx=%d\n", summary.requests, summary.errors.status))
end
EOF
}

for kind in "${KINDS[@]}"; do
  run_kind "$kind"
done
