#!/usr/bin/env bash
# Benchmarks of `bulk-reply send` against the sandbox, all in one run on one machine:
#   fidelity    400 rows at --rate 20/s against a sandbox limited to 20/s (ideal 19.95 s, zero 429s)
#   pressure    100 rows at --rate 40/s against a sandbox limited to 10/s (ideal 10 s)
#   throughput  20,000 rows, limit off, concurrency 32: bulk-reply vs curl --parallel --parallel-max 32
#   durability  the same 20,000 rows with the journal's fsync on and off (group commit's cost)
#   memory      peak RSS sending 10,000 and 200,000 rows (limit off)
#   pace        the rate budget, scenarios (a)-(e) of issue #15, this build beside BASELINE:
#               (a) 20/s server answering in 500 ms, --rate 20/s; (b) a 600/min key, no --rate;
#               (c) 20/s shared with another user spending 6/s; (d) --rate 20/s against 20/s
#               with ±20 ms jitter; (e) 50 rows on a fresh 60/min key, and 10,000 rows on a
#               60/min key with the window scaled to 600 ms
#   baseline    side by side with another build (BASELINE=<git revision>, default the last
#               release before exactly-once against real servers): 20,000 rows unpaced, and
#               2,000 rows against a sanitising sandbox that loses 5% of answers (copies counted)
# Usage: benches/send_bench.sh [fidelity|pressure|throughput|durability|memory|pace|baseline ...]
#        (default: all but baseline)
# Needs: cargo, python3, curl. Prints a table of medians; nothing here asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=$PWD/target/release/bulk-reply
# The sandbox is always this build's: a baseline client meets the same server.
SANDBOX_BIN=$BIN
WORK=$(mktemp -d)
SANDBOX_PID=
cleanup() { [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# start_sandbox RATE_LIMIT [FAULT FLAGS...]: starts a sandbox process, sets URL and ORIGIN.
start_sandbox() {
  [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID" 2>/dev/null || true
  local limit=$1; shift
  coproc SANDBOX { exec "$SANDBOX_BIN" sandbox --listen 127.0.0.1:0 --rate-limit "$limit" "$@" 2>/dev/null; }
  SANDBOX_PID=$SANDBOX_PID
  read -r URL <&"${SANDBOX[0]}"
  ORIGIN=${URL%/v1}
}

# make_rows N FILE: N distinct rows.
make_rows() {
  python3 - "$1" "$2" <<'PY'
import csv, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["ticketId", "message"])
    for i in range(n):
        w.writerow([f"tic_b{i}", f"<p>Storing opgelost / outage resolved, ref {i}.</p>"])
PY
}

report() { curl -s "$ORIGIN/__sandbox/report"; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }
now() { python3 -c 'import time; print(time.monotonic())'; }
median() { python3 -c "import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 3))" "$@"; }

# send_timed FILE ARGS...: runs send, prints elapsed seconds.
send_timed() {
  local file=$1; shift
  rm -f "$file".results.ndjson "$file".journal "$file".failed.csv
  local t0 t1
  t0=$(now)
  MKP_API_TOKEN=sandbox-token "$BIN" -q send "$file" --base-url "$URL" "$@" >/dev/null 2>&1 || true
  t1=$(now)
  # A run that did not deliver every row is not a measurement.
  local expected delivered
  expected=$(($(wc -l < "$file") - 1))
  delivered=$(grep -c '"status":"sent"' "$file".results.ndjson 2>/dev/null || true)
  if [ "${MAX_ROWS_EXPECTED:-$expected}" != "$delivered" ]; then
    echo "INCOMPLETE: $delivered of $expected rows sent" >&2
  fi
  python3 -c "print(round($t1 - $t0, 3))"
}

fidelity() {
  make_rows 400 "$WORK/fidelity.csv"
  start_sandbox 20/s
  local elapsed; elapsed=$(send_timed "$WORK/fidelity.csv" --rate 20/s --concurrency 4)
  local r; r=$(report)
  printf 'fidelity   400 rows @20/s vs 20/s server: %ss (ideal 19.95, ratio %s), 429s: %s, peak/window: %s\n' \
    "$elapsed" "$(python3 -c "print(round($elapsed/19.95,3))")" \
    "$(echo "$r" | field "['statusCounts'].get('429',0)")" "$(echo "$r" | field "['peakRequestsPerWindow']")"
}

pressure() {
  make_rows 100 "$WORK/pressure.csv"
  start_sandbox 10/s
  local elapsed; elapsed=$(send_timed "$WORK/pressure.csv" --rate 40/s --concurrency 4)
  local r; r=$(report)
  printf 'pressure   100 rows @40/s vs 10/s server: %ss (ideal 9.9, ratio %s), 429s: %s, appended: %s, duplicates: %s\n' \
    "$elapsed" "$(python3 -c "print(round($elapsed/9.9,3))")" "$(echo "$r" | field "['statusCounts'].get('429',0)")" \
    "$(echo "$r" | field "['messagesAppended']")" "$(echo "$r" | field "['duplicateMessages']")"
}

curl_config() {
  python3 - "$1" "$URL" "$2" <<'PY'
import csv, json, sys
src, url, out = sys.argv[1], sys.argv[2], sys.argv[3]
with open(src) as f, open(out, "w") as o:
    r = csv.reader(f); next(r)
    for i, (ticket, message) in enumerate(r):
        if i:
            o.write("next\n")
        o.write(f'url = "{url}/tickets/{ticket}"\nrequest = "POST"\n')
        o.write('header = "Authorization: Bearer sandbox-token"\nheader = "Content-Type: application/json"\n')
        o.write("data = " + json.dumps(json.dumps({"message": message})) + '\noutput = "/dev/null"\n')
PY
}

throughput() {
  local n=20000 runs=${RUNS:-3} ours=() theirs=()
  make_rows $n "$WORK/tp.csv"
  for _ in $(seq "$runs"); do
    start_sandbox off
    ours+=("$(send_timed "$WORK/tp.csv" --rate unlimited --concurrency 32)")
    start_sandbox off
    curl_config "$WORK/tp.csv" "$WORK/tp.curl"
    local t0 t1; t0=$(now)
    curl -s --no-progress-meter --parallel --parallel-max 32 -K "$WORK/tp.curl" >/dev/null 2>&1
    t1=$(now); theirs+=("$(python3 -c "print(round($t1 - $t0, 3))")")
  done
  local a b; a=$(median "${ours[@]}"); b=$(median "${theirs[@]}")
  printf 'throughput %d rows, c=32, limit off (median of %d): bulk-reply %ss = %s rows/s; curl --parallel %ss = %s rows/s; ratio %sx\n' \
    $n "$runs" "$a" "$(python3 -c "print(round($n/$a))")" "$b" "$(python3 -c "print(round($n/$b))")" "$(python3 -c "print(round($b/$a,2))")"
}

durability() {
  local n=20000 runs=${RUNS:-3} on=() off=()
  make_rows $n "$WORK/dur.csv"
  for _ in $(seq "$runs"); do
    start_sandbox off; on+=("$(send_timed "$WORK/dur.csv" --rate unlimited --concurrency 32)")
    start_sandbox off; off+=("$(BULK_REPLY_UNSAFE_NO_FSYNC=1 send_timed "$WORK/dur.csv" --rate unlimited --concurrency 32)")
  done
  local a b; a=$(median "${on[@]}"); b=$(median "${off[@]}")
  printf 'durability %d rows, c=32: fsync on %ss, off %ss: journal-on throughput is %s%% of fsync-off\n' \
    $n "$a" "$b" "$(python3 -c "print(round(100*$b/$a))")"
}

# peak_rss_kib COMMAND...: the command's own high-water mark (VmHWM), read every 10 ms while
# it runs. Not getrusage's ru_maxrss: for a child of fork/vfork it includes the memory of the
# Python process that started it: it reports ~14 MiB even for /bin/true.
peak_rss_kib() {
  python3 - "$@" <<'PY'
import os, subprocess, sys, time
env = dict(os.environ, MKP_API_TOKEN="sandbox-token")
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
peak = 0
while child.poll() is None:
    try:
        with open(f"/proc/{child.pid}/status") as status:
            peak = max([peak] + [int(l.split()[1]) for l in status if l.startswith("VmHWM:")])
    except OSError:
        pass
    time.sleep(0.01)
print(peak)
PY
}

memory() {
  local small big
  make_rows 10000 "$WORK/m10k.csv"; make_rows 200000 "$WORK/m200k.csv"
  start_sandbox off; small=$(peak_rss_kib "$BIN" -q send "$WORK/m10k.csv" --base-url "$URL" --rate unlimited --concurrency 32)
  start_sandbox off; big=$(peak_rss_kib "$BIN" -q send "$WORK/m200k.csv" --base-url "$URL" --rate unlimited --concurrency 32)
  printf 'memory     peak RSS: 10,000 rows %s MiB, 200,000 rows %s MiB, ratio %s\n' \
    "$(python3 -c "print(round($small/1024,1))")" "$(python3 -c "print(round($big/1024,1))")" "$(python3 -c "print(round($big/$small,2))")"
}

# build_baseline: builds $BASELINE in a worktree of its own; sets BASE_BIN.
build_baseline() {
  local rev=${BASELINE:-c21757b}
  BASE_BIN=$PWD/target/baseline/release/bulk-reply
  [ -x "$BASE_BIN" ] && [ "$(cat "$PWD/target/baseline/rev" 2>/dev/null)" = "$rev" ] && return
  git worktree add --detach -q "$WORK/baseline" "$rev"
  CARGO_TARGET_DIR=$PWD/target/baseline cargo build --release --quiet --manifest-path "$WORK/baseline/Cargo.toml"
  git worktree remove --force "$WORK/baseline"
  echo "$rev" > "$PWD/target/baseline/rev"
}

# lossy_run BIN FILE ARGS...: one send of FILE against a fresh sanitising, lossy sandbox;
# sets LOSSY_SECONDS and LOSSY_SECOND_COPIES.
lossy_run() {
  local bin=$1 file=$2; shift 2
  start_sandbox off --rewrite entities,void-tags,wrap --drop-rate 0.05 --seed 7
  rm -f "$file".results.ndjson "$file".journal "$file".failed.csv
  local t0 t1; t0=$(now)
  MKP_API_TOKEN=sandbox-token "$bin" -q send "$file" --base-url "$URL" --rate unlimited --concurrency 8 --retry-delay 10ms "$@" >/dev/null 2>&1 || true
  t1=$(now)
  LOSSY_SECONDS=$(python3 -c "print(round($t1 - $t0, 3))")
  LOSSY_SECOND_COPIES=$(report | field "['duplicateMessages']")
}

# paced_run BIN FILE SECONDS ARGS...: one send of FILE against the sandbox already started,
# stopped (SIGINT, as Ctrl-C) after SECONDS at most; sets PACED_SECONDS, PACED_SENT,
# PACED_429S (to us) and PACED_NEIGHBOUR_429S.
paced_run() {
  local bin=$1 file=$2 limit=$3; shift 3
  rm -f "$file".results.ndjson "$file".journal "$file".failed.csv
  local t0 t1; t0=$(now)
  MKP_API_TOKEN=sandbox-token XDG_STATE_HOME="$WORK/state" timeout -s INT "$limit" \
    "$bin" -q send "$file" --base-url "$URL" --yes "$@" >/dev/null 2>&1 || true
  t1=$(now)
  PACED_SECONDS=$(python3 -c "print(round($t1 - $t0, 2))")
  PACED_SENT=$(grep -c '"status":"sent"' "$file".results.ndjson 2>/dev/null || true)
  local r; r=$(report)
  PACED_429S=$(echo "$r" | field "['statusCounts'].get('429',0)")
  PACED_NEIGHBOUR_429S=$(echo "$r" | field ".get('neighbourRefused',0)")
}

# pace_case NAME ROWS IDEAL_SECONDS SANDBOX_FLAGS -- OUR_FLAGS -- BASELINE_FLAGS: both builds,
# each against a fresh sandbox; a run that could not finish in 3x the ideal is stopped and its
# time projected from the rows it sent.
pace_case() {
  local name=$1 rows=$2 ideal=$3; shift 3
  # PACE_CASES="a d" runs only those.
  [[ " ${PACE_CASES:-a b c d e-small e-long} " == *" $name "* ]] || return 0
  local sandbox=() ours=() theirs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do sandbox+=("$1"); shift; done; shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do ours+=("$1"); shift; done; [ $# -gt 0 ] && shift
  theirs=("$@")
  make_rows "$rows" "$WORK/pace.csv"
  local limit; limit=$(python3 -c "print(max(20, round(3 * $ideal)))")
  local line="pace $name: $rows rows, ideal ${ideal}s"
  for who in ours theirs; do
    start_sandbox "${sandbox[@]}"
    # The key's other user (if any) has been at it for a while when the job starts.
    sleep 2
    if [ $who = ours ]; then paced_run "$BIN" "$WORK/pace.csv" "$limit" "${ours[@]}"
    else paced_run "$BASE_BIN" "$WORK/pace.csv" "$limit" "${theirs[@]}"; fi
    local seconds=$PACED_SECONDS note=""
    if [ "$PACED_SENT" -lt "$rows" ]; then
      seconds=$(python3 -c "print(round($PACED_SECONDS * $rows / max($PACED_SENT, 1), 1))")
      note=" (projected: $PACED_SENT rows in ${PACED_SECONDS}s)"
    fi
    line+="; $( [ $who = ours ] && echo "this build" || echo "${BASELINE:-c21757b}") ${seconds}s$note = $(python3 -c "print(round($rows / $seconds, 2))") rows/s, $(python3 -c "print(round($seconds / $ideal, 3))")x ideal, 429s $PACED_429S to us, $PACED_NEIGHBOUR_429S to the other user"
  done
  echo "$line"
}

pace() {
  # Today's build: the last one before the pace learnt the server's limit.
  BASELINE=${BASELINE:-1ee4fa3}
  build_baseline
  # (a) Latency must not cap the rate. The old build is given the same flags. 1,000 rows,
  # so that the preflight's and the last answer's 500 ms weigh 2%, not 5%.
  pace_case a 1000 49.95 20/s --latency 500ms -- --rate 20/s -- --rate 20/s
  # (b) A raised limit: no --rate given to either build (target: 600 rows in 66 s).
  pace_case b 600 59.9 600/min -- --
  # (c) Sharing the key: 6/s of a 20/s key are the other user's; ideal at the 14/s left.
  # The old build needs --rate 20/s to try at all (its default is 60/min).
  pace_case c 600 42.79 20/s --neighbour 6/s -- -- --rate 20/s
  # (d) Jitter: --rate equal to the server's limit, ±20 ms around 30 ms.
  pace_case d 600 29.95 20/s --latency 30ms --latency-jitter 20ms --seed 1 -- --rate 20/s -- --rate 20/s
  # (e) Small jobs wait for nothing; long ones lose nothing (the window scaled 100x down:
  # 10,000 rows at 60 per 600 ms take 99.99 s at the ideal pace). The old build is told
  # the rate; it cannot learn it.
  # (target: 50 rows in 5 s, where the steady pace takes 49 s)
  pace_case e-small 50 49 60/min -- --
  pace_case e-long 10000 99.99 60/600ms -- -- --rate 60/600ms
}

baseline() {
  build_baseline
  local n=20000 runs=${RUNS:-3} ours=() base=()
  make_rows $n "$WORK/bl.csv"
  for _ in $(seq "$runs"); do
    start_sandbox off; ours+=("$(send_timed "$WORK/bl.csv" --rate unlimited --concurrency 32)")
    start_sandbox off; local saved=$BIN; BIN=$BASE_BIN
    base+=("$(send_timed "$WORK/bl.csv" --rate unlimited --concurrency 32)")
    BIN=$saved
  done
  local a b; a=$(median "${ours[@]}"); b=$(median "${base[@]}")
  printf 'baseline   %d rows, c=32, limit off (median of %d): this build %ss = %s rows/s; %s %ss = %s rows/s; ratio %sx\n' \
    $n "$runs" "$a" "$(python3 -c "print(round($n/$a))")" "${BASELINE:-c21757b}" "$b" "$(python3 -c "print(round($n/$b))")" "$(python3 -c "print(round($b/$a,2))")"
  make_rows 2000 "$WORK/lossy.csv"
  # Non-ASCII in every message, so a sanitiser's entities matter.
  sed -i 's|<p>Storing|<p>Café — storing|' "$WORK/lossy.csv"
  lossy_run "$BIN" "$WORK/lossy.csv" --settle 2s
  local ours_s=$LOSSY_SECONDS ours_d=$LOSSY_SECOND_COPIES
  lossy_run "$BASE_BIN" "$WORK/lossy.csv"
  printf 'baseline   2,000 rows, sanitised HTML + 5%% lost answers: this build %ss, %s second copies; %s %ss, %s second copies\n' \
    "$ours_s" "$ours_d" "${BASELINE:-c21757b}" "$LOSSY_SECONDS" "$LOSSY_SECOND_COPIES"
}

echo "bulk-reply send benchmarks — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m)"
for what in "${@:-fidelity pressure throughput durability memory}"; do
  for w in $what; do "$w"; done
done
