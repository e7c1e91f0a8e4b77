"""Wait until the machine is quiet: benchmarks on a busy machine measure the other work.

    PYTHONPATH=envoy .venv/bin/python -m bench.quiet [--wait 120] [--threshold 0.1]

Busy time is read from /proc/stat (user + nice + system, all cores), over one second.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def machine_busy_ticks() -> int:
    """Ticks every core spent running tasks (user, nice, system) since boot."""
    with open("/proc/stat") as f:
        fields = f.readline().split()  # the "cpu" line: all cores
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def wait_quiet(limit_s: float, threshold: float = 0.10) -> float:
    """Waits (up to limit_s) until the machine runs less than `threshold` cores of
    other work over one second. Returns the load last seen (cores)."""
    deadline = time.monotonic() + limit_s
    warned = False
    while True:
        b0, t0 = machine_busy_ticks(), time.monotonic()
        time.sleep(1.0)
        load = (machine_busy_ticks() - b0) / ((time.monotonic() - t0) * HZ)
        if load < threshold or time.monotonic() > deadline:
            if warned:
                state = "quiet" if load < threshold else "still busy, going on"
                print(f"  (machine load now {load:.2f} cores: {state})", flush=True)
            return load
        if not warned:
            print(f"  waiting for the machine to be quiet: {load:.2f} cores busy with other work",
                  flush=True)
            warned = True


def main() -> int:
    ap = argparse.ArgumentParser(description="Wait until other processes leave the CPUs alone.")
    ap.add_argument("--wait", type=float, default=120.0, help="give up after this many seconds")
    ap.add_argument("--threshold", type=float, default=0.10, help="cores of other work allowed")
    args = ap.parse_args()
    wait_quiet(args.wait, args.threshold)  # goes on when busy past the wait: figures will say so
    return 0


if __name__ == "__main__":
    sys.exit(main())
