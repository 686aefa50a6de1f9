#!/usr/bin/env python3
"""The measurements behind benches/compare.sh (run that, not this: it builds, installs the
peers and draws the plots). Every figure comes from real processes posting to a real
`bulk-reply sandbox` over loopback HTTP; every run is checked against the sandbox's own count
of appended messages, and a run that did not deliver every row is marked incomplete and left
out of the medians.

Usage: compare.py BIN RESULTS_DIR [peers] [scale] [memory] [pacing]
Environment: RUNS (5), ROWS (20000), CONCURRENCY (32), PARALLEL_ROWS (2000),
SCALE_ROWS (1000000), PACING_ROWS (600), PACING_RATE (20).
"""
import csv
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

TOKEN = "sandbox-token"
HERE = Path(__file__).resolve().parent


def env_int(name, default):
    return int(os.environ.get(name, default))


RUNS = env_int("RUNS", 5)
ROWS = env_int("ROWS", 20_000)
CONCURRENCY = env_int("CONCURRENCY", 32)
PARALLEL_ROWS = env_int("PARALLEL_ROWS", 2_000)
SCALE_ROWS = env_int("SCALE_ROWS", 1_000_000)
PACING_ROWS = env_int("PACING_ROWS", 600)
PACING_RATE = env_int("PACING_RATE", 20)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Sandbox:
    """`bulk-reply sandbox` in its own process; the first stdout line is its base URL."""

    def __init__(self, binary, rate_limit):
        self.process = subprocess.Popen(
            [binary, "sandbox", "--listen", "127.0.0.1:0", "--rate-limit", rate_limit],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()
        if not self.url.endswith("/v1"):
            raise RuntimeError(f"the sandbox did not announce its URL (got {self.url!r})")
        self.origin = self.url[: -len("/v1")]

    def report(self):
        with urllib.request.urlopen(f"{self.origin}/__sandbox/report") as answer:
            return json.load(answer)

    def stop(self):
        self.process.terminate()
        self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


def status_kib(pid, field):
    """A `VmRSS:`-like field of /proc/PID/status in KiB (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_rss_kib(pid):
    """RSS of a process and all its descendants, in KiB (0 once it is gone)."""
    total = status_kib(pid, "VmRSS:")
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                for child in children.read().split():
                    total += tree_rss_kib(int(child))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return total


def run_measured(argv, env=None, sample_every=0.02, stdout=subprocess.DEVNULL):
    """Runs argv to the end. Returns elapsed seconds, exit status, peak RSS in KiB, the RSS
    samples (seconds, KiB) and stdout. The peak is the larger of the process's own high-water
    mark (VmHWM, read with every sample) and the sampled sum over its process tree (what counts
    for GNU parallel and its curls). Not getrusage's ru_maxrss: for a child started by fork or
    vfork it includes this Python process's own memory from before the exec."""
    samples = []
    high_water = [0]
    started = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
    done = threading.Event()

    def sample():
        while not done.is_set():
            rss = tree_rss_kib(process.pid)
            high_water[0] = max(high_water[0], status_kib(process.pid, "VmHWM:"))
            if rss:
                samples.append((round(time.monotonic() - started, 3), rss))
            done.wait(sample_every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status = os.waitpid(process.pid, 0)
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    out = process.stdout.read() if process.stdout else None
    peak = max([high_water[0]] + [rss for _, rss in samples])
    return elapsed, process.returncode, peak, samples, out


def make_rows(n, path, prefix):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ticketId", "message"])
        for i in range(n):
            w.writerow([f"tic_{prefix}{i}", f"<p>Storing opgelost / outage resolved, ref {i}.</p>"])


def read_rows(path):
    with open(path, newline="") as f:
        rows = csv.reader(f)
        next(rows)
        return list(rows)


def clear_job(input_path):
    for suffix in (".journal", ".results.ndjson", ".failed.csv", ".journal.lock"):
        Path(str(input_path) + suffix).unlink(missing_ok=True)


# --- the tools -------------------------------------------------------------------------------
# Each takes (input CSV, sandbox URL, work dir) and returns argv (prepared outside the timing).

def bulk_reply_argv(binary):
    def argv(rows_csv, url, _work):
        clear_job(rows_csv)
        return [binary, "-q", "send", str(rows_csv), "--base-url", url,
                "--rate", "unlimited", "--concurrency", str(CONCURRENCY)]
    return argv


def curl_parallel_argv(rows_csv, url, work):
    config = work / "curl.config"
    with open(config, "w") as out:
        for i, (ticket, message) in enumerate(read_rows(rows_csv)):
            if i:
                out.write("next\n")
            out.write(f'url = "{url}/tickets/{ticket}"\nrequest = "POST"\n')
            out.write(f'header = "Authorization: Bearer {TOKEN}"\n')
            out.write('header = "Content-Type: application/json"\n')
            out.write("data = " + json.dumps(json.dumps({"message": message})) + "\n")
            out.write('output = "/dev/null"\nsilent\n')
    return ["curl", "--parallel", "--parallel-max", str(CONCURRENCY), "-K", str(config)]


def gnu_parallel_argv(rows_csv, url, work):
    jobs = work / "parallel.tsv"
    with open(jobs, "w") as out:
        for ticket, message in read_rows(rows_csv):
            out.write(f"{ticket}\t{json.dumps({'message': message})}\n")
    curl = ("curl -s -o /dev/null -X POST "
            f"-H {shlex.quote('Authorization: Bearer ' + TOKEN)} "
            "-H 'Content-Type: application/json' "
            f"--data-raw {{2}} {url}/tickets/{{1}}")
    return ["parallel", "-j", str(CONCURRENCY), "--colsep", "\t", curl, "::::", str(jobs)]


def aiohttp_argv(rows_csv, url, _work):
    return [sys.executable, str(HERE / "peers" / "aiohttp_post.py"), str(rows_csv), url,
            str(CONCURRENCY)]


def available_tools(binary):
    """(name, argv builder, rows) for each tool that can run here, and notes for the others."""
    tools = [("bulk-reply", bulk_reply_argv(binary), ROWS)]
    notes = []
    if shutil.which("curl"):
        tools.append(("curl --parallel", curl_parallel_argv, ROWS))
    else:
        notes.append("curl --parallel: skipped, curl is not installed")
    probe = subprocess.run([sys.executable, "-c", "import aiohttp"], capture_output=True)
    if probe.returncode == 0:
        tools.append(("python aiohttp", aiohttp_argv, ROWS))
    else:
        notes.append("python aiohttp: skipped, `pip install aiohttp` failed or is not allowed here")
    if shutil.which("parallel") and shutil.which("curl"):
        tools.append(("GNU parallel + curl", gnu_parallel_argv, PARALLEL_ROWS))
        if PARALLEL_ROWS != ROWS:
            notes.append(f"GNU parallel + curl posts {PARALLEL_ROWS:,} rows, not {ROWS:,}: it starts "
                         "one curl process per row, so the full job would take minutes; rows/s "
                         "is what is compared")
    else:
        notes.append("GNU parallel + curl: skipped, `apt-get install parallel` failed")
    return tools, notes


def peers(binary, results, work):
    tools, notes = available_tools(binary)
    for note in notes:
        log("note:", note)
    inputs = {}
    for _, _, n in tools:
        if n not in inputs:
            inputs[n] = work / f"rows{n}.csv"
            make_rows(n, inputs[n], "p")
    runs = []
    for run in range(1, RUNS + 1):
        for name, build_argv, n in tools:
            with Sandbox(binary, "off") as sandbox:
                argv = build_argv(inputs[n], sandbox.url, work)
                env = dict(os.environ, MKP_API_TOKEN=TOKEN)
                elapsed, status, peak, _, _ = run_measured(argv, env=env)
                report = sandbox.report()
            appended = report["messagesAppended"]
            complete = appended == n and report["duplicateMessages"] == 0
            entry = {
                "run": run, "tool": name, "rows": n, "concurrency": CONCURRENCY,
                "seconds": round(elapsed, 3), "rows_per_s": round(n / elapsed, 1),
                "peak_rss_kib": peak, "exit_status": status,
                "delivered": appended, "duplicates": report["duplicateMessages"],
                "requests": report["requests"], "complete": complete,
            }
            runs.append(entry)
            log(f"run {run} {name:<20} {n:>6} rows {elapsed:7.2f}s {n / elapsed:9.0f} rows/s "
                f"peak RSS {peak / 1024:6.1f} MiB delivered {appended}"
                + ("" if complete else "  INCOMPLETE"))
    summary = []
    for name, _, n in tools:
        good = [r for r in runs if r["tool"] == name and r["complete"]]
        summary.append({
            "tool": name, "rows": n, "concurrency": CONCURRENCY,
            "runs": len([r for r in runs if r["tool"] == name]), "complete_runs": len(good),
            "rows_per_s": round(statistics.median(r["rows_per_s"] for r in good), 1) if good else None,
            "peak_rss_mib": round(statistics.median(r["peak_rss_kib"] for r in good) / 1024, 1) if good else None,
        })
    ours = summary[0]["rows_per_s"]
    for row in summary:
        row["bulk_reply_speedup"] = (
            round(ours / row["rows_per_s"], 2) if ours and row["rows_per_s"] else None)
    with open(results / "compare.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)
    write_json(results / "compare.json", {"machine": machine(), "notes": notes,
                                          "summary": summary, "runs": runs})
    print(f"\nSide by side: limit off, concurrency {CONCURRENCY}, median of {RUNS} runs "
          "(complete runs only)")
    print(f"| tool | rows | rows/s | bulk-reply is … × faster | peak RSS (MiB) | complete runs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in summary:
        # A tool without a complete run has no median: "—", never a number.
        rate = f'{row["rows_per_s"]:,}' if row["rows_per_s"] else "—"
        speedup = f'{row["bulk_reply_speedup"]}×' if row["bulk_reply_speedup"] else "—"
        if row["tool"] == "bulk-reply":
            speedup = "—"
        print(f'| {row["tool"]} | {row["rows"]:,} | {rate} | {speedup} | '
              f'{row["peak_rss_mib"] or "—"} | {row["complete_runs"]}/{row["runs"]} |')
    for note in notes:
        print(f"- {note}")
    return summary


def scale(binary, results, work):
    rows_csv = work / "scale.csv"
    log(f"scale: writing {SCALE_ROWS:,} rows")
    make_rows(SCALE_ROWS, rows_csv, "s")
    clear_job(rows_csv)
    env = dict(os.environ, MKP_API_TOKEN=TOKEN)
    with Sandbox(binary, "off") as sandbox:
        argv = [binary, "-q", "send", str(rows_csv), "--base-url", sandbox.url,
                "--rate", "unlimited", "--concurrency", str(CONCURRENCY)]
        elapsed, status, peak, samples, _ = run_measured(argv, env=env, sample_every=0.1)
        delivered = sandbox.report()["messagesAppended"]
        log(f"scale: first run {elapsed:.1f}s, exit {status}, delivered {delivered:,}, "
            f"peak RSS {peak / 1024:.1f} MiB")
        rerun_elapsed, rerun_status, rerun_peak, _, _ = run_measured(argv, env=env, sample_every=0.1)
        rerun_delivered = sandbox.report()["messagesAppended"] - delivered
        log(f"scale: re-run {rerun_elapsed:.2f}s, exit {rerun_status}, sent again {rerun_delivered}")
    with open(results / "scale_rss.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "rss_kib"])
        w.writerows(samples)
    reference = None
    compare_file = results / "compare.json"
    if compare_file.exists():
        reference = json.loads(compare_file.read_text())["summary"][0]["rows_per_s"]
    rss = [kib for _, kib in samples]
    # Flatness: the steady state (after the first tenth of the run) against its own start.
    steady = [kib for t, kib in samples if t >= elapsed / 10]
    summary = {
        "machine": machine(), "rows": SCALE_ROWS, "concurrency": CONCURRENCY,
        "seconds": round(elapsed, 2), "rows_per_s": round(SCALE_ROWS / elapsed, 1),
        "exit_status": status, "delivered": delivered, "complete": delivered == SCALE_ROWS,
        "peak_rss_mib": round(peak / 1024, 1),
        "rss_mib_at_10pct": round(steady[0] / 1024, 1) if steady else None,
        "rss_mib_at_end": round(rss[-1] / 1024, 1) if rss else None,
        "rows_per_s_20k_median": reference,
        "rows_per_s_vs_20k": round(SCALE_ROWS / elapsed / reference, 3) if reference else None,
        "rerun_seconds": round(rerun_elapsed, 2), "rerun_exit_status": rerun_status,
        "rerun_sent_again": rerun_delivered, "rerun_peak_rss_mib": round(rerun_peak / 1024, 1),
    }
    write_json(results / "scale.json", summary)
    print(f"\nScale: {SCALE_ROWS:,} rows, limit off, concurrency {CONCURRENCY}")
    for key, value in summary.items():
        if key != "machine":
            print(f"  {key}: {value}")
    return summary


def memory(binary, results, work):
    """Peak RSS of bulk-reply sending 10,000 and 200,000 rows: flat in the input size."""
    peaks = {}
    for n in (10_000, 200_000):
        rows_csv = work / f"memory{n}.csv"
        make_rows(n, rows_csv, "m")
        clear_job(rows_csv)
        with Sandbox(binary, "off") as sandbox:
            argv = [binary, "-q", "send", str(rows_csv), "--base-url", sandbox.url,
                    "--rate", "unlimited", "--concurrency", str(CONCURRENCY)]
            _, status, peak, _, _ = run_measured(argv, env=dict(os.environ, MKP_API_TOKEN=TOKEN),
                                                 sample_every=0.01)
            delivered = sandbox.report()["messagesAppended"]
        peaks[n] = peak
        log(f"memory: {n:,} rows, exit {status}, delivered {delivered:,}, peak RSS {peak / 1024:.1f} MiB"
            + ("" if delivered == n else "  INCOMPLETE"))
    summary = {"machine": machine(), "peak_rss_mib_10k": round(peaks[10_000] / 1024, 1),
               "peak_rss_mib_200k": round(peaks[200_000] / 1024, 1),
               "ratio": round(peaks[200_000] / peaks[10_000], 2)}
    write_json(results / "memory.json", summary)
    print(f"\nMemory: peak RSS {summary['peak_rss_mib_10k']} MiB at 10,000 rows, "
          f"{summary['peak_rss_mib_200k']} MiB at 200,000 rows (ratio {summary['ratio']})")
    return summary


def pacing(binary, results, work):
    rows_csv = work / "pacing.csv"
    make_rows(PACING_ROWS, rows_csv, "r")
    clear_job(rows_csv)
    rate = f"{PACING_RATE}/s"
    env = dict(os.environ, MKP_API_TOKEN=TOKEN)
    with Sandbox(binary, rate) as sandbox:
        argv = [binary, "-q", "send", str(rows_csv), "--base-url", sandbox.url,
                "--rate", rate, "--concurrency", "4"]
        elapsed, status, _, _, _ = run_measured(argv, env=env)
        report = sandbox.report()
    # Moments each row was recorded as sent: the journal's `S <key> <unix-ms> …` lines.
    sent_ms = sorted(int(line.split()[2]) for line in open(str(rows_csv) + ".journal")
                     if line.startswith("S "))
    if not sent_ms:
        raise SystemExit(f"pacing: no row was sent (exit status {status}); sandbox report: {report}")
    start = sent_ms[0]
    # Achieved rate: rows completed in the trailing second, every 100 ms.
    series, left = [], 0
    for step in range(int((sent_ms[-1] - start) / 100) + 1):
        now = start + step * 100
        right = next((i for i in range(left, len(sent_ms)) if sent_ms[i] > now), len(sent_ms))
        while sent_ms[left] <= now - 1000:
            left += 1
        if now - start >= 1000:
            series.append((round((now - start) / 1000, 1), right - left))
    with open(results / "pacing.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "rows_in_last_second"])
        w.writerows(series)
    ideal = (PACING_ROWS - 1) / PACING_RATE
    summary = {
        "machine": machine(), "rows": PACING_ROWS, "rate_per_s": PACING_RATE,
        "server_limit_per_s": PACING_RATE, "seconds": round(elapsed, 2),
        "ideal_seconds": round(ideal, 2), "ratio_to_ideal": round(elapsed / ideal, 3),
        # From the first row recorded as sent to the last: the pacing without process start,
        # validation and the final flush.
        "send_span_seconds": round((sent_ms[-1] - start) / 1000, 2),
        "exit_status": status, "delivered": report["messagesAppended"],
        "responses_429": report["statusCounts"].get("429", 0),
        "peak_requests_per_window": report["peakRequestsPerWindow"],
    }
    write_json(results / "pacing.json", summary)
    print(f"\nPacing: {PACING_ROWS} rows at --rate {rate} against a sandbox limited to {rate}")
    for key, value in summary.items():
        if key != "machine":
            print(f"  {key}: {value}")
    return summary


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.processor())
    return {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "nproc": os.cpu_count(),
            "cpu": model, "kernel": platform.release(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def write_json(path, value):
    path.write_text(json.dumps(value, indent=2) + "\n")


def main():
    binary, results = sys.argv[1], Path(sys.argv[2])
    parts = sys.argv[3:] or ["peers", "scale", "memory", "pacing"]
    results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bulk-reply-bench-") as work:
        for part in parts:
            {"peers": peers, "scale": scale, "memory": memory, "pacing": pacing}[part](binary, results, Path(work))


if __name__ == "__main__":
    main()
