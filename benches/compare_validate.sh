#!/usr/bin/env bash
# The validate benchmark: a 1,000,000-row CSV (~100 MB), bulk-reply validate against a bare
# Python csv.reader pass. Needs cargo and python3. Usage: benches/compare_validate.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000000}"
input="target/bench-input-${rows}.csv"
cargo build --release --quiet
[ -f "$input" ] || python3 benches/generate_input.py "$rows" "$input"
python3 benches/compare_validate.py target/release/bulk-reply "$input" 5
