#!/usr/bin/env python3
"""Fuel (wasm instructions) of one warm exchange, by function of the filter.

    python3 scripts/fuel-profile.py [KIB] [--config PLUGIN.json] [--top N]

Builds the filter with symbol names, optimises it as scripts/build-wasm.sh does, adds
Binaryen's --log-execution instrumentation (a host call at every function entry and
loop header), runs `cost --trace KIB` on it, and charges each stretch of fuel to the
function whose entry or loop began it. A callee's own code is charged to it; what its
caller does after it returns is charged to the callee too (returns are not marked), so
read the figures as "where the instructions ran", roughly. The instrumentation adds two
instructions per mark. Needs wasm-opt and wasm2wat (apt binaryen, wabt) and the cost
binary (scripts/bench.sh builds it).
"""
import argparse, collections, os, re, subprocess, sys

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("kib", nargs="?", default="1")
ap.add_argument("--config", default=os.path.join(repo, "target/bench/plugin-config.json"))
ap.add_argument("--top", type=int, default=40)
args = ap.parse_args()

features = ["--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int", "--enable-multivalue", "--enable-reference-types"]
target = os.path.join(repo, "target/fuel-profile")
env = dict(os.environ, CARGO_PROFILE_RELEASE_STRIP="false")
subprocess.run(["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip1",
                "-p", "mcp-policy-filter", "--target-dir", target], check=True, cwd=repo, env=env)
built = os.path.join(target, "wasm32-wasip1/release/mcp_policy.wasm")
opt, logged, wat = (os.path.join(target, n) for n in ("opt.wasm", "logged.wasm", "logged.wat"))
subprocess.run(["wasm-opt", "-Oz", "-g", *features, built, "-o", opt], check=True)
subprocess.run(["wasm-opt", "-g", "--log-execution", *features, opt, "-o", logged], check=True)
subprocess.run(["wasm2wat", logged, "-o", wat], check=True)

# Mark id -> the function it is in.
where, func, last_const = {}, "?", None
for line in open(wat):
    m = re.match(r"\s*\(func \$(\S+)", line)
    if m:
        func = m.group(1)
    m = re.match(r"\s*i32\.const (-?\d+)", line)
    if m:
        last_const = int(m.group(1))
    elif "call $log_execution" in line and last_const is not None:
        where[last_const] = func

def short(name):
    # Legacy Rust mangling: _ZN<len><seg>...17h<hash>E -> seg::seg
    if name.startswith("_ZN"):
        segs, rest = [], name[3:]
        while rest and rest[0].isdigit():
            n = int(re.match(r"\d+", rest).group())
            digits = len(str(n))
            segs.append(rest[digits:digits + n])
            rest = rest[digits + n:]
        segs = [s for s in segs if not re.fullmatch(r"h[0-9a-f]{16}", s)]
        name = "::".join(segs)
    name = name.replace("$LT$", "<").replace("$GT$", ">").replace("$u20$", " ").replace("..", "::")
    return name[:100]

cost = os.path.join(repo, "target/bench-host/release/cost")
out = subprocess.run([cost, "--wasm", logged, "--config", args.config, "--trace", args.kib],
                     check=True, capture_output=True, text=True).stdout
by_func, prev, total = collections.Counter(), "(host callback)", 0
for line in out.splitlines():
    m = re.match(r"\s*(\d+)\s+(.*)$", line)
    if not m or m.group(2) == "total":
        continue
    fuel, label = int(m.group(1)), m.group(2)
    by_func[prev] += fuel
    total += fuel
    if label.startswith("@"):
        prev = short(where.get(int(label[1:]), "?"))
    elif label.startswith("<"):
        prev = "(host callback)"
    else:
        prev = f"(after {label})"
print(f"fuel of one warm {args.kib} KiB exchange, instrumented: {total}")
for name, fuel in by_func.most_common(args.top):
    print(f"{fuel:>8}  {100 * fuel / total:5.1f}%  {name}")
