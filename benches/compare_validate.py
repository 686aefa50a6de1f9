#!/usr/bin/env python3
"""Times `bulk-reply validate` against a bare Python csv.reader pass over the same file.

usage: compare_validate.py BINARY INPUT.csv [RUNS]

Runs each side RUNS times (default 5), alternating, and prints the median wall time, the
ratio, and bulk-reply's peak resident memory (from wait4, so no external `time` is needed).
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(argv):
    """Wall seconds and peak RSS in MiB of one run; fails loudly on a bad exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited with {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports KiB


def main():
    binary, path = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    ours, python, peaks = [], [], []
    for _ in range(runs):
        seconds, peak = run([binary, "validate", path])
        ours.append(seconds)
        peaks.append(peak)
        python.append(run([sys.executable, os.path.join(HERE, "python_csv_pass.py"), path])[0])
    size_mb = os.path.getsize(path) / 1e6
    ours_median, python_median = statistics.median(ours), statistics.median(python)
    print(f"input: {path}, {size_mb:.1f} MB")
    print(f"bulk-reply validate: median {ours_median:.3f} s over {runs} runs "
          f"({size_mb / ours_median:.0f} MB/s), peak RSS {max(peaks):.1f} MiB")
    print(f"python csv.reader:   median {python_median:.3f} s over {runs} runs")
    print(f"ratio: {python_median / ours_median:.1f}x faster (target: at least 4x, under 96 MiB)")


if __name__ == "__main__":
    main()
