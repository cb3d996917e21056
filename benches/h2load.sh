#!/usr/bin/env bash
# HTTP/2 multiplexed load on toolgate, the way an aggressive h2 client (or an attacker)
# drives it: h2load with 50 prior-knowledge h2c connections of up to 256 streams each, all
# ALLOWed requests, against toolgate as shipped (config defaults) in front of the tiny
# HTTP/1.1 upstream. Samples toolgate's RSS, its ESTABLISHED sockets to the upstream and
# its toolgate_upstream_connections gauge every 0.5 s, and prints the peaks, the same 3 s after the load, and the status counts
# (503s over upstream.max_concurrent_requests are counted from toolgate's own metrics).
#
#   bash benches/h2load.sh                      # 15 s of load
#   bash benches/h2load.sh --quick              # 5 s
#   bash benches/h2load.sh --max-upstream 64    # set upstream.max_concurrent_requests
#   bash benches/h2load.sh --max-streams 1000   # set limits.max_concurrent_streams
#   bash benches/h2load.sh --rev HEAD           # build a snapshot of a commit, not the tree
#
# Options: --duration S, --max-upstream N, --max-streams N (both unset by default: the
# defaults must bound the fan-out), --rev R (git archive of R, built under CARGO_TARGET_DIR).
# Binaries are built into CARGO_TARGET_DIR (default /tmp/toolgate-h2load-target), not
# target/. Pinning: h2load on CPU 0, the servers on CPU 1 (override with LOAD_CPU /
# SERVER_CPU). Traffic goes to 127.0.0.1 only; every run is bounded. Needs h2load
# (nghttp2-client): installed with apt-get when missing. Never run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=benches/toolgate-config.sh
. benches/toolgate-config.sh

DURATION=15 MAX_UP="" MAX_STREAMS="" REV="" CONNS=50 STREAMS=256
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) DURATION=5 ;;
    --duration) DURATION=$2; shift ;;
    --max-upstream) MAX_UP=$2; shift ;;
    --max-streams) MAX_STREAMS=$2; shift ;;
    --rev) REV=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
LOAD_CPU=${LOAD_CPU:-0} SERVER_CPU=${SERVER_CPU:-1}

# --- tools -------------------------------------------------------------------------------
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v taskset >/dev/null || need+=(util-linux)
command -v ss >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

TMP=$(mktemp -d /tmp/toolgate-h2load.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- build -------------------------------------------------------------------------------
# The working tree (marked +dirty when src/ etc. differ from HEAD), or with --rev a
# snapshot of that commit (the tree may be mid-edit), always at the same path so that
# rebuilding an unchanged commit is a no-op.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/toolgate-h2load-target}
if [ -n "$REV" ]; then
  SRC=$CARGO_TARGET_DIR/snapshot
  rm -rf "$SRC" && mkdir -p "$SRC"
  git archive "$REV" | tar -x -C "$SRC"
  REV_NAME=$(git rev-parse --short "$REV^{commit}")
else
  SRC=$ROOT
  REV_NAME=$(git rev-parse --short HEAD)
  [ -z "$(git status --porcelain -- src examples Cargo.toml Cargo.lock)" ] || REV_NAME="$REV_NAME+dirty"
fi
echo "== building $REV_NAME (release, into $CARGO_TARGET_DIR): toolgate, examples/upstream"
T0=$SECONDS
(cd "$SRC" && cargo build --release --quiet --bin toolgate --example upstream)
BUILD_SECS=$((SECONDS - T0))
BIN=$CARGO_TARGET_DIR/release

# --- servers -----------------------------------------------------------------------------
UP_PORT=18180 TG_PORT=18100 TG_ADMIN=18191

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  exit 1
}

taskset -c "$SERVER_CPU" "$BIN/examples/upstream" "127.0.0.1:$UP_PORT" 2>"$TMP/upstream.log" &
PIDS+=($!)

# toolgate as shipped, on a copy of the example bundle; the audit trail outside the
# bundle's dir and its parent (both watched for reloads).
mkdir -p "$TMP/policies" "$TMP/audit"
cp -r "$SRC/policies/tools" "$TMP/policies/bundle"
toolgate_config $TG_PORT $TG_ADMIN $UP_PORT "$TMP/policies/bundle" "$TMP/audit/audit.jsonl" >"$TMP/toolgate.yaml"
[ -z "$MAX_UP" ] || sed -i "/^  url:/a\\  max_concurrent_requests: $MAX_UP" "$TMP/toolgate.yaml"
[ -z "$MAX_STREAMS" ] || printf 'limits:\n  max_concurrent_streams: %s\n' "$MAX_STREAMS" >>"$TMP/toolgate.yaml"
taskset -c "$SERVER_CPU" "$BIN/toolgate" serve --config "$TMP/toolgate.yaml" >/dev/null 2>"$TMP/toolgate.log" &
TG_PID=$!
PIDS+=($TG_PID)

wait_port $UP_PORT
wait_port $TG_PORT
wait_port $TG_ADMIN
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# ESTABLISHED sockets whose peer is the upstream's port: toolgate's side only (the
# upstream's own sockets have it as their local port, and nothing else connects to it).
upsocks() { ss -Htn state established "( dport = :$UP_PORT )" | wc -l; }
# toolgate_upstream_errors_total summed over routes, one "kind count" line per kind
# (overloaded: ALLOWed, over upstream.max_concurrent_requests, 503, never sent).
uperrs() {
  curl -s "http://127.0.0.1:$TG_ADMIN/metrics" | awk '/^toolgate_upstream_errors_total\{/ {
    match($0, /kind="[a-z_]*"/); s[substr($0, RSTART + 6, RLENGTH - 7)] += $NF }
    END {for (k in s) print k, s[k]}' | sort
}
# toolgate_upstream_connections (the pool's own count of open upstream sockets); "-" when
# the revision has no such gauge or the scrape does not answer within 1 s.
upgauge() {
  curl -s -m 1 "http://127.0.0.1:$TG_ADMIN/metrics" |
    awk '$1 == "toolgate_upstream_connections" {v = $2} END {print (v == "" ? "-" : v)}'
}

URL="http://127.0.0.1:$TG_PORT/payments/v1/payouts/po_1"
HDRS=(-H 'x-actor: agent-7' -H 'x-actor-role: finance_operator' -H 'x-environment: production')
code=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "${HDRS[@]}" "$URL")
[ "$code" = 200 ] || { echo "toolgate answered $code over h2c, not 200" >&2; cat "$TMP/toolgate.log" >&2; exit 1; }

RSS_START=$(rss $TG_PID)
uperrs >"$TMP/uperrs0.txt"

# --- load --------------------------------------------------------------------------------
echo "== h2load -c $CONNS -m $STREAMS -D $DURATION (h2c prior knowledge), sampling every 0.5 s"
while :; do echo "$(rss $TG_PID) $(upsocks) $(upgauge)" >>"$TMP/samples.txt"; sleep 0.5; done &
SAMPLER=$!
PIDS+=($SAMPLER)
START=$(date +%s.%N)
# Bounded: -D stops the load; timeout is the backstop should h2load hang on its tail.
taskset -c "$LOAD_CPU" timeout $((DURATION + 60)) h2load -c "$CONNS" -m "$STREAMS" \
  -D "$DURATION" "${HDRS[@]}" "$URL" >"$TMP/h2load.txt" 2>&1 || echo "h2load exited with status $?" >&2
END=$(date +%s.%N)
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
kill -0 "$TG_PID" 2>/dev/null || { echo "toolgate died during the run" >&2; cat "$TMP/toolgate.log" >&2; exit 1; }
sleep 3
RSS_AFTER=$(rss $TG_PID)
SOCKS_AFTER=$(upsocks)
GAUGE_AFTER=$(upgauge)
uperrs >"$TMP/uperrs1.txt"
# Per kind, the count during this run: "kind=N ..." and the overloaded one alone.
UPERRS=$(awk 'NR == FNR {a[$1] = $2; next} {printf "%s%s=%d", sep, $1, $2 - a[$1]; sep = ", "}' \
  "$TMP/uperrs0.txt" "$TMP/uperrs1.txt")
OVER=$(awk 'NR == FNR {a[$1] = $2; next} $1 == "overloaded" {d = $2 - a[$1]} END {print d + 0}' \
  "$TMP/uperrs0.txt" "$TMP/uperrs1.txt")

# --- report ------------------------------------------------------------------------------
RSS_PEAK=$(awk '$1 > m {m = $1} END {printf "%.1f", m}' "$TMP/samples.txt")
SOCKS_PEAK=$(awk '$2 > m {m = $2} END {print m + 0}' "$TMP/samples.txt")
NSAMPLES=$(wc -l <"$TMP/samples.txt")
# Peak of the gauge over the samples that read it, and how many did.
read -r GAUGE_PEAK GAUGE_N < <(awk '$3 != "-" {n++; if (n == 1 || $3 > m) m = $3}
  END {print (n ? m : "-"), n + 0}' "$TMP/samples.txt")
read -r TOTAL DONE SUCC FAILED ERRORED TIMEOUTS < <(awk '/^requests:/ {
  for (i = 2; i < NF; i += 2) v[$(i + 1)] = $i
  print v["total,"] + 0, v["done,"] + 0, v["succeeded,"] + 0, v["failed,"] + 0, v["errored,"] + 0, v["timeout"] + 0 }' "$TMP/h2load.txt")
read -r S2 S3 S4 S5 < <(awk '/^status codes:/ {print $3, $5, $7, $9}' "$TMP/h2load.txt")
RPS=$(awk '/^finished in/ {print $4}' "$TMP/h2load.txt")
: "${TOTAL:=0}" "${S2:=0}" "${S3:=0}" "${S4:=0}" "${S5:=0}" "${RPS:=?}"
# h2load's 5xx are the over-the-bound 503s as far as toolgate's counter covers them (it also
# counts requests answered after h2load stopped measuring); the rest is "other", as are
# 3xx/4xx and requests without a response.
Y=$((S5 < OVER ? S5 : OVER))
OTHER=$((TOTAL - S2 - Y))
if [ -z "$MAX_UP$MAX_STREAMS" ]; then
  CFG="defaults (upstream.max_concurrent_requests 256, limits.max_concurrent_streams 100)"
else
  CFG="upstream.max_concurrent_requests ${MAX_UP:-256 (default)}, limits.max_concurrent_streams ${MAX_STREAMS:-100 (default)}"
fi

echo
echo "h2 load at $REV_NAME, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs: h2load -c $CONNS -m $STREAMS, $DURATION s (wall $(awk -v a="$START" -v b="$END" 'BEGIN {printf "%.1f", b - a}') s), $CFG"
echo "requests: $TOTAL total, $S2 succeeded (2xx), $Y 503 (over the upstream bound), $OTHER other; req/s $RPS"
echo "  h2load: $DONE done, $SUCC succeeded, $FAILED failed, $ERRORED errored, $TIMEOUTS timeout; status codes $S2 2xx, $S3 3xx, $S4 4xx, $S5 5xx"
echo "  toolgate upstream errors during the run: ${UPERRS:-none}"
echo "toolgate RSS MB: start $RSS_START, peak $RSS_PEAK, 3 s after $RSS_AFTER"
echo "upstream sockets: peak $SOCKS_PEAK, 3 s after $SOCKS_AFTER ($NSAMPLES samples)"
echo "  toolgate_upstream_connections: peak $GAUGE_PEAK, 3 s after $GAUGE_AFTER ($GAUGE_N of $NSAMPLES samples read it)"
echo "build ${BUILD_SECS} s; h2load on CPU $LOAD_CPU, servers on CPU $SERVER_CPU"
ODD=$(grep -iE 'error|fail|warn|abort|timeout|refused' "$TMP/h2load.txt" | grep -vE '^(requests|status codes):' || true)
[ -z "$ODD" ] || { echo "h2load said:"; sort <<<"$ODD" | uniq -c | head -10 | sed 's/^/  /'; }
if [ -s "$TMP/toolgate.log" ]; then
  echo "toolgate stderr: $(wc -l <"$TMP/toolgate.log") line(s), the first 10:"
  head -10 "$TMP/toolgate.log" | cut -c1-300 | sed 's/^/  /'
else
  echo "toolgate stderr: empty"
fi
