#!/usr/bin/env bash
# bulk-reply side by side with the tools people use instead, at scale, with plots.
#
#   benches/compare.sh [peers] [scale] [memory] [pacing]   (default: all four, then the plots)
#
#   peers   the same ROWS rows (20,000) at CONCURRENCY (32) against `sandbox --rate-limit off`,
#           RUNS (5) times each: bulk-reply --rate unlimited; curl --parallel --parallel-max C
#           -K config; GNU parallel -j C curl (PARALLEL_ROWS rows, 2,000: one process per row);
#           a Python asyncio + aiohttp script with retries (benches/peers/aiohttp_post.py).
#           Every run is checked against the sandbox's count of appended messages.
#   scale   SCALE_ROWS (1,000,000) rows, limit off, RSS sampled every 100 ms; then the same
#           job again, fully delivered (validate, load the journal, skip everything).
#   memory  peak RSS sending 10,000 and 200,000 rows (VmHWM, sampled every 10 ms).
#   pacing  PACING_ROWS (600) rows at --rate PACING_RATE/s (20) against a sandbox limited to
#           the same rate: achieved rate over time, 429s.
#
# Writes benches/results/{compare.csv,compare.json,scale.json,scale_rss.csv,memory.json,pacing.csv,
# pacing.json} and the figures {throughput,scale_rss,pacing}.svg; prints the tables.
# Needs: cargo, python3, curl. Installs GNU parallel (apt-get) and aiohttp (pip) when missing,
# or skips that peer with a note. Takes about 5 minutes on 2 cores. Nothing here asserts.
set -euo pipefail
cd "$(dirname "$0")/.."

install_peers() {
  if ! command -v parallel >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing GNU parallel (apt-get)" >&2
      { apt-get update -qq && apt-get install -y -qq parallel; } >/dev/null 2>&1 ||
        echo "note: could not install GNU parallel; that peer is skipped" >&2
    else
      echo "note: GNU parallel is missing (apt-get install parallel); that peer is skipped" >&2
    fi
  fi
  if ! python3 -c 'import aiohttp' 2>/dev/null; then
    echo "installing aiohttp (pip)" >&2
    python3 -m pip install --quiet aiohttp >/dev/null 2>&1 ||
      echo "note: could not install aiohttp; that peer is skipped" >&2
  fi
}

install_peers
cargo build --release --quiet --bin bulk-reply --example plot
python3 benches/compare.py target/release/bulk-reply benches/results "$@"
target/release/examples/plot benches/results
