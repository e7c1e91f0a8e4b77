"""What asking the Rate Limit Service adds to one call: a limit counted by the RLS against
the same limit counted in shared data, at 1 connection, in one run.

    cargo build --release -p mcp-policy-cli -p mcp-policy-test-rls
    bash scripts/build-wasm.sh
    PYTHONPATH=envoy .venv/bin/python -m bench.rls_latency [--slices 10] [--slice 3]

Needs what bench/run.py needs (Envoy in .venv, wrk, taskset, the release CLI and .wasm)
plus redis-server (apt) and the release test RLS (target/release/test-rls, or
$MCP_POLICY_TEST_RLS; built with the cargo command above when missing).

Two Envoys 1.40 (V8), --concurrency 1, pinned to core 0, the same bootstrap as bench/run.py
(the /mcp route is a direct response, so only Envoy and its filters are measured) and the
same plugin configuration (bench/configs.py: 83 tools, `require` regex, a grant table,
audit on), both with the RLS's cluster; they differ only in the benchmarked tool's limit:

  local  `limits: [{counter: issue_writes, window: hour, max: 4*10^9, scope: grant}]`,
         one compare-and-swap on shared data per call (what bench/run.py measures);
  rls    the same limit with `"backend": "rls"`: one ShouldRateLimit gRPC call per call
         (rls.timeout_ms 100, on_unavailable deny), held until the answer.

The RLS is the test RLS of envoy/rls (Limitador's counting, one Redis Lua script per call)
on a local redis-server, both pinned to core 1 with wrk (at 1 connection they take turns
with it, never with Envoy); its limits file is `mcp-policy rls-config --format limitador` of
the rls configuration. The measurement alternates short wrk -c1 slices between the two
Envoys (the order rotates; each pair first waits for a quiet machine, as bench/run.py
does), so a drifting machine moves both together; the figures are the medians over slices
of each slice's p50 and p99, and the median of the paired differences. Checks: before, the benchmarked call is answered with the direct response by
both and the rls Envoy's call shows up in Redis; after, every call of every slice was
allowed (no deny, rate_limited, RLS error) and the RLS counted every rls call.
Results also go to target/bench/rls-latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from e2e.paths import REPO_ROOT, wasm_path
from e2e.procs import stop_all
from e2e.rls import RateLimitService, Redis

from . import configs as C
from .quiet import wait_quiet
from .run import OUT_DIR, BenchError, PinnedEnvoy, _on_signal, check_variant, run_wrk

DOMAIN = "mcp-bench"
RLS_CLUSTER = "ratelimit"
RELEASE_RLS = REPO_ROOT / "target" / "release" / "test-rls"
VARIANTS = ("local", "rls")


def plugin_config(variant: str) -> dict[str, Any]:
    """bench/configs.py's configuration; for `rls` its limit is counted by the RLS."""
    cfg = C.plugin_config("mcp-policy")
    (limit,) = cfg["policies"]["github"]["tools"][C.BENCH_TOOL]["limits"]
    # An hour, not bench/configs.py's minute: Limitador's count must outlive the run for
    # the final check (it counts a window from the first hit); shared data's cost does
    # not depend on the window.
    limit["window"] = "hour"
    # An RLS counter's max is at most 2^32 - 1 (the protocol's hits_addend); never reached.
    limit["max"] = 4_000_000_000
    if variant == "rls":
        limit["backend"] = "rls"
        cfg["rls"] = {"cluster": RLS_CLUSTER, "domain": DOMAIN, "timeout_ms": 100,
                      "on_unavailable": "deny"}
    return cfg


def release_rls() -> Path:
    env = os.environ.get("MCP_POLICY_TEST_RLS")
    if env:
        return Path(env).resolve()
    if not RELEASE_RLS.is_file():
        print("building target/release/test-rls ...", flush=True)
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "mcp-policy-test-rls"],
                       cwd=REPO_ROOT, check=True)
    return RELEASE_RLS


def limits_file(work: Path) -> str:
    config = work / "rls-plugin-config.json"
    config.write_text(json.dumps(plugin_config("rls")))
    done = subprocess.run([str(C.CLI), "rls-config", str(config), "--format", "limitador"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"rls-config failed: {done.stderr}")
    return done.stdout


class PinnedRedis(Redis):
    def __init__(self, *args, core: int | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.core = core

    def argv(self) -> list[str]:
        argv = super().argv()
        return argv if self.core is None else ["taskset", "-c", str(self.core)] + argv


class PinnedRls(RateLimitService):
    def __init__(self, *args, core: int | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.core = core

    def argv(self) -> list[str]:
        argv = super().argv()
        return argv if self.core is None else ["taskset", "-c", str(self.core)] + argv


def counted(redis: Redis) -> int:
    """The RLS's count of the benchmarked caller's calls (Limitador's counter in Redis)."""
    total = 0
    for key in redis.keys():
        if b"counter:" in key and b"counters_of_limit" not in key:
            value = redis.command("GET", key)
            total += int(value) if value is not None else 0
    return total


def decisions(envoy: PinnedEnvoy) -> dict[str, int]:
    stats = envoy.stats(filter="wasmcustom.mcp_policy")
    out = {d: int(stats.get(f"wasmcustom.mcp_policy.decision.{d}", "0"))
           for d in ("allow", "deny", "rate_limited", "invalid", "approval_pending")}
    out["rls_errors"] = int(stats.get("wasmcustom.mcp_policy.rls.errors", "0"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slices", type=int, default=10, help="slices per variant")
    ap.add_argument("--slice", type=float, default=3.0, help="seconds per wrk slice")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per variant")
    ap.add_argument("--quiet-wait", type=float, default=120.0)
    ap.add_argument("--json", type=Path, default=OUT_DIR / "rls-latency.json")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    cpus = sorted(os.sched_getaffinity(0))
    envoy_core, other_core = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    if other_core is not None:
        os.sched_setaffinity(0, {other_core})
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"missing: {tool}", file=sys.stderr)
            return 1
    work = OUT_DIR / "rls-latency"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    body_file = work / "body.json"
    body_file.write_bytes(C.bench_body())
    envoys: dict[str, PinnedEnvoy] = {}
    redis = PinnedRedis(work, name="redis", core=other_core)
    rls = None
    try:
        binary = release_rls()
        os.environ["MCP_POLICY_TEST_RLS"] = str(binary)
        redis.start()
        rls = PinnedRls(work, limits_file(work), redis=redis, name="rls", core=other_core)
        rls.start()
        for v in VARIANTS:
            cfg = C.envoy_config("mcp-policy", wasm_path(), upstream_port=9)
            cfg.plugin_config = plugin_config(v)
            cfg.extra_clusters = [rls.cluster(RLS_CLUSTER)]
            e = PinnedEnvoy(cfg, work / v, concurrency=1, log_level="warning",
                            component_log_level="wasm:info", core=envoy_core, name="envoy")
            e.start(timeout=60)
            envoys[v] = e
            check_variant("mcp-policy", e)
        if counted(redis) < 1:
            raise BenchError("the rls Envoy's checked call was not counted by the RLS")
        if decisions(envoys["rls"])["rls_errors"] or decisions(envoys["local"])["rls_errors"]:
            raise BenchError("RLS errors during the checks")
        wait_quiet(args.quiet_wait)
        for v, e in envoys.items():
            run_wrk(e.url, body_file, connections=1, duration=args.warmup, core=other_core,
                    work_dir=work, name="wrk")
        before = {v: decisions(e) for v, e in envoys.items()}
        rls_before = counted(redis)
        p50: dict[str, list[int]] = {v: [] for v in VARIANTS}
        p99: dict[str, list[int]] = {v: [] for v in VARIANTS}
        done = {v: 0 for v in VARIANTS}
        order = list(VARIANTS)
        for i in range(args.slices):
            wait_quiet(args.quiet_wait)
            for v in order:
                w = run_wrk(envoys[v].url, body_file, connections=1, duration=args.slice,
                            core=other_core, work_dir=work, name="wrk")
                if any(w.errors.values()):
                    raise BenchError(f"{v}: wrk errors {w.errors}")
                p50[v].append(w.p50_us)
                p99[v].append(w.p99_us)
                done[v] += w.requests
            order.reverse()
            print(f"slice {i + 1}/{args.slices}: " + "  ".join(
                f"{v} p50 {p50[v][-1]} p99 {p99[v][-1]} us" for v in VARIANTS), flush=True)
            for e in envoys.values():  # the audit log grows quickly
                if e.log_path.exists():
                    e.log_path.write_bytes(b"")
        time.sleep(0.3)
        for v, e in envoys.items():
            after = decisions(e)
            delta = {k: after[k] - before[v][k] for k in after}
            blocked = sum(delta[k] for k in ("deny", "rate_limited", "invalid", "approval_pending"))
            if delta["allow"] < done[v] or blocked or delta["rls_errors"]:
                raise BenchError(f"{v}: {done[v]} requests but decisions {delta}")
            if not e.alive():
                raise BenchError(f"{v}: Envoy exited")
        rls_counted = counted(redis) - rls_before
        if rls_counted < done["rls"]:
            raise BenchError(f"the RLS counted {rls_counted} calls of {done['rls']}")

        med = statistics.median
        d50 = [r - l for r, l in zip(p50["rls"], p50["local"])]
        d99 = [r - l for r, l in zip(p99["rls"], p99["local"])]
        print()
        print(f"1 connection, {args.slices} alternating slices of {args.slice:g} s per variant "
              f"(medians over slices); Envoy --concurrency 1 on core {envoy_core}, "
              f"wrk + RLS + Redis on core {other_core}; body {len(C.bench_body())} B")
        print(f"{'limit counted':<24} {'requests':>9} {'p50 us':>8} {'p99 us':>8}")
        print(f"{'local (shared data)':<24} {done['local']:>9} {med(p50['local']):>8.0f} "
              f"{med(p99['local']):>8.0f}")
        print(f"{'rls (ShouldRateLimit)':<24} {done['rls']:>9} {med(p50['rls']):>8.0f} "
              f"{med(p99['rls']):>8.0f}")
        print(f"{'added by the RLS':<24} {'':>9} {med(d50):>+8.0f} {med(d99):>+8.0f}"
              f"   (paired; p50 range {min(d50):+d}..{max(d50):+d} us)")
        print(f"checks: every call allowed, 0 RLS errors; the RLS counted {rls_counted} "
              f"of the {done['rls']} rls calls")
        args.json.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": {"slices": args.slices, "slice_s": args.slice, "warmup_s": args.warmup,
                         "envoy_core": envoy_core, "other_core": other_core,
                         "test_rls": str(binary)},
            "requests": done, "p50_us": p50, "p99_us": p99,
            "median": {"local": {"p50_us": med(p50["local"]), "p99_us": med(p99["local"])},
                       "rls": {"p50_us": med(p50["rls"]), "p99_us": med(p99["rls"])},
                       "added": {"p50_us": med(d50), "p99_us": med(d99)}},
        }, indent=2) + "\n")
        print(f"results written to {args.json}")
        return 0
    except BenchError as e:
        print(f"rls_latency failed: {e}", file=sys.stderr)
        return 1
    finally:
        for e in envoys.values():
            e.stop()
        if rls is not None:
            rls.stop()
        redis.stop()
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
