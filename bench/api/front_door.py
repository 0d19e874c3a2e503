#!/usr/bin/env python3
"""bench/api/front_door.py: the REST listener of mdb-backupd under hostile load (issue #12).

A benchmark, not a test: it prints numbers and checks only that answers are what they should be.

  (a) The p50/p99 of an authenticated REST Get of one backup over a kept-alive connection,
      unloaded, then while 64 slow-header clients (one header line a second, never finishing) and
      64 idle connections (nothing sent) are held open. The server closes both kinds at its header
      deadline (10 s), so a separate load process re-opens each one as soon as it is closed; the
      first opens are staggered over the deadline so that closes and re-opens go on all through
      the measured window. Those connections come from 127.0.0.2..127.0.0.9 (the server takes at
      most 64 connections per client address); the valid Gets come from 127.0.0.1.
  (b) 16 concurrent unauthenticated POSTs declaring a 200 MB body, streamed from a generator:
      they are answered 401 after the headers, the body unread. The server's VmRSS is sampled
      every 10 ms, and its VmHWM read before and after (on a fresh server).
  (c) If the server takes `server.tls: {cert_file, key_file}` (a throwaway CA and certificate
      made with the openssl CLI, SAN IP:127.0.0.1): REST Get p50 over a reused TLS connection
      against plaintext, in alternating blocks against two servers running side by side.
      Skipped, with a note, when the server refuses that configuration.

Only the Python standard library. Usage:
  ~/.cache/mdb-backup/venv/bin/python bench/api/front_door.py [--calls 2000] [--skip-tls] ...
"""
import argparse
import datetime
import os
import pathlib
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

from front_door_parts import part_a, part_b, part_c
from front_door_server import BACKUP_ID, GET_PATH, HEADER_DEADLINE_S, ROOT


# ---------------------------------------------------------------------------------------------

def mb(kb):
    return kb / 1024.0


def mark(ok):
    return "✓" if ok else "✗"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000, help="timed Gets per measurement")
    ap.add_argument("--warmup", type=int, default=100, help="untimed Gets on each new connection")
    ap.add_argument("--min-window", type=float, default=0.0,
                    help="(a): go on with loaded Gets until this many seconds have passed (the "
                         "hostile connections are closed and re-opened ~13 times a second)")
    ap.add_argument("--slow", type=int, default=64, help="slow-header connections held in (a)")
    ap.add_argument("--idle", type=int, default=64, help="idle connections held in (a)")
    ap.add_argument("--sources", default=",".join("127.0.0.%d" % i for i in range(2, 10)),
                    help="source addresses of the hostile connections (comma-separated)")
    ap.add_argument("--posts", type=int, default=16, help="concurrent unauthenticated POSTs in (b)")
    ap.add_argument("--post-mb", type=int, default=200, help="declared body of each POST, MB")
    ap.add_argument("--post-rounds", type=int, default=1, help="rounds of --posts POSTs in (b)")
    ap.add_argument("--parts", default="abc", help="which parts to run (subset of 'abc')")
    ap.add_argument("--skip-tls", action="store_true", help="same as leaving 'c' out of --parts")
    ap.add_argument("--build", default=os.environ.get("MDB_BUILD", str(ROOT / "build")))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    args = ap.parse_args()
    args.sources = [s for s in args.sources.split(",") if s]
    if args.skip_tls:
        args.parts = args.parts.replace("c", "")

    build = pathlib.Path(args.build)
    for exe in ("src/server/mdb-backupd", "src/cli/mdb-backup"):
        if not (build / exe).exists():
            raise SystemExit("missing %s (build first)" % (build / exe))

    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    binary_time = datetime.datetime.fromtimestamp(
        (build / "src/server/mdb-backupd").stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    py = sys.executable.replace(str(pathlib.Path.home()), "~")
    script = os.path.relpath(os.path.abspath(__file__), os.getcwd())
    command = " ".join([py, shlex.quote(script), *map(shlex.quote, sys.argv[1:])])

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-front-door."))
    a = b = c = None
    try:
        if "a" in args.parts:
            print("(a) %d Gets unloaded, then with %d slow-header + %d idle connections held "
                  "(warm-up %.1f s)..." % (args.calls, args.slow, args.idle,
                                           HEADER_DEADLINE_S + 0.5), flush=True)
            a = part_a(args, build, work)
        if "b" in args.parts:
            print("(b) %d x %d concurrent unauthenticated %d MB POSTs..."
                  % (args.post_rounds, args.posts, args.post_mb), flush=True)
            b = part_b(args, build, work)
        if "c" in args.parts:
            print("(c) REST Get over TLS vs plaintext...", flush=True)
            c = part_c(args, build, work)
    finally:
        if args.keep:
            print("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)

    # -- the report, ready for BENCHMARKS.md --
    out = []
    out.append("## bench/api/front_door.py: the REST listener under hostile load (issue #12)")
    out.append("")
    out.append("Command (after `scripts/build.sh`):")
    out.append("")
    out.append("```sh")
    out.append(command)
    out.append("```")
    out.append("")
    out.append("Run of %s (commit %s%s; mdb-backupd built %s; %d cores):"
               % (datetime.date.today().isoformat(), commit, dirty, binary_time,
                  os.cpu_count() or 0))
    if a:
        u, l, af, h = a["unloaded"], a["loaded"], a["after"], a["held"]
        ratio = l["p50"] / u["p50"]
        out.append("")
        out.append("| (a) REST GET %s, keep-alive, %d calls | p50 µs | p99 µs | p50 vs unloaded "
                   "| target |" % (GET_PATH.replace(BACKUP_ID, "{id}"), args.calls))
        out.append("|---|---|---|---|---|")
        out.append("| unloaded | %.0f | %.0f | 1.00 | |" % (u["p50"], u["p99"]))
        out.append("| with %d slow-header + %d idle connections held%s | %.0f | %.0f | **%.2f** "
                   "| <= 2.0 %s |" % (args.slow, args.idle,
                                      "" if l["n"] == args.calls else " (%d calls)" % l["n"],
                                      l["p50"], l["p99"], ratio,
                                      mark(ratio <= 2.0)))
        out.append("| unloaded again, after | %.0f | %.0f | %.2f | |"
                   % (af["p50"], af["p99"], af["p50"] / u["p50"]))
        out.append("")
        out.append("Held during the loaded window (%.2f s, %d samples every 10 ms): slow-header "
                   "min %d / avg %.1f of %d, idle min %d / avg %.1f of %d; %d closed by the server "
                   "and re-opened in the window (median life %s), %d refused at accept, "
                   "%d failed connects; sources %s..%s; median life of every closed hostile "
                   "connection %s. Before the window: %d slow + %d idle open."
                   % (a["window_s"], h["samples"], h["slow_min"], h["slow_avg"], args.slow,
                      h["idle_min"], h["idle_avg"], args.idle, h["closed"],
                      "%.1f s" % h["closed_life_median"] if h["closed_life_median"] else "-",
                      h["early_closes"], h["connect_errors"], a["sources"][0], a["sources"][-1],
                      "%.1f s" % h["all_lifetimes_median"] if h["all_lifetimes_median"] else "-",
                      a["held_before"]["slow"], a["held_before"]["idle"]))
        if a["reconnects"]:
            out.append("The measuring connection was re-opened %d times during the loaded run."
                       % a["reconnects"])
    if b:
        rs = b["results"]
        rise_hwm = mb(b["hwm_after"] - b["hwm_before"])
        rise_rss = mb(b["rss_peak_sampled"] - b["rss_before"])
        n401 = sum(1 for r in rs if r["status"] == 401)
        sent = sorted(r["sent"] for r in rs)
        out.append("")
        out.append("| (b) %d x %d concurrent unauthenticated POSTs, Content-Length %d MB "
                   "| before | peak | rise | target |" % (args.post_rounds, args.posts,
                                                        args.post_mb))
        out.append("|---|---|---|---|---|")
        out.append("| VmHWM, MiB | %.1f | %.1f | **%.1f** | < 32 %s |"
                   % (mb(b["hwm_before"]), mb(b["hwm_after"]), rise_hwm, mark(rise_hwm < 32)))
        out.append("| VmRSS sampled every 10 ms, MiB (%d samples) | %.1f | %.1f | **%.1f** "
                   "| < 32 %s |" % (b["samples"], mb(b["rss_before"]), mb(b["rss_peak_sampled"]),
                                    rise_rss, mark(rise_rss < 32)))
        out.append("")
        outcomes = {}
        for r in rs:
            outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        out.append("%d POSTs in %.2f s: %d of them read a 401 (a client can lose the answer to "
                   "the reset of a connection closed with its body unread); how the clients' "
                   "sends ended: %s; body bytes out before the close (mostly kernel buffers): "
                   "min %.1f / median %.1f / max %.1f MB of %d; VmRSS after %.1f MiB; a valid Get "
                   "afterwards: %s."
                   % (len(rs), b["elapsed"], n401,
                      ", ".join("%s %d" % kv for kv in sorted(outcomes.items())),
                      sent[0] / 1e6, statistics.median(sent) / 1e6, sent[-1] / 1e6, args.post_mb,
                      mb(b["rss_after"]), "200" if b["get_after"] else "failed"))
    if c:
        out.append("")
        if "skipped" in c:
            out.append("(c) TLS: skipped: %s." % c["skipped"])
        else:
            p, t = c["plain"], c["tls"]
            ratio = t["p50"] / p["p50"]
            out.append("| (c) REST Get, kept-alive, %d calls each in 4 alternating blocks "
                       "| p50 µs | p99 µs | p50 vs plaintext | target |" % args.calls)
            out.append("|---|---|---|---|---|")
            out.append("| plaintext | %.0f | %.0f | 1.00 | |" % (p["p50"], p["p99"]))
            out.append("| TLS (%s, %s; one handshake, %.1f ms) | %.0f | %.0f | **%.2f** "
                       "| <= 1.3 %s |" % (c["version"], c["cipher"], c["handshake_ms"], t["p50"],
                                          t["p99"], ratio, mark(ratio <= 1.3)))
    print()
    print("\n".join(out))


if __name__ == "__main__":
    main()
