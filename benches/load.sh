#!/usr/bin/env bash
# Side-by-side load test: the same tiny upstream reached directly, through nginx as a plain
# reverse proxy, through nginx + auth_request (the external-authorization pattern), and
# through toolgate deciding every request against the example bundle (an ALLOW route that
# reads headers, and one that reads a JSON body), and through a second toolgate deciding
# MCP `tools/call` messages POSTed to /mcp against policies/mcp (get_balance ALLOW,
# create_payout with a 1 KiB arguments object and approval headers ALLOW, delete_customer
# as a finance operator refused: HTTP 200 + JSON-RPC error, never forwarded). Prints
# requests/s, p50 and p99 (medians of interleaved repeats), the ratios toolgate/nginx,
# toolgate/auth_request and MCP/REST, a fixed-rate run's added latency (with a stateful
# row: the header route under a rate_limit counted on a local Redis, one round trip per
# request), a reload under load, and toolgate's RSS.
#
#   bash benches/load.sh                 # 3 interleaved repeats of 10 s, fixed rate, reload
#   bash benches/load.sh --quick         # 1 repeat of 5 s, shorter fixed-rate runs, no soak
#   bash benches/load.sh --soak 60       # also: 60 s closed loop, RSS sampled every 5 s
#   bash benches/load.sh --profile       # also: perf profile of toolgate under load
#
# Options: --repeat N, --duration S, --connections C, --rate R (fixed-rate req/s), --soak S.
# Pinning: the load generator on CPU 0, every server (upstream, nginx, toolgate) on CPU 1
# (override with LOAD_CPU / SERVER_CPU). Traffic goes to 127.0.0.1 only; every run is bounded.
# The MCP payout's approval (x-approved-at) is stamped once, a minute before the runs: a
# run past the bundle's 1h max_age would DEFER it, which the report flags as a WARNING.
# Needs wrk, nginx (with auth_request), curl and redis-server: installed with apt-get when
# missing.
# Never run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=benches/toolgate-config.sh
. benches/toolgate-config.sh

REPEAT=3 DURATION=10 CONNS=64 RATE=5000 RATE_DURATION=10 SOAK=0 PROFILE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) REPEAT=1 DURATION=5 RATE_DURATION=5 ;;
    --repeat) REPEAT=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --connections) CONNS=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --soak) SOAK=$2; shift ;;
    --profile) PROFILE=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}

# --- tools -------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v taskset >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -V 2>&1 | grep -q http_auth_request_module || {
  echo "nginx lacks the auth_request module" >&2
  exit 1
}

echo "== building (release): toolgate, examples/upstream, examples/loadgen"
cargo build --release --quiet --bin toolgate --example upstream --example loadgen
BIN=$ROOT/target/release

# --- servers -----------------------------------------------------------------------------
UP_PORT=18080 NGINX_PORT=18081 AUTHREQ_PORT=18082 TG_PORT=18000 TG_ADMIN=18901
TG_MCP_PORT=18002 TG_MCP_ADMIN=18902
TG_STATE_PORT=18003 TG_STATE_ADMIN=18903 REDIS_PORT=16379
TMP=$(mktemp -d /tmp/toolgate-load.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  exit 1
}

taskset -c "$SERVER_CPU" "$BIN/examples/upstream" "127.0.0.1:$UP_PORT" 2>"$TMP/upstream.log" &
UP_PID=$!
PIDS+=($UP_PID)

mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 1000000;
  upstream tool { server 127.0.0.1:$UP_PORT; keepalive 64; keepalive_requests 1000000; }
  # Plain reverse proxy: no policy at all.
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://tool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  # External authorization: every request first asks an auth endpoint (served by the same
  # upstream, answering 200 at once), then is proxied.
  server {
    listen 127.0.0.1:$AUTHREQ_PORT;
    location / {
      auth_request /auth;
      proxy_pass http://tool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location = /auth {
      internal;
      proxy_pass http://tool/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
taskset -c "$SERVER_CPU" "$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>"$TMP/nginx/stderr.log" &
NGINX_PID=$!
PIDS+=($NGINX_PID)

# toolgate as shipped (config defaults), on a copy of the example bundle (the reload test
# edits it), its audit trail (one JSON line per request) appended to a file.
# The trail lives outside the bundle's dir and its parent (both watched for reloads), as
# it would in a Pod: the bundle is a ConfigMap mount, the trail another volume.
mkdir -p "$TMP/policies" "$TMP/audit"
cp -r "$ROOT/policies/tools" "$TMP/policies/bundle"
toolgate_config $TG_PORT $TG_ADMIN $UP_PORT "$TMP/policies/bundle" "$TMP/audit/audit.jsonl" >"$TMP/toolgate.yaml"
taskset -c "$SERVER_CPU" "$BIN/toolgate" serve --config "$TMP/toolgate.yaml" >/dev/null 2>"$TMP/toolgate.log" &
TG_PID=$!
PIDS+=($TG_PID)

# A second toolgate, the same defaults, in front of the same upstream with the MCP example
# bundle (an McpServer at /mcp): the upstream answers every forwarded message at once, so
# this measures the JSON-RPC read, the decision and the forward. Its bundle copy and its
# audit trail are in dirs of their own (not beside the REST bundle the reload test edits).
mkdir -p "$TMP/mcp/policies" "$TMP/mcp/audit"
cp -r "$ROOT/policies/mcp" "$TMP/mcp/policies/bundle"
toolgate_config $TG_MCP_PORT $TG_MCP_ADMIN $UP_PORT "$TMP/mcp/policies/bundle" "$TMP/mcp/audit/audit.jsonl" \
  >"$TMP/toolgate-mcp.yaml"
taskset -c "$SERVER_CPU" "$BIN/toolgate" serve --config "$TMP/toolgate-mcp.yaml" >/dev/null 2>"$TMP/toolgate-mcp.log" &
TG_MCP_PID=$!
PIDS+=($TG_MCP_PID)

# A third toolgate: the example bundle with a counted limit on the header route
# (rate_limit:100000/10s per actor, never reached at the fixed rate, so every request pays
# one check-and-count round trip and is forwarded), its state on a local redis-server
# started here and pinned with the servers. It measures what the round trip adds.
mkdir -p "$TMP/state/policies" "$TMP/state/audit" "$TMP/state/redis"
cp -r "$ROOT/policies/tools" "$TMP/state/policies/bundle"
sed -i 's|^      path: /payments/v1/payouts/{id}$|&\n      constraints: ["rate_limit:100000/10s per actor"]|' \
  "$TMP/state/policies/bundle/routes.yaml"
grep -q 'rate_limit:100000/10s per actor' "$TMP/state/policies/bundle/routes.yaml" || {
  echo "could not add the counted limit to the stateful bundle" >&2
  exit 1
}
taskset -c "$SERVER_CPU" redis-server --bind 127.0.0.1 --port $REDIS_PORT --save "" \
  --appendonly no --dir "$TMP/state/redis" --logfile "$TMP/state/redis/redis.log" &
PIDS+=($!)
{
  toolgate_config $TG_STATE_PORT $TG_STATE_ADMIN $UP_PORT "$TMP/state/policies/bundle" \
    "$TMP/state/audit/audit.jsonl"
  printf 'state:\n  url: redis://127.0.0.1:%s/0\n' $REDIS_PORT
} >"$TMP/toolgate-state.yaml"
wait_port $REDIS_PORT
taskset -c "$SERVER_CPU" "$BIN/toolgate" serve --config "$TMP/toolgate-state.yaml" >/dev/null 2>"$TMP/toolgate-state.log" &
PIDS+=($!)

wait_port $UP_PORT
wait_port $TG_STATE_PORT
wait_port $NGINX_PORT
wait_port $AUTHREQ_PORT
wait_port $TG_PORT
wait_port $TG_MCP_PORT
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# CPU time (user + system, in clock ticks) of a process and its children processes.
ticks() {
  local total=0 p
  for p in "$@" $(pgrep -P "$1" || true); do
    # A short-lived child may be gone by now; a server that is gone fails the run below.
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $total
}
HZ=$(getconf CLK_TCK)
RSS_START=$(rss $TG_PID)
MCP_RSS_START=$(rss $TG_MCP_PID)

# --- requests ----------------------------------------------------------------------------
# Header-only ALLOW: read a payout as a finance operator.
cat >"$TMP/headers.lua" <<'EOF'
wrk.method = "GET"
wrk.path = "/payments/v1/payouts/po_1"
wrk.headers["x-actor"] = "agent-7"
wrk.headers["x-actor-role"] = "finance_operator"
wrk.headers["x-environment"] = "production"
wrk.headers["x-run-id"] = "run_pay_001"
EOF
# JSON-body ALLOW: a staging deploy by a release manager (header and body must agree).
JSON_BODY='{"service":"payments","release":"2026.03.14","environment":"staging"}'
cat >"$TMP/json.lua" <<EOF
wrk.method = "POST"
wrk.path = "/deploy/v1/deployments"
wrk.headers["x-actor"] = "agent-7"
wrk.headers["x-actor-role"] = "release_manager"
wrk.headers["x-environment"] = "staging"
wrk.headers["content-type"] = "application/json"
wrk.body = '$JSON_BODY'
EOF

# MCP tools/call messages POSTed to /mcp (policies/mcp). The approval must be at most 1h
# old by the wall clock (bundle approval.max_age): stamped a minute before the run starts.
APPROVED_AT=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)
MCP_HEADERS=(-H 'content-type: application/json' -H 'accept: application/json, text/event-stream'
  -H 'x-actor: agent-7' -H 'x-actor-role: finance_operator' -H 'x-environment: production')
MCP_APPROVAL=('x-approval-status: approved' 'x-approved-by: alice@example.com'
  "x-approved-at: $APPROVED_AT")
tools_call() {
  printf '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"%s","arguments":%s}}' "$1" "$2"
}
# A create_payout arguments object of exactly 1024 bytes: the fields the tool takes (the
# bundle reads amount), metadata, and a memo padded to the size.
KIB_ARGS_HEAD='{"account":"acc-1","amount":250,"currency":"EUR","metadata":{"invoice":"INV-2026-000123","customer":"cus_7781","tags":["q1","eu","priority"],"lines":[{"sku":"A-1","qty":3},{"sku":"B-22","qty":1},{"sku":"C-333","qty":12}]},"memo":"'
KIB_ARGS_TAIL='"}'
KIB_PAD=$((1024 - ${#KIB_ARGS_HEAD} - ${#KIB_ARGS_TAIL}))
KIB_ARGS="$KIB_ARGS_HEAD$(printf '%*s' "$KIB_PAD" '' | tr ' ' 'm')$KIB_ARGS_TAIL"
[ ${#KIB_ARGS} = 1024 ] || { echo "the 1 KiB arguments object is ${#KIB_ARGS} bytes" >&2; exit 1; }
MCP_BALANCE_BODY=$(tools_call get_balance '{"account":"acc-1"}')
MCP_PAYOUT_BODY=$(tools_call create_payout "$KIB_ARGS")
MCP_REFUSED_BODY=$(tools_call delete_customer '{"customer_id":"cus-9"}')
# One wrk script per message: its name, its body, then extra "name: value" headers.
mcp_lua() {
  local name=$1 body=$2 h
  shift 2
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.path = "/mcp"'
    echo 'wrk.headers["content-type"] = "application/json"'
    echo 'wrk.headers["accept"] = "application/json, text/event-stream"'
    echo 'wrk.headers["x-actor"] = "agent-7"'
    echo 'wrk.headers["x-actor-role"] = "finance_operator"'
    echo 'wrk.headers["x-environment"] = "production"'
    for h in "$@"; do echo "wrk.headers[\"${h%%: *}\"] = \"${h#*: }\""; done
    echo "wrk.body = '$body'"
  } >"$TMP/$name.lua"
}
mcp_lua mcp_balance "$MCP_BALANCE_BODY"
mcp_lua mcp_payout "$MCP_PAYOUT_BODY" "${MCP_APPROVAL[@]}"
mcp_lua mcp_refused "$MCP_REFUSED_BODY" "${MCP_APPROVAL[@]}"

# Check every target answers 200 to its request before measuring.
check() {
  local port=$1 kind=$2 code
  if [ "$kind" = json ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/deploy/v1/deployments" \
      -H 'x-actor: agent-7' -H 'x-actor-role: release_manager' -H 'x-environment: staging' \
      -H 'content-type: application/json' --data "$JSON_BODY")
  else
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/payments/v1/payouts/po_1" \
      -H 'x-actor: agent-7' -H 'x-actor-role: finance_operator' -H 'x-environment: production' \
      -H 'x-run-id: run_pay_001')
  fi
  [ "$code" = 200 ] || { echo "127.0.0.1:$port ($kind) answered $code, not 200" >&2; exit 1; }
}
check $UP_PORT headers; check $NGINX_PORT headers; check $AUTHREQ_PORT headers
check $TG_PORT headers; check $TG_PORT json
# The MCP sidecar's verdict for each message, once: the two calls must be ALLOW (forwarded,
# the upstream's 200) and the refused one DENY (HTTP 200 + JSON-RPC error -31403).
check_mcp() {
  local kind=$1 want=$2 body=$3 out code verdict h extra=()
  shift 3
  for h in "$@"; do extra+=(-H "$h"); done
  out=$(curl -s -D - -o "$TMP/check-$kind.body" "http://127.0.0.1:$TG_MCP_PORT/mcp" \
    "${MCP_HEADERS[@]}" "${extra[@]}" --data-binary "$body") || true
  code=$(awk 'NR == 1 {print $2}' <<<"$out")
  verdict=$(awk -F': *' 'tolower($1) == "x-toolgate-verdict" {gsub("\r", "", $2); print $2}' <<<"$out")
  if [ "$code" != 200 ] || [ "$verdict" != "$want" ]; then
    echo "MCP $kind: toolgate (policies/mcp) answered HTTP ${code:-none}, x-toolgate-verdict ${verdict:-none}; expected 200 and $want" >&2
    head -c 600 "$TMP/check-$kind.body" >&2
    echo >&2
    exit 1
  fi
  if [ "$want" = DENY ] && ! grep -q '"code": *-31403' "$TMP/check-$kind.body"; then
    echo "MCP $kind: the refusal is not a JSON-RPC error -31403:" >&2
    head -c 600 "$TMP/check-$kind.body" >&2
    echo >&2
    exit 1
  fi
}
check_mcp balance ALLOW "$MCP_BALANCE_BODY"
check_mcp payout ALLOW "$MCP_PAYOUT_BODY" "${MCP_APPROVAL[@]}"
check_mcp refused DENY "$MCP_REFUSED_BODY" "${MCP_APPROVAL[@]}"

TARGETS=(direct nginx auth_request toolgate_headers toolgate_json
  mcp_balance mcp_payout mcp_refused)
MCP_TARGETS=(mcp_balance mcp_payout mcp_refused)
declare -A PORT=([direct]=$UP_PORT [nginx]=$NGINX_PORT [auth_request]=$AUTHREQ_PORT
  [toolgate_headers]=$TG_PORT [toolgate_json]=$TG_PORT
  [mcp_balance]=$TG_MCP_PORT [mcp_payout]=$TG_MCP_PORT [mcp_refused]=$TG_MCP_PORT)
declare -A SCRIPT=([direct]=headers [nginx]=headers [auth_request]=headers
  [toolgate_headers]=headers [toolgate_json]=json
  [mcp_balance]=mcp_balance [mcp_payout]=mcp_payout [mcp_refused]=mcp_refused)
# The proxy process whose CPU time a target costs (direct: none).
declare -A PROXY=([direct]="" [nginx]=$NGINX_PID [auth_request]=$NGINX_PID
  [toolgate_headers]=$TG_PID [toolgate_json]=$TG_PID
  [mcp_balance]=$TG_MCP_PID [mcp_payout]=$TG_MCP_PID [mcp_refused]=$TG_MCP_PID)

# wrk's latency in ms ("812.00us", "1.20ms", "1.01s").
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "nan" }'
}

# One closed-loop run: prints "rps p50_ms p99_ms non2xx errors proxy_cpu_us upstream_cpu_us"
# (the last two: CPU time per request of the proxy's and the upstream's processes).
run_wrk() {
  local target=$1 secs=$2 out proxy=${PROXY[$1]}
  local p0 u0 p1 u1
  p0=$([ -n "$proxy" ] && ticks "$proxy" || echo 0)
  u0=$(ticks "$UP_PID")
  out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" --latency \
    -s "$TMP/${SCRIPT[$target]}.lua" "http://127.0.0.1:${PORT[$target]}")
  p1=$([ -n "$proxy" ] && ticks "$proxy" || echo 0)
  u1=$(ticks "$UP_PID")
  local rps p50 p99 non2xx errors n pcpu ucpu
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  pcpu=$(awk -v t=$((p1 - p0)) -v n="$n" -v hz="$HZ" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  ucpu=$(awk -v t=$((u1 - u0)) -v n="$n" -v hz="$HZ" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  echo "$rps $p50 $p99 ${non2xx:-0} ${errors:-0} $pcpu $ucpu"
}

median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "== warm-up (2 s each)"
for t in "${TARGETS[@]}"; do run_wrk "$t" 2 >/dev/null; done

echo "== closed loop: wrk -t1 -c$CONNS -d${DURATION}s, $REPEAT interleaved repeat(s)"
declare -A RESULTS
for r in $(seq 1 "$REPEAT"); do
  for t in "${TARGETS[@]}"; do
    res=$(run_wrk "$t" "$DURATION")
    RESULTS[$t]+="$res"$'\n'
    printf '  run %d %-18s %s\n' "$r" "$t" "$res"
  done
done
for p in $UP_PID $NGINX_PID $TG_PID $TG_MCP_PID; do
  kill -0 "$p" 2>/dev/null || {
    echo "server process $p died during the run" >&2
    cat "$TMP/toolgate.log" "$TMP/toolgate-mcp.log" >&2
    exit 1
  }
done
RSS_AFTER=$(rss $TG_PID)
MCP_RSS_AFTER=$(rss $TG_MCP_PID)

declare -A RPS P50 P99 BAD PCPU UCPU
for t in "${TARGETS[@]}"; do
  PCPU[$t]=$(awk 'NF {print $6}' <<<"${RESULTS[$t]}" | median)
  UCPU[$t]=$(awk 'NF {print $7}' <<<"${RESULTS[$t]}" | median)
  RPS[$t]=$(awk 'NF {print $1}' <<<"${RESULTS[$t]}" | median)
  P50[$t]=$(awk 'NF {print $2}' <<<"${RESULTS[$t]}" | median)
  P99[$t]=$(awk 'NF {print $3}' <<<"${RESULTS[$t]}" | median)
  BAD[$t]=$(awk 'NF {s += $4 + $5} END {print s + 0}' <<<"${RESULTS[$t]}")
done

# What the MCP sidecar decided and forwarded over the run, from its admin /metrics: a call
# measured as ALLOW must have been nothing else (an approval past max_age would DEFER, and
# a JSON-RPC refusal is still HTTP 200 to wrk), and the refused call never forwarded.
MCP_METRICS=$(curl -s "http://127.0.0.1:$TG_MCP_ADMIN/metrics")
# The sum of a metric's series whose labels include every `name="value"` given.
metric() {
  local name=$1
  shift
  awk -v n="$name{" -v labels="$*" 'index($0, n) == 1 {
      k = split(labels, want, " "); ok = 1
      for (i = 1; i <= k; i++) if (!index($0, want[i])) ok = 0
      if (ok) s += $NF
    } END { printf "%d", s }' <<<"$MCP_METRICS"
}
MCP_COUNTS="" MCP_WARN=()
for tv in get_balance:allow create_payout:allow delete_customer:deny; do
  tool=${tv%%:*} want=${tv#*:}
  for v in allow defer deny; do
    n=$(metric toolgate_mcp_messages_total "tool=\"$tool\"" "verdict=\"$v\"")
    [ "$v" = "$want" ] && MCP_COUNTS+=" $tool $v $n,"
    [ "$v" = "$want" ] || [ "$n" = 0 ] || MCP_WARN+=("WARNING: MCP $tool was $v $n times (expected only $want)")
  done
  fwd=$(metric toolgate_upstream_duration_seconds_count "route=\"$tool\"")
  MCP_COUNTS+=" forwarded $fwd;"
  [ "$want" = allow ] || [ "$fwd" = 0 ] || MCP_WARN+=("WARNING: MCP $tool was forwarded $fwd times")
done

# --- fixed rate --------------------------------------------------------------------------
echo "== fixed rate: examples/loadgen --rate $RATE --connections $CONNS --duration ${RATE_DURATION}s"
FIXED=(direct nginx toolgate_headers toolgate_stateful)
PORT[toolgate_stateful]=$TG_STATE_PORT
declare -A FP50 FP99
for t in "${FIXED[@]}"; do
  args=(--url "http://127.0.0.1:${PORT[$t]}/payments/v1/payouts/po_1" --rate "$RATE"
    --connections "$CONNS" --duration "$RATE_DURATION"
    -H 'x-actor: agent-7' -H 'x-actor-role: finance_operator'
    -H 'x-environment: production' -H 'x-run-id: run_pay_001')
  line=$(taskset -c "$LOAD_CPU" "$BIN/examples/loadgen" "${args[@]}")
  printf '  %-18s %s\n' "$t" "$line"
  FP50[$t]=$(grep -o 'p50_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
  FP99[$t]=$(grep -o 'p99_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
done

# --- reload under load -------------------------------------------------------------------
# The same fixed-rate load on toolgate while its bundle is swapped every second: the
# bundle's version is bumped (so the digest changes and the snapshot is really replaced)
# and POST /v1/reload on the admin listener swaps it in. Every request must still be
# answered 200, and p99 compared with the run without reloads.
echo "== reload under load: toolgate_headers at $RATE req/s, a bundle swap every second"
(
  sleep 1.5 # past loadgen's warm-up
  for i in $(seq 1 "$RATE_DURATION"); do
    sed -i "s/^  version: .*/  version: 1.0.$i/" "$TMP/policies/bundle/bundle.yaml"
    curl -s -o /dev/null -w '%{http_code}\n' -X POST "http://127.0.0.1:$TG_ADMIN/v1/reload" >>"$TMP/reloads.txt"
    sleep 1
  done
) &
RELOADER=$!
RELOAD_RUN=$(taskset -c "$LOAD_CPU" "$BIN/examples/loadgen" \
  --url "http://127.0.0.1:$TG_PORT/payments/v1/payouts/po_1" --rate "$RATE" \
  --connections "$CONNS" --duration "$RATE_DURATION" \
  -H 'x-actor: agent-7' -H 'x-actor-role: finance_operator' \
  -H 'x-environment: production' -H 'x-run-id: run_pay_001')
wait $RELOADER
SWAPS=$(grep -c '^200$' "$TMP/reloads.txt" || true)
RELOAD_LINE="$SWAPS bundle swaps (POST /v1/reload 200) during: $RELOAD_RUN"
echo "  $RELOAD_LINE"

# --- profile -----------------------------------------------------------------------------
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
  echo "== profile: perf record (cpu-clock) of toolgate under toolgate_headers load, 5 s"
  perf record -q -e cpu-clock -g -p "$TG_PID" -o "$TMP/perf.data" -- sleep 5 2>/dev/null &
  PERF=$!
  run_wrk toolgate_headers 5 >/dev/null
  wait $PERF || true
  perf report -i "$TMP/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -40 >"$ROOT/target/load-profile.txt" || true
  echo "  top symbols written to target/load-profile.txt"
fi

# --- soak --------------------------------------------------------------------------------
SOAK_LINE=""
if [ "$SOAK" -gt 0 ]; then
  echo "== soak: toolgate_headers, closed loop for ${SOAK}s, RSS every 5 s"
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${SOAK}s" -s "$TMP/headers.lua" \
    "http://127.0.0.1:$TG_PORT" >"$TMP/soak.txt" &
  WRK=$!
  samples=()
  for _ in $(seq 1 $((SOAK / 5))); do
    sleep 5
    samples+=("$(rss $TG_PID)")
  done
  wait $WRK
  SOAK_LINE="RSS over ${SOAK}s (MB, every 5 s): ${samples[*]}; $(awk '/^Requests\/sec/ {print $2 " req/s"}' "$TMP/soak.txt")"
fi
RSS_END=$(rss $TG_PID)

# --- report ------------------------------------------------------------------------------
echo
echo "toolgate load test, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))"
echo "wrk -t1 -c$CONNS -d${DURATION}s on CPU $LOAD_CPU, servers on CPU $SERVER_CPU; median of $REPEAT interleaved run(s)"
echo "CPU µs: CPU time (user + system) per request of the proxy's processes and of the upstream's"
echo
printf '| %-33s | %9s | %7s | %7s | %8s | %15s | %14s | %15s |\n' target req/s "p50 ms" "p99 ms" "x nginx" "x auth_request" "proxy CPU µs" "upstream CPU µs"
printf '| %-33s | %9s | %7s | %7s | %8s | %15s | %14s | %15s |\n' "---" "---:" "---:" "---:" "---:" "---:" "---:" "---:"
label() {
  case $1 in
    direct) echo "direct to upstream" ;;
    nginx) echo "nginx proxy_pass (no policy)" ;;
    auth_request) echo "nginx + auth_request" ;;
    toolgate_headers) echo "toolgate, ALLOW reading headers" ;;
    toolgate_json) echo "toolgate, ALLOW reading JSON body" ;;
    mcp_balance) echo "toolgate MCP get_balance ALLOW" ;;
    mcp_payout) echo "toolgate MCP payout 1 KiB ALLOW" ;;
    mcp_refused) echo "toolgate MCP delete_customer DENY" ;;
  esac
}
for t in "${TARGETS[@]}"; do
  xn=$(awk -v a="${RPS[$t]}" -v b="${RPS[nginx]}" 'BEGIN {printf "%.2fx", a / b}')
  xa=$(awk -v a="${RPS[$t]}" -v b="${RPS[auth_request]}" 'BEGIN {printf "%.2fx", a / b}')
  printf '| %-33s | %9.0f | %7.3f | %7.3f | %8s | %15s | %14s | %15s |\n' "$(label "$t")" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "$xn" "$xa" "${PCPU[$t]}" "${UCPU[$t]}"
done
echo
echo "MCP / REST: each MCP row's req/s, p50 and p99 over a REST row's (toolgate, policies/tools);"
echo "the DENY row is answered by toolgate itself (HTTP 200 + JSON-RPC error), never forwarded"
for t in "${MCP_TARGETS[@]}"; do
  for r in toolgate_headers toolgate_json; do
    awk -v t="$(label "$t")" -v r="$(label "$r")" -v a="${RPS[$t]}" -v b="${RPS[$r]}" \
      -v p="${P50[$t]}" -v q="${P50[$r]}" -v x="${P99[$t]}" -v y="${P99[$r]}" \
      'BEGIN {printf "  %-33s / %-33s req/s %.2fx  p50 %.2fx  p99 %.2fx\n", t, r, a / b, p / q, x / y}'
  done
done
echo
for t in "${TARGETS[@]}"; do
  [ "${BAD[$t]}" = 0 ] || echo "WARNING: $t had ${BAD[$t]} non-2xx responses or socket errors"
done
echo "MCP sidecar over the run (toolgate_mcp_messages_total, toolgate_upstream_duration_seconds_count):${MCP_COUNTS%;}"
for w in "${MCP_WARN[@]}"; do echo "$w"; done
echo "fixed rate ($RATE req/s, $CONNS connections, ${RATE_DURATION}s; latency from each request's due time):"
for t in "${FIXED[@]}"; do
  added=$(awk -v a="${FP50[$t]}" -v b="${FP50[direct]}" 'BEGIN {printf "%+.3f", a - b}')
  printf '  %-18s p50 %s ms  p99 %s ms  added p50 over direct %s ms\n' "$t" "${FP50[$t]}" "${FP99[$t]}" "$added"
done
awk -v a="${FP50[toolgate_stateful]}" -v b="${FP50[toolgate_headers]}" -v x="${FP99[toolgate_stateful]}" -v y="${FP99[toolgate_headers]}" \
  'BEGIN {printf "stateful (rate_limit on Redis) over stateless, fixed rate: p50 %+.3f ms (%.2fx), p99 %+.3f ms (%.2fx)\n", a - b, a / b, x - y, x / y}'
echo "stateful sidecar's round trips (toolgate_state_checks_total):$(curl -s "http://127.0.0.1:$TG_STATE_ADMIN/metrics" | awk '/^toolgate_state_checks_total/ {printf " %s %s;", $1, $2}')"
echo "toolgate RSS: ${RSS_START} MB at start, ${RSS_AFTER} MB after the closed-loop runs, ${RSS_END} MB at the end"
echo "toolgate (MCP bundle) RSS: ${MCP_RSS_START} MB at start, ${MCP_RSS_AFTER} MB after the closed-loop runs, $(rss $TG_MCP_PID) MB at the end"
[ -z "$SOAK_LINE" ] || echo "$SOAK_LINE"
echo "reload under load: $RELOAD_LINE"

# --- targets -----------------------------------------------------------------------------
# What toolgate is built to (issue 18), each judged on this run's figures alone: a ratio to
# nginx measured side by side, never a figure from another run.
echo
echo "targets (this run):"
printf '| %-52s | %-30s | %-6s |\n' target measured result
printf '| %-52s | %-30s | %-6s |\n' "---" "---" "---"
verdict() { awk -v ok="$1" 'BEGIN {print (ok ? "met" : "missed")}'; }
row() { printf '| %-52s | %-30s | %-6s |\n' "$1" "$2" "$3"; }
for t in toolgate_headers toolgate_json; do
  r=$(awk -v a="${RPS[$t]}" -v b="${RPS[nginx]}" 'BEGIN {printf "%.2f", a / b}')
  row "req/s >= 1.0x nginx proxy_pass ($t)" "${r}x" "$(verdict "$(awk -v r="$r" 'BEGIN {print (r >= 1.0)}')")"
  r=$(awk -v a="${RPS[$t]}" -v b="${RPS[auth_request]}" 'BEGIN {printf "%.2f", a / b}')
  row "req/s >= 2.5x nginx + auth_request ($t)" "${r}x" "$(verdict "$(awk -v r="$r" 'BEGIN {print (r >= 2.5)}')")"
  row "proxy CPU per request <= nginx's ($t)" "${PCPU[$t]} vs ${PCPU[nginx]} µs" "$(verdict "$(awk -v a="${PCPU[$t]}" -v b="${PCPU[nginx]}" 'BEGIN {print (a <= b)}')")"
  row "closed-loop p99 <= nginx's ($t)" "${P99[$t]} vs ${P99[nginx]} ms" "$(verdict "$(awk -v a="${P99[$t]}" -v b="${P99[nginx]}" 'BEGIN {print (a <= b)}')")"
done
added=$(awk -v a="${FP50[toolgate_headers]}" -v b="${FP50[direct]}" 'BEGIN {printf "%+.3f", a - b}')
row "fixed rate: added p50 over direct <= +0.05 ms" "$added ms" "$(verdict "$(awk -v a="$added" 'BEGIN {print (a <= 0.05)}')")"
row "fixed rate: p99 <= nginx's" "${FP99[toolgate_headers]} vs ${FP99[nginx]} ms" "$(verdict "$(awk -v a="${FP99[toolgate_headers]}" -v b="${FP99[nginx]}" 'BEGIN {print (a <= b)}')")"
r=$(awk -v a="${PCPU[mcp_payout]}" -v b="${PCPU[toolgate_json]}" 'BEGIN {printf "%.2f", a / b}')
row "MCP 1 KiB ALLOW CPU <= 1.2x the JSON-body route's" "${r}x" "$(verdict "$(awk -v r="$r" 'BEGIN {print (r <= 1.2)}')")"
s50=$(awk -v a="${FP50[toolgate_stateful]}" -v b="${FP50[toolgate_headers]}" 'BEGIN {printf "%.2f", a / b}')
s99=$(awk -v a="${FP99[toolgate_stateful]}" -v b="${FP99[toolgate_headers]}" 'BEGIN {printf "%.2f", a / b}')
row "stateful (Redis) p50 <= 1.5x stateless, fixed rate" "${s50}x (p99 ${s99}x, ${FP99[toolgate_stateful]} ms)" "$(verdict "$(awk -v r="$s50" 'BEGIN {print (r <= 1.5)}')")"
row "RSS < 30 MB at $CONNS connections" "$RSS_END MB" "$(verdict "$(awk -v r="$RSS_END" 'BEGIN {print (r < 30)}')")"
lost=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(non2xx|errors)=/) {split($i, kv, "="); n += kv[2]}} END {print n + 0}' <<<"$RELOAD_LINE")
row "a bundle swap every second under load loses nothing" "$lost lost" "$(verdict "$(awk -v n="$lost" 'BEGIN {print (n == 0)}')")"
echo "(the whole-decision criterion medians: cargo bench --bench engine)"
