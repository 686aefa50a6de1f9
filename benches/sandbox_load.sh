#!/usr/bin/env bash
# How many POSTs per second the sandbox serves with --rate-limit off, over keep-alive
# HTTP/1.1: each request posts one message to a fresh ticket, as a bulk job does.
#
# Needs wrk (`apt-get install wrk`). Builds the release binary first.
# Usage: benches/sandbox_load.sh [DURATION] [CONNECTIONS] [WRK_THREADS]   (default 10s 32 1)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10s}
connections=${2:-32}
threads=${3:-1}

command -v wrk >/dev/null || { echo "sandbox_load.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
cargo build --release --quiet

# The sandbox's first stdout line is its base URL; read it from the pipe, no polling.
exec 3< <(exec ./target/release/bulk-reply -q sandbox --listen 127.0.0.1:0 --rate-limit off)
sandbox_pid=$!
trap 'kill -TERM "$sandbox_pid" 2>/dev/null || true' EXIT
read -r base_url <&3
origin=${base_url%/v1}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "sandbox: $base_url (--rate-limit off); wrk: $threads thread(s), $connections connections, $duration"
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s benches/sandbox_load.lua "$origin"
echo "sandbox report: $(curl -s "$origin/__sandbox/report")"
echo "sandbox memory: $(grep VmRSS "/proc/$sandbox_pid/status" | tr -s ' \t' ' ')"
