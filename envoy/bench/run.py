"""Throughput and latency of Envoy with mcp-policy, against Envoy's own baselines.

    PYTHONPATH=envoy .venv/bin/python -m bench.run [--rounds 3] [--duration 10] ...

(scripts/bench.sh runs this after installing what it needs.)

Four variants by default (see bench/configs.py): buffer-only, native
(envoy.filters.http.mcp + rbac), wasm-floor (a wasm filter that only holds the request
and copies the body in), mcp-policy (this filter, 83-tool policy, condition + per-grant
counter, audit on); diagnostic ones on request (--variants).
Each round starts each variant's Envoy in turn (the order rotates between rounds) with one
worker (--concurrency 1) pinned to core 0, and drives it with wrk pinned to core 1:

  check       the benchmarked call is answered 200 with the direct response, and a
              forbidden call is denied (mcp-policy: a JSON-RPC tool error with
              _meta.decision "deny", and a call failing the `require` regex is denied too;
              native: 403 from RBAC; buffer-only and wasm-floor: exempt). A variant that
              fails its check is not measured: the run fails.
  warm-up     wrk, discarded (lets V8 tier the wasm code up).
  throughput  wrk -c CONNECTIONS for DURATION s: Envoy's core saturated; req/s, and the
              p50/p99 under that load (mostly queueing: about connections / throughput).
  latency     wrk -c 1 for LATENCY_DURATION s: one request at a time, so p50/p99 are the
              time Envoy and its filters take per request, without queueing.
  verify      Envoy's own counters agree with wrk: every request of the runs was allowed
              (mcp-policy: wasmcustom.mcp_policy.decision.allow, and one audit line per
              decision in Envoy's log file; native: http.bench.rbac.allowed) and none was
              denied; wrk saw no error or non-2xx answer.

The figures are the medians over the rounds. Results also go to
target/bench/envoy-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from e2e.envoy_bin import find_envoy
from e2e.envoy_proc import EnvoyProcess
from e2e.paths import REPO_ROOT, wasm_path
from e2e.procs import ManagedProcess, stop_all

from . import configs as C
from .quiet import machine_busy_ticks, wait_quiet

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"
OUT_DIR = REPO_ROOT / "target" / "bench"

# SPEC §8
BUDGET_VS_BUFFER = 0.65
BUDGET_VS_NATIVE = 2.0
BUDGET_P99_ADDED_US = 50.0


class BenchError(RuntimeError):
    pass


class PinnedEnvoy(EnvoyProcess):
    """An EnvoyProcess run under `taskset -c CORE` (every Envoy thread on that core)."""

    def __init__(self, *args, core: int | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.core = core

    def argv(self) -> list[str]:
        argv = super().argv()
        if self.core is None:
            return argv
        return ["taskset", "-c", str(self.core)] + argv


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    p50_us: int
    p90_us: int
    p99_us: int
    p999_us: int
    mean_us: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


# --------------------------------------------------------------------------------------
# CPU accounting: is Envoy's core saturated, and did anything else use the machine?
# --------------------------------------------------------------------------------------

HZ = os.sysconf("SC_CLK_TCK")


def process_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in ticks."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15


def children_ticks() -> int:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((r.ru_utime + r.ru_stime) * HZ)


def self_ticks() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return round((r.ru_utime + r.ru_stime) * HZ)


@dataclass
class CpuUse:
    """Cores used during a run: Envoy, wrk (and this driver), everything else."""
    envoy: float
    wrk: float
    foreign: float


class CpuMeter:
    def __init__(self, envoy_pid: int):
        self.pid = envoy_pid
        self.t0 = time.monotonic()
        self.m0, self.e0 = machine_busy_ticks(), process_ticks(envoy_pid)
        self.c0, self.s0 = children_ticks(), self_ticks()

    def stop(self) -> CpuUse:
        wall = (time.monotonic() - self.t0) * HZ
        m, e = machine_busy_ticks() - self.m0, process_ticks(self.pid) - self.e0
        ours = children_ticks() - self.c0 + self_ticks() - self.s0
        return CpuUse(envoy=e / wall, wrk=ours / wall, foreign=max(0.0, (m - e - ours) / wall))


@dataclass
class Sample:
    """One variant in one round."""
    variant: str
    round: int
    throughput: WrkResult
    latency: WrkResult
    checks: list[str] = field(default_factory=list)
    cpu_throughput: CpuUse | None = None
    cpu_latency: CpuUse | None = None
    attempts: int = 1


# --------------------------------------------------------------------------------------
# load generation
# --------------------------------------------------------------------------------------

def run_wrk(url: str, body_file: Path, *, connections: int, duration: float, core: int | None,
            work_dir: Path, name: str) -> WrkResult:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s",
            "-s", str(LUA), url]
    if core is not None:
        argv = ["taskset", "-c", str(core)] + argv
    env = dict(os.environ, BENCH_BODY=str(body_file), BENCH_AGENT=C.AGENT_ID)
    proc = ManagedProcess(name, argv, work_dir, env=env)
    proc.stdout_path.unlink(missing_ok=True)
    proc.stderr_path.unlink(missing_ok=True)
    proc.start()
    try:
        code = proc.wait_exit(duration + 30)
        if code is None:
            raise BenchError(f"wrk did not finish: {proc.output()}")
    finally:
        proc.stop()
    out = proc.stdout_path.read_text(errors="replace")
    line = next((l for l in out.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if code != 0 or line is None:
        raise BenchError(f"wrk failed (exit {code}):\n{proc.output()}")
    d = json.loads(line.split(" ", 1)[1])
    return WrkResult(
        requests=d["requests"], duration_s=d["duration_us"] / 1e6,
        p50_us=d["p50"], p90_us=d["p90"], p99_us=d["p99"], p999_us=d["p999"],
        mean_us=d["lat_mean"],
        errors={k[4:]: d[k] for k in d if k.startswith("err_")})


# --------------------------------------------------------------------------------------
# checks: a filter that does no work must not look fast
# --------------------------------------------------------------------------------------

def _post(http: httpx.Client, url: str, body: bytes) -> httpx.Response:
    return http.post(url, content=body, headers=C.REQUEST_HEADERS)


def check_variant(variant: str, envoy: EnvoyProcess) -> list[str]:
    """Raises BenchError unless the variant allows the benchmarked call and denies a
    forbidden one. Returns what was checked, for the report."""
    done = []
    with httpx.Client(trust_env=False, timeout=5.0) as http:
        r = _post(http, envoy.url, C.bench_body())
        if r.status_code != 200 or r.text != C.DIRECT_BODY:
            raise BenchError(f"{variant}: the benchmarked call was not answered by the direct "
                             f"response: {r.status_code} {r.text[:300]!r}")
        done.append("allowed call -> 200 direct response")
        if variant == "buffer-only" or variant in C.FLOOR_VARIANTS:
            return done
        r = _post(http, envoy.url, C.forbidden_body())
        if variant == "native":
            if r.status_code != 403:
                raise BenchError(f"native: forbidden tool not denied by RBAC: "
                                 f"{r.status_code} {r.text[:300]!r}")
            done.append(f"forbidden {C.FORBIDDEN_TOOL} -> 403 (RBAC)")
            return done
        # mcp-policy: the forbidden tool, and the benchmarked tool failing its condition
        cases = [(C.forbidden_body(), f"forbidden {C.FORBIDDEN_TOOL}", "/default")]
        if C.FILTER_VARIANTS[variant][0]:
            cases.append((C.bench_body(repo="Not A Repo"), f"{C.BENCH_TOOL} failing require",
                          f"/tools/{C.BENCH_TOOL}/require/0"))
        for body, what, rule in cases:
            r = _post(http, envoy.url, body)
            try:
                result = r.json()["result"]
                ok = (r.status_code == 200 and result["isError"] is True
                      and result["_meta"]["decision"] == "deny" and result["_meta"]["rule"] == rule)
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                raise BenchError(f"{variant}: {what} not denied as expected: "
                                 f"{r.status_code} {r.text[:400]!r}")
            done.append(f"{what} -> 200 isError, decision deny, rule {rule}")
    return done


def verify_counts(variant: str, before: dict[str, str], after: dict[str, str],
                  completed: int, envoy: EnvoyProcess) -> str:
    """Envoy's counters over the measured runs agree with what wrk completed."""
    def delta(name: str) -> int:
        return int(after.get(name, "0")) - int(before.get(name, "0"))

    if variant in C.FILTER_VARIANTS:
        allowed = delta("wasmcustom.mcp_policy.decision.allow")
        blocked = sum(delta(f"wasmcustom.mcp_policy.decision.{d}")
                      for d in ("deny", "rate_limited", "invalid", "approval_pending"))
        if allowed < completed or blocked:
            raise BenchError(f"{variant}: {allowed} allowed, {blocked} blocked decisions "
                             f"for {completed} completed requests")
        return f"{allowed} allow decisions, 0 blocked"
    if variant == "native":
        allowed, denied = delta("http.bench.rbac.allowed"), delta("http.bench.rbac.denied")
        if allowed < completed or denied:
            raise BenchError(f"native: RBAC allowed {allowed}, denied {denied} "
                             f"for {completed} completed requests")
        return f"RBAC allowed {allowed}, denied 0"
    ok = delta("http.bench.downstream_rq_2xx")
    if ok < completed:
        raise BenchError(f"{variant}: {ok} 2xx answers for {completed} completed requests")
    return f"{ok} 2xx answers"


def count_audit_lines(log: Path) -> int:
    n = 0
    with open(log, "rb") as f:
        for line in f:
            if b"mcp_policy decision {" in line:
                n += 1
    return n


# --------------------------------------------------------------------------------------
# one variant, one round
# --------------------------------------------------------------------------------------

def measure(variant: str, rnd: int, args: argparse.Namespace, work: Path,
            body_file: Path) -> Sample:
    vdir = work / f"r{rnd}-{variant}"
    shutil.rmtree(vdir, ignore_errors=True)
    cfg = C.envoy_config(variant, wasm_path(), upstream_port=9)
    # Envoy's log goes to a file (--log-path); the wasm component logs at info, so the
    # audit line of every decision is written, as in production.
    envoy = PinnedEnvoy(cfg, vdir, concurrency=1, log_level="warning",
                        component_log_level="wasm:info", core=args.envoy_core,
                        name="envoy")
    envoy.start(timeout=60)
    try:
        checks = check_variant(variant, envoy)
        audited = variant in C.FILTER_VARIANTS and C.FILTER_VARIANTS[variant][2]
        audit_before = count_audit_lines(envoy.log_path) if audited else 0
        run_wrk(envoy.url, body_file, connections=args.connections, duration=args.warmup,
                core=args.wrk_core, work_dir=vdir, name="wrk-warmup")
        before = envoy.stats()
        assert envoy.proc is not None and envoy.proc.pid is not None
        meter = CpuMeter(envoy.proc.pid)
        thr = run_wrk(envoy.url, body_file, connections=args.connections,
                      duration=args.duration, core=args.wrk_core, work_dir=vdir,
                      name="wrk-throughput")
        cpu_thr = meter.stop()
        meter = CpuMeter(envoy.proc.pid)
        lat = run_wrk(envoy.url, body_file, connections=1, duration=args.latency_duration,
                      core=args.wrk_core, work_dir=vdir, name="wrk-latency")
        cpu_lat = meter.stop()
        time.sleep(0.2)
        after = envoy.stats()
        for w, what in ((thr, "throughput"), (lat, "latency")):
            if any(w.errors.values()):
                raise BenchError(f"{variant}: wrk {what} run saw errors {w.errors}")
        completed = thr.requests + lat.requests
        checks.append(verify_counts(variant, before, after, completed, envoy))
        if not envoy.alive():
            raise BenchError(f"{variant}: Envoy exited during the run")
    finally:
        envoy.stop()
    if audited:
        audit = count_audit_lines(envoy.log_path) - audit_before
        # The warm-up's decisions are logged too; at least one line per measured request.
        if audit < completed:
            raise BenchError(f"mcp-policy: {audit} audit lines for {completed} requests")
        checks.append(f"{audit} audit log lines (warm-up included)")
    if not args.keep_logs:
        envoy.log_path.unlink(missing_ok=True)
    return Sample(variant, rnd, thr, lat, checks, cpu_thr, cpu_lat)


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------

def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(samples: list[Sample]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in C.VARIANTS + C.EXTRA_VARIANTS:
        s = [x for x in samples if x.variant == v]
        if not s:
            continue
        out[v] = {
            "rps": med([x.throughput.rps for x in s]),
            "loaded_p50_us": med([x.throughput.p50_us for x in s]),
            "loaded_p99_us": med([x.throughput.p99_us for x in s]),
            "rps_1conn": med([x.latency.rps for x in s]),
            "p50_us": med([x.latency.p50_us for x in s]),
            "p99_us": med([x.latency.p99_us for x in s]),
            "p999_us": med([x.latency.p999_us for x in s]),
            "envoy_cores": med([x.cpu_throughput.envoy for x in s]),
            "wrk_cores": med([x.cpu_throughput.wrk for x in s]),
            "foreign_cores_max": max(max(x.cpu_throughput.foreign, x.cpu_latency.foreign)
                                     for x in s),
            "rounds": [{"rps": round(x.throughput.rps), "loaded_p50_us": x.throughput.p50_us,
                        "loaded_p99_us": x.throughput.p99_us, "p50_us": x.latency.p50_us,
                        "p99_us": x.latency.p99_us, "p999_us": x.latency.p999_us,
                        "envoy_cores": round(x.cpu_throughput.envoy, 3),
                        "wrk_cores": round(x.cpu_throughput.wrk, 3),
                        "foreign_cores": round(max(x.cpu_throughput.foreign,
                                                   x.cpu_latency.foreign), 3),
                        "attempts": x.attempts, "checks": x.checks} for x in s],
        }
    return out


def verdicts(summary: dict[str, Any]) -> list[tuple[str, str, bool]]:
    f, b, n = (summary.get(k) for k in ("mcp-policy", "buffer-only", "native"))
    rows = []
    if f and b:
        r = f["rps"] / b["rps"]
        rows.append((f"throughput >= {BUDGET_VS_BUFFER} x buffer-only", f"{r:.2f} x", r >= BUDGET_VS_BUFFER))
        added = f["p99_us"] - b["p99_us"]
        rows.append((f"p99 added <= {BUDGET_P99_ADDED_US:g} us (1 connection)", f"{added:+.0f} us",
                     added <= BUDGET_P99_ADDED_US))
    if f and n:
        r = f["rps"] / n["rps"]
        rows.append((f"throughput >= {BUDGET_VS_NATIVE:g} x native", f"{r:.2f} x", r >= BUDGET_VS_NATIVE))
    return rows


def cpu_us_per_request(s: dict[str, Any]) -> float:
    """Envoy's CPU time per request in the throughput run (all its threads)."""
    return s["envoy_cores"] * 1e6 / s["rps"] if s["rps"] else float("nan")


def print_report(summary: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    print(f"Envoy throughput/latency: {args.rounds} round(s), medians; "
          f"throughput run {args.duration:g} s at {args.connections} connections, "
          f"latency run {args.latency_duration:g} s at 1 connection; "
          f"Envoy --concurrency 1 on core {args.envoy_core}, wrk -t1 on core {args.wrk_core}; "
          f"body {len(C.bench_body())} B")
    print(f"{'':<18} {'saturated':^27}   {'one request at a time':^28}   {'Envoy CPU':^18}")
    print(f"{'variant':<18} {'req/s':>9} {'p50 us':>8} {'p99 us':>8}   "
          f"{'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9}   {'cores':>6} {'us/req':>8}")
    for v in C.VARIANTS + C.EXTRA_VARIANTS:
        s = summary.get(v)
        if not s:
            continue
        print(f"{v:<18} {s['rps']:>9.0f} {s['loaded_p50_us']:>8.0f} {s['loaded_p99_us']:>8.0f}   "
              f"{s['p50_us']:>8.0f} {s['p99_us']:>8.0f} {s['p999_us']:>9.0f}   "
              f"{s['envoy_cores']:>6.2f} {cpu_us_per_request(s):>8.1f}")
    f, b, n = (summary.get(k) for k in ("mcp-policy", "buffer-only", "native"))
    w = summary.get("wasm-floor")
    print()
    for top, bottom in (("wasm-floor", "buffer-only"), ("mcp-policy", "wasm-floor"),
                        ("mcp-policy", "buffer-only"), ("mcp-policy", "native")):
        t, u = summary.get(top), summary.get(bottom)
        if t and u:
            label = f"{top} / {bottom} throughput:"
            print(f"{label:<36} {t['rps'] / u['rps']:.3f}   "
                  f"(by Envoy CPU per request: {cpu_us_per_request(u) / cpu_us_per_request(t):.3f})")
    if n and b:
        print(f"native / buffer-only throughput:     {n['rps'] / b['rps']:.3f}")
    if f and b:
        print(f"latency added by mcp-policy over buffer-only, 1 connection: "
              f"p50 {f['p50_us'] - b['p50_us']:+.0f} us, p99 {f['p99_us'] - b['p99_us']:+.0f} us")
        print(f"latency added under saturation (mostly queueing): "
              f"p50 {f['loaded_p50_us'] - b['loaded_p50_us']:+.0f} us, "
              f"p99 {f['loaded_p99_us'] - b['loaded_p99_us']:+.0f} us")
        print(f"Envoy CPU added per request by mcp-policy: "
              f"{cpu_us_per_request(f) - cpu_us_per_request(b):.1f} us"
              + (f" (wasm-floor: {cpu_us_per_request(w) - cpu_us_per_request(b):.1f} us)"
                 if w else ""))
    sat = [v for v in C.VARIANTS + C.EXTRA_VARIANTS if summary.get(v) and summary[v]["envoy_cores"] < 0.9]
    if sat:
        print(f"note: Envoy's core was not saturated for {', '.join(sat)} "
              f"(< 0.9 cores): the load generator or the machine limited req/s there")
    foreign = max((summary[v]["foreign_cores_max"] for v in summary),
                  default=0.0)
    print(f"other processes on the machine during the runs: at most {foreign:.2f} cores")
    print()
    print("SPEC §8 budgets:")
    for name, value, ok in verdicts(summary):
        print(f"  {'HOLDS' if ok else 'FAILS':<5}  {name:<46} {value}")
    print()
    print("per round (req/s saturated | p99 us at 1 connection | Envoy cores):")
    for v in C.VARIANTS + C.EXTRA_VARIANTS:
        s = summary.get(v)
        if s:
            print(f"  {v:<18} " + "   ".join(
                f"{r['rps']:>6} | {r['p99_us']:>5} | {r['envoy_cores']:.2f}" for r in s["rounds"]))


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def preflight(args: argparse.Namespace) -> None:
    missing = []
    if find_envoy() is None:
        missing.append("envoy (run scripts/setup.sh)")
    if shutil.which("wrk") is None:
        missing.append("wrk (apt-get install wrk)")
    if not wasm_path().is_file():
        missing.append(f"{wasm_path()} (run scripts/setup.sh)")
    if not C.CLI.is_file():
        missing.append(f"{C.CLI} (run scripts/setup.sh)")
    if not C.GITHUB_POLICY.is_file():
        missing.append(str(C.GITHUB_POLICY))
    if any(v in args.variants for v in C.FLOOR_VARIANTS) and not C.FLOOR_WASM.is_file():
        missing.append(f"{C.FLOOR_WASM} (scripts/bench.sh builds envoy/bench/floor)")
    if args.envoy_core is not None and shutil.which("taskset") is None:
        missing.append("taskset (util-linux)")
    if missing:
        raise BenchError("missing: " + ", ".join(missing))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="throughput run, seconds")
    ap.add_argument("--latency-duration", type=float, default=5.0,
                    help="1-connection latency run, seconds")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up run, seconds")
    ap.add_argument("--connections", type=int, default=16, help="connections of the throughput run")
    ap.add_argument("--variants", default=",".join(C.VARIANTS),
                    help="comma-separated, among " + ",".join(C.VARIANTS + C.EXTRA_VARIANTS))
    ap.add_argument("--keep-logs", action="store_true", help="keep Envoy's logs in target/bench")
    ap.add_argument("--quiet-wait", type=float, default=120.0,
                    help="seconds to wait, before each measurement, for other work to stop")
    ap.add_argument("--max-foreign", type=float, default=0.05,
                    help="cores other processes may use during a run before it is measured again")
    ap.add_argument("--attempts", type=int, default=3,
                    help="measurements of a variant in a round while other work disturbs it")
    ap.add_argument("--json", type=Path, default=OUT_DIR / "envoy-results.json")
    args = ap.parse_args(argv)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        args.envoy_core, args.wrk_core = cpus[0], cpus[1]
        os.sched_setaffinity(0, {args.wrk_core})  # this driver stays off Envoy's core
    else:
        print("warning: fewer than 2 CPUs; Envoy and wrk are not pinned", file=sys.stderr)
        args.envoy_core = args.wrk_core = None
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in C.VARIANTS + C.EXTRA_VARIANTS:
            ap.error(f"unknown variant {v}")

    try:
        preflight(args)
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        work = OUT_DIR / "envoy"
        work.mkdir(parents=True, exist_ok=True)
        body_file = work / "body.json"
        body_file.write_bytes(C.bench_body())
        samples: list[Sample] = []
        for rnd in range(1, args.rounds + 1):
            k = (rnd - 1) % len(variants)
            for v in variants[k:] + variants[:k]:  # rotate the order between rounds
                t0 = time.monotonic()
                for attempt in range(1, args.attempts + 1):
                    wait_quiet(args.quiet_wait)
                    s = measure(v, rnd, args, work, body_file)
                    s.attempts = attempt
                    foreign = max(s.cpu_throughput.foreign, s.cpu_latency.foreign)
                    if foreign <= args.max_foreign:
                        break
                    print(f"round {rnd} {v}: other processes used {foreign:.2f} cores during "
                          f"the run; measuring again", flush=True)
                samples.append(s)
                c = s.cpu_throughput
                print(f"round {rnd} {v:<18} {s.throughput.rps:>8.0f} req/s  "
                      f"p50 {s.throughput.p50_us:>5} p99 {s.throughput.p99_us:>5} us | 1 conn: "
                      f"p50 {s.latency.p50_us:>4} p99 {s.latency.p99_us:>4} us | cores: envoy "
                      f"{c.envoy:.2f} wrk {c.wrk:.2f} other {c.foreign:.2f}  "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
                print(f"      checks: {'; '.join(s.checks)}", flush=True)
        summary = summarize(samples)
        print_report(summary, args)
        args.json.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": {k: getattr(args, k) for k in ("rounds", "duration", "latency_duration",
                                                        "warmup", "connections", "envoy_core",
                                                        "wrk_core")},
            "body_bytes": len(C.bench_body()),
            "summary": summary,
            "budgets": [{"budget": n, "value": v, "holds": ok} for n, v, ok in verdicts(summary)],
        }, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
        return 0
    except BenchError as e:
        print(f"bench failed: {e}", file=sys.stderr)
        return 1
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
