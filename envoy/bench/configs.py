"""The three Envoy set-ups the benchmark compares, the request bodies, and the policy.

Every variant is one listener on 127.0.0.1 whose /mcp route is a direct response (Envoy
answers 200 itself, no upstream), so what is measured is Envoy plus its HTTP filters:

  buffer-only  envoy.filters.http.buffer -> router
               The floor for any filter that must read the whole body before the route
               answers: without a filter that waits for the body, a direct response is
               sent as soon as the headers are decoded, and nothing reads the body.
  native       envoy.filters.http.mcp -> envoy.filters.http.rbac -> buffer -> router
               Envoy's own MCP filter parses the JSON-RPC body and stores
               {jsonrpc, method, params.name} as dynamic metadata under
               "envoy.filters.http.mcp"; RBAC (action DENY) matches that metadata
               (Permission.sourced_metadata, a MetadataMatcher on
               dynamic metadata) and answers 403 for the
               forbidden tool. The MCP filter only parses POSTs whose Content-Type is
               application/json and whose Accept lists both application/json and
               text/event-stream (as MCP clients send), and stops parsing as soon as it
               has the fields it extracts; the buffer filter after RBAC makes sure the
               whole body is read before the direct response, as in buffer-only.
  wasm-floor   envoy.filters.http.wasm (envoy/bench/floor, V8) -> router
               The least a body-judging wasm filter does: hold the headers, pause on
               each body chunk, copy the whole body into the VM once, continue. What
               is left between it and buffer-only is the price of wasm itself on this
               machine; what is left between mcp-policy and it is the policy work.
  mcp-policy   envoy.filters.http.wasm (this project's filter, V8) -> router
               The filter holds the headers until it has judged the whole body, so it
               needs no buffer filter. Policy: the 83 tools of the Intercept GitHub
               policy under default deny, a `require` regex and a per-grant limit on the
               benchmarked tool, identity from a header, a grant table, audit log on.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from e2e.envoy_config import EnvoyConfig, buffer_filter
from e2e.paths import REPO_ROOT

MCP_PATH = "/mcp"
# What Envoy's direct response answers on /mcp (a JSON-RPC result for id 1).
DIRECT_BODY = '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}'

BENCH_TOOL = "issue_write"          # one of the 83 tools of github.yaml
FORBIDDEN_TOOL = "delete_repository"  # not in github.yaml: denied by `default: deny` / RBAC
AGENT_HEADER = "x-agent-id"
AGENT_ID = "bench-agent-1"
GITHUB_POLICY = REPO_ROOT.parent / "shared" / "policies" / "intercept" / "github.yaml"
CLI = REPO_ROOT / "target" / "release" / "mcp-policy"

# Headers every request carries (the native MCP filter ignores POSTs without them).
REQUEST_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    AGENT_HEADER: AGENT_ID,
}

VARIANTS = ("buffer-only", "native", "wasm-floor", "mcp-policy")

# The calibration filter of envoy/bench/floor (built by scripts/bench.sh).
FLOOR_WASM = REPO_ROOT / "target" / "bench-floor" / "wasm32-wasip1" / "release" / "mcp_policy_bench_floor.wasm"

# Diagnostic variants of mcp-policy (not run by default; `run.py --variants ...`): the
# same filter and policy with parts switched off, to see what each part costs in Envoy.
#   name -> (require on the benchmarked tool, per-grant limit on it, audit log)
FILTER_VARIANTS = {
    "mcp-policy": (True, True, True),
    "mcp-policy-noaudit": (True, True, False),
    "mcp-policy-listed": (False, False, False),  # the tool is listed, nothing else
}
# The floor filter with the host calls a real filter makes added, to price each in
# Envoy (see envoy/bench/floor/src/lib.rs): name -> its plugin configuration.
FLOOR_VARIANTS = {
    "wasm-floor": "",
    "floor+pairs": "pairs",
    "floor+props4": "props=4",
    "floor+metrics2": "metrics=2",
    "floor+log": "log",
    "floor+shared": "shared",
    "floor+all": "pairs,props=4,metrics=2,log,shared",
}
EXTRA_VARIANTS = tuple(v for v in list(FILTER_VARIANTS) + list(FLOOR_VARIANTS)
                       if v not in VARIANTS)


def tools_call(tool: str, arguments: dict[str, Any], request_id: int = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments}},
                      separators=(",", ":")).encode()


def bench_body(size: int = 1024, repo: str = "widgets") -> bytes:
    """A `tools/call` of BENCH_TOOL exactly `size` bytes long (padding in args.body)."""
    args = {"method": "create", "owner": "acme", "repo": repo,
            "title": "Nightly build fails on arm64 after the toolchain upgrade",
            "labels": ["bug", "ci"], "body": ""}
    empty = len(tools_call(BENCH_TOOL, args))
    sentence = ("Steps to reproduce: run the nightly pipeline on an arm64 runner; the link "
                "step fails with an undefined symbol in the vendored zlib. ")
    need = max(0, size - empty)
    text = (sentence * (need // len(sentence) + 1))[:need]
    args["body"] = text
    body = tools_call(BENCH_TOOL, args)
    assert len(body) == max(size, empty), (len(body), size)
    return body


def forbidden_body() -> bytes:
    return tools_call(FORBIDDEN_TOOL, {"owner": "acme", "repo": "widgets"})


# --------------------------------------------------------------------------------------
# the mcp-policy plugin configuration
# --------------------------------------------------------------------------------------

def github_policy() -> dict[str, Any]:
    """github.yaml (83 tools) as JSON, through the project's own `mcp-policy convert`."""
    out = subprocess.run([str(CLI), "convert", str(GITHUB_POLICY)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def plugin_config(variant: str = "mcp-policy") -> dict[str, Any]:
    require, limit, audit = FILTER_VARIANTS[variant]
    policy = github_policy()
    assert len(policy["tools"]) == 83, len(policy["tools"])
    policy["default"] = "deny"
    tool = policy["tools"][BENCH_TOOL]
    if require:
        # A condition on an argument (a regex, so the regex engine runs on every call) ...
        tool["require"] = [{
            "conditions": [{"path": "args.repo", "op": "regex",
                            "value": "^[a-z0-9][a-z0-9._-]*$"}],
            "on_deny": "repo must be a plain lower-case repository name",
        }]
    if limit:
        # ... and a per-grant counter whose max is never reached, so every allowed call
        # reserves it with a compare-and-swap on shared data.
        tool["limits"] = [{"counter": "issue_writes", "window": "minute",
                           "max": 1_000_000_000_000, "scope": "grant"}]
    return {
        "policies": {"github": policy},
        "grants": {"bench": {"policy": "github", "match": [AGENT_ID]}},
        "unmatched": "deny",
        "identity": [{"header": AGENT_HEADER}],
        "mcp": {"paths": [MCP_PATH], "max_body_bytes": 1 << 20},
        "audit": {"log": audit, "arguments": "keys"},
    }


# --------------------------------------------------------------------------------------
# the native MCP filter + RBAC
# --------------------------------------------------------------------------------------

def native_mcp_filter() -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.mcp",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.mcp.v3.Mcp",
            # The default limit (8 KiB) is enough for a 1 KiB call; say so explicitly.
            "max_request_body_size": 1 << 20,
        },
    }


def _mcp_metadata(path: list[str], exact: str) -> dict[str, Any]:
    # Permission.sourced_metadata (DYNAMIC) is the non-deprecated form of Permission.metadata.
    return {"sourced_metadata": {
        "metadata_source": "DYNAMIC",
        "metadata_matcher": {
            "filter": "envoy.filters.http.mcp",
            "path": [{"key": k} for k in path],
            "value": {"string_match": {"exact": exact}},
        },
    }}


def native_rbac_filter(forbidden_tool: str = FORBIDDEN_TOOL) -> dict[str, Any]:
    """RBAC DENY: a tools/call whose params.name is `forbidden_tool` gets 403."""
    return {
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {
                "action": "DENY",
                "policies": {
                    "deny-forbidden-tool": {
                        "permissions": [{"and_rules": {"rules": [
                            _mcp_metadata(["method"], "tools/call"),
                            _mcp_metadata(["params", "name"], forbidden_tool),
                        ]}}],
                        "principals": [{"any": True}],
                    }
                },
            },
        },
    }


# --------------------------------------------------------------------------------------
# bootstraps
# --------------------------------------------------------------------------------------

def envoy_config(variant: str, wasm: Path, upstream_port: int) -> EnvoyConfig:
    """The bootstrap of one variant. upstream_port names a cluster nothing routes to."""
    common = dict(upstream_port=upstream_port, port=0, admin_port=0,
                  direct_responses={MCP_PATH: (200, DIRECT_BODY)}, stat_prefix="bench")
    if variant == "buffer-only":
        return EnvoyConfig(buffer_max_request_bytes=1 << 20, **common)
    if variant == "native":
        return EnvoyConfig(extra_filters=[native_mcp_filter(), native_rbac_filter(),
                                          buffer_filter(1 << 20)], **common)
    if variant in FLOOR_VARIANTS:
        return EnvoyConfig(wasm_path=FLOOR_WASM, plugin_config=FLOOR_VARIANTS[variant],
                           allow_on_headers_stop_iteration=True,
                           failure_policy="FAIL_CLOSED", **common)
    if variant in FILTER_VARIANTS:
        return EnvoyConfig(wasm_path=wasm, plugin_config=plugin_config(variant),
                           allow_on_headers_stop_iteration=True,
                           failure_policy="FAIL_CLOSED", **common)
    raise ValueError(f"unknown variant {variant!r}")


if __name__ == "__main__":
    # The mcp-policy plugin configuration the benchmark uses, as JSON (scripts/bench.sh
    # gives it to the wasmtime cost binary, so both measure the same policy).
    import sys

    json.dump(plugin_config(), sys.stdout)
    sys.stdout.write("\n")
