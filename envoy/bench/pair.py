"""Paired comparison: what one variant costs over another, robust to a drifting machine.

    PYTHONPATH=envoy .venv/bin/python -m bench.pair BASE VARIANT [VARIANT ...] \
        [--slices 12] [--slice 2] [--connections 16]

Every named variant (see bench/configs.py; e.g. wasm-floor floor+props4 floor+log) gets its
own Envoy, all started at once, all pinned to the same core; then short wrk slices are run
on each in turn (the order rotates), so the variants are compared within seconds of each
other: a machine whose speed drifts by tens of percent over minutes (a shared VM) shifts
each pair of slices together. Reported per variant: the median, over slices, of the time
per request it adds over BASE in the same slice (1/rps difference, in microseconds of
Envoy's core), the interquartile range of that figure, and the median throughput ratio.
Checks as in run.py: every variant answers the benchmarked call with the direct response
before it is measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
from pathlib import Path

from e2e.paths import wasm_path
from e2e.procs import stop_all

from . import configs as C
from .quiet import wait_quiet
from .run import OUT_DIR, BenchError, PinnedEnvoy, _on_signal, check_variant, run_wrk


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", help="BASE then the variants to price against it")
    ap.add_argument("--slices", type=int, default=12)
    ap.add_argument("--slice", type=float, default=2.0, help="seconds per wrk slice")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--quiet-wait", type=float, default=120.0)
    args = ap.parse_args(argv)
    known = C.VARIANTS + C.EXTRA_VARIANTS
    for v in args.variants:
        if v not in known:
            ap.error(f"unknown variant {v}; known: {', '.join(known)}")
    if len(args.variants) < 2:
        ap.error("name a base and at least one variant")
    signal.signal(signal.SIGTERM, _on_signal)
    cpus = sorted(os.sched_getaffinity(0))
    envoy_core, wrk_core = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    if wrk_core is not None:
        os.sched_setaffinity(0, {wrk_core})
    work = OUT_DIR / "pair"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    body_file = work / "body.json"
    body_file.write_bytes(C.bench_body())
    envoys: dict[str, PinnedEnvoy] = {}
    try:
        for v in args.variants:
            e = PinnedEnvoy(C.envoy_config(v, wasm_path(), upstream_port=9), work / v,
                            concurrency=1, log_level="warning", component_log_level="wasm:info",
                            core=envoy_core, name="envoy")
            e.start(timeout=60)
            envoys[v] = e
            check_variant(v, e)
        wait_quiet(args.quiet_wait)
        for v, e in envoys.items():  # warm-up
            run_wrk(e.url, body_file, connections=args.connections, duration=2, core=wrk_core,
                    work_dir=work, name="wrk")
        rps: dict[str, list[float]] = {v: [] for v in args.variants}
        order = list(args.variants)
        for i in range(args.slices):
            for v in order:
                w = run_wrk(envoys[v].url, body_file, connections=args.connections,
                            duration=args.slice, core=wrk_core, work_dir=work, name="wrk")
                if any(w.errors.values()):
                    raise BenchError(f"{v}: wrk errors {w.errors}")
                rps[v].append(w.rps)
            order = order[1:] + order[:1]
            print(f"slice {i + 1}/{args.slices}: " + "  ".join(
                f"{v} {rps[v][-1]:.0f}" for v in args.variants), flush=True)
            for e in envoys.values():  # the logs of audit variants grow quickly
                if e.log_path.exists():
                    e.log_path.write_bytes(b"")
        base = args.variants[0]
        print()
        print(f"paired against {base} ({args.slices} slices of {args.slice:g} s, "
              f"{args.connections} connections; medians)")
        print(f"{'variant':<20} {'req/s':>8} {'ratio':>7} {'us/req added':>13} {'IQR':>16}")
        b_us = [1e6 / r for r in rps[base]]
        print(f"{base:<20} {statistics.median(rps[base]):>8.0f} {1:>7.3f} {'(base)':>13}"
              f"   ({statistics.median(b_us):.1f} us/req)")
        for v in args.variants[1:]:
            added = [1e6 / r - b for r, b in zip(rps[v], b_us)]
            ratio = [r / rb for r, rb in zip(rps[v], rps[base])]
            q1, m, q3 = quartiles(added)
            print(f"{v:<20} {statistics.median(rps[v]):>8.0f} {statistics.median(ratio):>7.3f} "
                  f"{m:>13.1f}   [{q1:6.1f}, {q3:6.1f}]")
        return 0
    except BenchError as e:
        print(f"pair failed: {e}", file=sys.stderr)
        return 1
    finally:
        for e in envoys.values():
            e.stop()
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
