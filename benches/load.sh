#!/usr/bin/env bash
# HTTP load test (BENCHMARKS.md, target 4): requests per second of the guarded `GET /read`
# (one repeated token) against the unguarded `GET /public` of the same `resource_server`
# process, with wrk on loopback. Rounds alternate the routes so that drift hits all. A third
# column sends the same Authorization header to the unguarded /public: the difference between
# it and /read is the guard's own cost, without the 700 more bytes each request carries.
#
#   bash benches/load.sh                # 5 rounds of 10 s per route, 64 connections
#   ROUNDS=3 DURATION=5s CONNECTIONS=32 THREADS=1 bash benches/load.sh
#
# Needs wrk (Debian: apt-get install wrk) and curl; builds the example in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "load.sh: needs $tool (apt-get install $tool)" >&2; exit 2; }
done

cargo build --quiet --release --example resource_server

# With OAUTH_ISSUER unset the example embeds a test issuer and prints its token endpoint.
log=$(mktemp)
env -u OAUTH_ISSUER -u OAUTH_AUDIENCE -u OAUTH_JWKS_URI BIND=127.0.0.1:0 \
  target/release/examples/resource_server >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q '^Try it:' "$log" && break; sleep 0.1; done
api=$(sed -n 's/^listening on //p' "$log")
token_url=$(sed -n 's/^ *token endpoint *//p' "$log")
[ -n "$api" ] && [ -n "$token_url" ] || { echo "load.sh: the server did not start:" >&2; cat "$log" >&2; exit 1; }

token=$(curl -fsS -u demo-admin:demo-admin-secret -d grant_type=client_credentials -d scope=read "$token_url" |
  sed -E 's/.*"access_token":"([^"]+)".*/\1/')
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$api/read")
[ "$status" = 200 ] || { echo "load.sh: GET /read with the token answered $status" >&2; exit 1; }
echo "server $api, token of ${#token} bytes; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds"

rps() { # wrk's Requests/sec for one run; fails on any non-2xx answer or socket error
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "load.sh: errors during the run:" >&2; echo "$out" >&2; exit 1; fi
  awk '/^Requests\/sec/ {print $2}' <<<"$out"
}

public=(); guarded=(); control=()
for round in $(seq "$ROUNDS"); do
  public+=("$(rps "$api/public")")
  guarded+=("$(rps -H "Authorization: Bearer $token" "$api/read")")
  control+=("$(rps -H "Authorization: Bearer $token" "$api/public")")
  echo "round $round: /public ${public[-1]}, /read ${guarded[-1]}, /public with the header ${control[-1]} req/s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
p=$(median "${public[@]}"); g=$(median "${guarded[@]}"); c=$(median "${control[@]}")
echo
echo "| route | median req/s |"
echo "|---|---:|"
echo "| GET /public (no guard) | $p |"
echo "| GET /read (guard + scope check, repeated token) | $g |"
echo "| GET /public with the same Authorization header (no guard) | $c |"
awk -v g="$g" -v p="$p" -v c="$c" 'BEGIN {
  printf "\n/read ÷ /public = %.3f\n/read ÷ /public with the header = %.3f\n", g / p, g / c }'
