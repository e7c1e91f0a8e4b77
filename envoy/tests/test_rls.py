"""Fleet-wide limits end to end (SPEC §7.1): real Envoys 1.40 (V8) with the real filter, one
Rate Limit Service shared by them (the test RLS, `envoy/rls`: Kuadrant Limitador's counting
on a real redis-server), the official Python SDK client, and the shared official Python SDK
server whose record file shows what really ran.

The RLS's limits file is never written by hand: it is what `mcp-policy rls-config CONFIG
--format limitador` prints for the very configuration the Envoys run, so the CLI's limits
and the filter's descriptors must agree for any call to be counted at all.

Servers are shared by the module (one Redis, one RLS, six Envoys); every test uses its own
agent ids, so counts never leak between tests. Tests that stop the RLS or Redis start them
again before they end, pass or fail.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from mcp import MCPError

from e2e.approvals import CLI
from e2e.client import call_tool, parse_messages, post, raw_initialize, result_text, tool_call_message
from e2e.envoy_config import EnvoyConfig
from e2e.envoy_proc import EnvoyProcess
from e2e.requirements import missing, require
from e2e.rls import RateLimitService, Redis

DOMAIN = "mcp-fleet"
ECHO_MAX = 3           # echo: 3 calls a minute per caller, counted by the RLS
READS_MAX = 2          # get_file_contents: 2 calls per 2 s per caller, counted by the RLS
READS_WINDOW = 2
SPEND_MAX = 1000       # create_charge: amounts summed, by the RLS

POLICY: dict[str, Any] = {
    "version": "1",
    "default": "deny",
    "tools": {
        "echo": {"rate_limit": {"max": ECHO_MAX, "window": 60, "backend": "rls"}},
        "get_file_contents": {"limits": [{"counter": "reads", "window": READS_WINDOW,
                                          "max": READS_MAX, "scope": "grant", "backend": "rls"}]},
        "create_charge": {"limits": [{"counter": "spend", "window": 60, "max": SPEND_MAX,
                                      "scope": "grant", "increment_from": "args.amount",
                                      "backend": "rls"}]},
        # Counted in shared data only: never a question for the RLS.
        "create_issue": {"rate_limit": {"max": 100, "window": 60}},
    },
}

WASM_FAILURES = ("RuntimeError", "panicked", "wasm trap", "Plugin configured to fail closed",
                 "failed: Uncaught", "Function: proxy_on")
RLS_ERRORS = "wasmcustom.mcp_policy.rls.errors"


def plugin_config(cluster: str = "ratelimit", namespace: str | None = None,
                  **rls: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "policy": POLICY,
        "identity": [{"header": "x-agent-id"}],
        "rls": {"cluster": cluster, "domain": DOMAIN, "timeout_ms": 2000, **rls},
    }
    if namespace is not None:
        config["counters"] = {"namespace": namespace}
    return config


def agent(tag: str) -> dict[str, str]:
    """Headers of a caller no other test uses."""
    return {"x-agent-id": f"{tag}-{uuid.uuid4().hex[:12]}"}


def rls_config(config_file: Path) -> str:
    """`mcp-policy rls-config CONFIG --format limitador`, as an operator runs it."""
    if not CLI.is_file():
        missing(f"the CLI is not built: {CLI} (cargo build --release -p mcp-policy-cli)")
    done = subprocess.run([str(CLI), "rls-config", str(config_file), "--format", "limitador"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"rls-config failed ({done.returncode}): {done.stderr}"
    return done.stdout


# -- the fleet: one Redis, one RLS, Envoys in front of the shared MCP server ----------------------
class Fleet:
    def __init__(self, work: Path, upstream):
        self.work = work
        self.upstream = upstream
        self.config_file = work / "plugin-config.json"
        self.config_file.write_text(json.dumps(plugin_config(), indent=2))
        self.limits_text = rls_config(self.config_file)
        # Another configuration on the same RLS, naming its own counter namespace.
        self.other_config_file = work / "plugin-config-other.json"
        self.other_config_file.write_text(json.dumps(plugin_config(namespace="other"), indent=2))
        self.other_limits_text = rls_config(self.other_config_file)
        self.redis = Redis(work, name="redis")
        # Both files are YAML lists: one after the other is the list of both.
        self.rls = RateLimitService(work, self.limits_text + self.other_limits_text,
                                    redis=self.redis, name="rls")
        self.envoys: dict[str, EnvoyProcess] = {}

    def start(self) -> "Fleet":
        self.redis.start()
        self.rls.start()
        # Two replicas of one gateway, the same plugin configuration, one RLS.
        self.a = self._envoy("a", plugin_config())
        self.b = self._envoy("b", plugin_config())
        self.allow = self._envoy("allow", plugin_config(on_unavailable="allow"))
        self.other = self._envoy("other", plugin_config(namespace="other"))
        # A plugin naming a cluster this Envoy does not have.
        self.nowhere = self._envoy("nowhere", plugin_config("no_such_cluster"), concurrency=1,
                                   with_cluster=False)
        self.nowhere_allow = self._envoy("nowhere_allow",
                                         plugin_config("no_such_cluster", on_unavailable="allow"),
                                         concurrency=1, with_cluster=False)
        return self

    def _envoy(self, name: str, config: dict, *, concurrency: int = 2,
               with_cluster: bool = True) -> EnvoyProcess:
        found = require(envoy=True, wasm=True)
        cfg = EnvoyConfig(upstream_port=self.upstream.port,
                          access_log_path=self.work / f"{name}.access.log",
                          wasm_path=found["wasm"], plugin_config=config,
                          extra_clusters=[self.rls.cluster("ratelimit")] if with_cluster else [])
        env = EnvoyProcess(cfg, self.work, concurrency=concurrency, name=f"envoy-{name}",
                           envoy_bin=found["envoy"])
        self.envoys[name] = env
        return env.start()

    def stop(self) -> None:
        for env in self.envoys.values():
            env.stop()
        self.rls.stop()
        self.redis.stop()

    def healthy(self) -> None:
        """Bring the RLS and its Redis back if a test left them down."""
        if not self.redis.alive():
            self.redis.start()
        if not self.rls.alive():
            self.rls.start()

    def log_files(self) -> list[Path]:
        files = [p for e in self.envoys.values() for p in e.log_files()]
        return files + self.rls.log_files() + self.upstream.log_files()


@pytest.fixture(scope="module")
def _fleet(tmp_path_factory, mcp_server_pool) -> Iterator[Fleet]:
    require(envoy=True, wasm=True)
    fleet = Fleet(tmp_path_factory.mktemp("rls"), mcp_server_pool.get())
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def fleet(_fleet, mcp_server) -> Iterator[Fleet]:
    assert mcp_server is _fleet.upstream, "the shared MCP server was restarted"
    _fleet.healthy()
    marks = {name: _log_size(env) for name, env in _fleet.envoys.items()}
    yield _fleet
    for name, env in _fleet.envoys.items():
        assert env.alive(), f"Envoy {name} exited"
        log = _log(env)[marks[name]:]
        bad = [line for line in log.splitlines() if any(w in line for w in WASM_FAILURES)]
        assert not bad, f"wasm failure in Envoy {name}'s log: {bad[:5]}"


def _log(env: EnvoyProcess) -> str:
    return env.log_path.read_text(errors="replace") if env.log_path.exists() else ""


def _log_size(env: EnvoyProcess) -> int:
    return len(_log(env))


def wait_log(env: EnvoyProcess, text: str, mark: int, timeout: float = 5.0) -> bool:
    """Whether Envoy's log says `text` after `mark` (it reaches the file a moment later)."""
    deadline = time.monotonic() + timeout
    while text not in _log(env)[mark:]:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- calls ---------------------------------------------------------------------------------------
def call(env: EnvoyProcess, tool: str, arguments: dict, headers: dict):
    """One tools/call through the official SDK client (its own session)."""
    try:
        return call_tool(env.url, tool, arguments, headers)
    except MCPError as e:  # never expected: refusals are tool errors (deny_as tool_error)
        return e


def ran(result) -> bool:
    return not isinstance(result, MCPError) and not result.is_error


def meta(result) -> dict:
    assert not isinstance(result, MCPError), result
    assert result.is_error, result_text(result)
    return result.meta or {}


def assert_rate_limited(result, rule: str, window_s: int) -> None:
    """SPEC §5: a tool result with isError, a text saying what, why and when to retry, and
    decision / code / rule / retry_after_ms under _meta."""
    m = meta(result)
    text = result_text(result)
    assert m["decision"] == "rate_limited", (m, text)
    assert m["code"] == -32061, m
    assert m["rule"] == rule, m
    retry = m.get("retry_after_ms")
    assert isinstance(retry, int) and 0 < retry <= window_s * 1000, m
    assert text.startswith("Rate limited by policy:"), text
    assert "was not run" in text and re.search(r"Retry in \d+ s\.", text), text


def assert_unavailable_denied(result) -> None:
    m = meta(result)
    text = result_text(result)
    assert m["decision"] == "deny" and m["code"] == -32060, (m, text)
    assert "Rate limiter unavailable, call refused" in text, text
    assert "Rate Limit Service" in text, text


def echoes_run(mcp_server, marker: str) -> list[str]:
    return [args["text"] for name, args in mcp_server.tool_calls()
            if name == "echo" and args.get("text", "").startswith(marker)]


def stat(env: EnvoyProcess, name: str) -> int:
    return env.stat(name, 0) or 0


def wait_rls_counts(fleet: Fleet, timeout: float = 10.0) -> int:
    """After Redis came back: probe (a throwaway caller, its own counter) until the RLS
    answers again; returns how many probes it took."""
    deadline = time.monotonic() + timeout
    probe = agent("probe")
    n = 0
    while True:
        n += 1
        if ran(call(fleet.a, "create_charge", {"amount": 1, "currency": "usd"}, probe)):
            return n
        if time.monotonic() > deadline:
            pytest.fail(f"the RLS did not count again within {timeout}s of Redis' restart\n"
                        f"{fleet.rls.log_text()[-3000:]}")
        time.sleep(0.2)


# -- 1. the limits file ----------------------------------------------------------------------------
def test_the_limits_file_is_the_clis_and_limitador_reads_it(fleet):
    # What the RLS runs on is the CLI's output for the configurations the Envoys run.
    assert fleet.rls.limits_path.read_text() == fleet.limits_text + fleet.other_limits_text
    assert fleet.limits_text == rls_config(fleet.config_file), "rls-config is deterministic"
    checked = fleet.rls.validate()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # One limit per RLS counter, none for the shared-data one, all in the RLS domain.
    text = fleet.limits_text
    assert text.count("max_value:") == 3, text
    for pointer in ("/tools/echo/rate_limit", "/tools/get_file_contents/limits/0",
                    "/tools/create_charge/limits/0"):
        assert pointer in text, (pointer, text)
    assert "create_issue" not in text
    assert text.count(f'namespace: "{DOMAIN}"') == 3, text
    # An explicit counters.namespace gives the same counters other ids.
    ids = set(re.findall(r"mcp_policy\.c\.[0-9a-f]{16}", text))
    other_ids = set(re.findall(r"mcp_policy\.c\.[0-9a-f]{16}", fleet.other_limits_text))
    assert len(ids) == len(other_ids) == 3 and not ids & other_ids, (ids, other_ids)
    # --validate really reads the file: a broken one is refused.
    broken = fleet.rls.validate(text.replace("max_value: 3", "max_value: three"))
    assert broken.returncode != 0, broken.stdout


# -- 2. one limit for the fleet ----------------------------------------------------------------------
def test_two_envoys_share_one_limit_through_the_rls(fleet, mcp_server):
    before = {n: stat(e, "wasmcustom.mcp_policy.decision.rate_limited")
              for n, e in (("a", fleet.a), ("b", fleet.b))}
    errors = {n: stat(e, RLS_ERRORS) for n, e in (("a", fleet.a), ("b", fleet.b))}
    me = agent("fleet")
    marker = f"fleet-{uuid.uuid4().hex[:8]}"
    results = []
    for i in range(8):
        env = fleet.a if i % 2 == 0 else fleet.b
        results.append(call(env, "echo", {"text": f"{marker}-{i}"}, me))
    allowed = [i for i, r in enumerate(results) if ran(r)]
    assert allowed == [0, 1, 2], [(i, ran(r), result_text(r)) for i, r in enumerate(results)]
    # The server ran exactly those three: through both replicas.
    assert sorted(echoes_run(mcp_server, marker)) == [f"{marker}-{i}" for i in (0, 1, 2)]
    for r in results[3:]:
        assert_rate_limited(r, "/tools/echo/rate_limit", 60)
    # Each replica refused its share (calls 3..7 alternate b, a, b, a, b).
    after = {n: stat(e, "wasmcustom.mcp_policy.decision.rate_limited")
             for n, e in (("a", fleet.a), ("b", fleet.b))}
    assert after["a"] - before["a"] == 2 and after["b"] - before["b"] == 3, (before, after)
    assert {n: stat(e, RLS_ERRORS) for n, e in (("a", fleet.a), ("b", fleet.b))} == errors

    # The refusal on the wire (SPEC §5): HTTP 200, the request's id, a tool error.
    headers = raw_initialize(fleet.b.url, me)
    resp = post(fleet.b.url, tool_call_message("echo", {"text": f"{marker}-raw"}, id="over-1"),
                headers)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    (msg,) = parse_messages(resp)
    assert msg["jsonrpc"] == "2.0" and msg["id"] == "over-1", msg
    result = msg["result"]
    assert result["isError"] is True and result["content"][0]["type"] == "text", msg
    assert result["_meta"]["decision"] == "rate_limited", msg

    # Another caller is counted apart: its own three.
    other = agent("fleet-other")
    other_marker = f"other-{uuid.uuid4().hex[:8]}"
    theirs = [call(fleet.b if i % 2 else fleet.a, "echo", {"text": f"{other_marker}-{i}"}, other)
              for i in range(4)]
    assert [ran(r) for r in theirs] == [True, True, True, False]
    assert_rate_limited(theirs[3], "/tools/echo/rate_limit", 60)
    assert len(echoes_run(mcp_server, other_marker)) == 3
    assert len(echoes_run(mcp_server, marker)) == 3

    # A configuration naming another counter namespace, on the same RLS and domain, does not
    # spend this one's quota (SPEC §4.1): the same caller gets its own three there.
    ns_marker = f"ns-{uuid.uuid4().hex[:8]}"
    there = [call(fleet.other, "echo", {"text": f"{ns_marker}-{i}"}, me) for i in range(4)]
    assert [ran(r) for r in there] == [True, True, True, False], [result_text(r) for r in there]
    assert_rate_limited(there[3], "/tools/echo/rate_limit", 60)
    assert len(echoes_run(mcp_server, ns_marker)) == 3


# -- 3. no identity in Redis -------------------------------------------------------------------------
def test_redis_holds_no_identity(fleet):
    who = f"alice-secret-{uuid.uuid4().hex}"
    headers = {"x-agent-id": who}
    assert ran(call(fleet.a, "echo", {"text": "identity"}, headers))
    assert ran(call(fleet.b, "get_file_contents", {"path": "README"}, headers))
    assert ran(call(fleet.a, "create_charge", {"amount": 7, "currency": "usd"}, headers))
    keys = fleet.redis.keys()
    assert keys, "Limitador stored nothing"
    for key in keys:
        for secret in (who.encode(), b"alice-secret", b"x-agent-id"):
            assert secret not in key, key
    # What the keys hold instead: the counters' descriptor ids (those of the limits file)
    # and the scope digest documented in outside/rls.rs: 32 hex digits of
    # SHA-256("grant" 0x1f identity), the identity namespaced by its source.
    identity = f"h:x-agent-id\x1f{who}"
    digest = hashlib.sha256(b"grant\x1f" + identity.encode()).hexdigest()[:32]
    mine = [k.decode(errors="replace") for k in keys if digest.encode() in k]
    assert len(mine) == 3, (digest, keys[:20])
    ids = {m for k in mine for m in re.findall(r"mcp_policy\.c\.([0-9a-f]{16})", k)}
    assert ids == set(re.findall(r"mcp_policy\.c\.([0-9a-f]{16})", fleet.limits_text)), mine


# -- 4. the RLS down, then back -----------------------------------------------------------------------
def test_the_rls_down_follows_on_unavailable_and_back_it_counts(fleet, mcp_server):
    me = agent("down")
    marker = f"down-{uuid.uuid4().hex[:8]}"
    deny_errors, allow_errors = stat(fleet.a, RLS_ERRORS), stat(fleet.allow, RLS_ERRORS)
    log_mark = _log_size(fleet.a)
    fleet.rls.stop()  # the RLS alone: its Redis is the module's
    try:
        denied = call(fleet.a, "echo", {"text": f"{marker}-deny"}, me)
        assert_unavailable_denied(denied)
        assert stat(fleet.a, RLS_ERRORS) == deny_errors + 1
        assert wait_log(fleet.a, "the Rate Limit Service is unavailable", log_mark)
        # on_unavailable "allow": the call runs, and the error is still counted.
        assert ran(call(fleet.allow, "echo", {"text": f"{marker}-allow"}, me))
        assert stat(fleet.allow, RLS_ERRORS) == allow_errors + 1
        assert echoes_run(mcp_server, marker) == [f"{marker}-allow"]
        # A call with no RLS counter does not depend on the service.
        assert ran(call(fleet.a, "create_issue", {"repo": "r", "title": "t"}, me))
        assert stat(fleet.a, RLS_ERRORS) == deny_errors + 1
    finally:
        fleet.rls.start()
    # Back: the limit holds again, from where Redis left it (the allowed call counted
    # nothing: the service never saw it).
    results = [call(fleet.b, "echo", {"text": f"{marker}-{i}"}, me) for i in range(4)]
    assert [ran(r) for r in results] == [True, True, True, False], \
        [result_text(r) for r in results]
    assert_rate_limited(results[3], "/tools/echo/rate_limit", 60)
    assert len(echoes_run(mcp_server, marker)) == 1 + 3


# -- 5. Redis restarted mid-run -----------------------------------------------------------------------
def test_redis_restarted_mid_run(fleet, mcp_server):
    me = agent("redis")
    marker = f"redis-{uuid.uuid4().hex[:8]}"
    first = [call(fleet.a, "echo", {"text": f"{marker}-a{i}"}, me) for i in range(2)]
    assert all(ran(r) for r in first)
    errors = stat(fleet.b, RLS_ERRORS)
    fleet.redis.stop()
    try:
        # The RLS is up but cannot count: it answers UNAVAILABLE.
        assert_unavailable_denied(call(fleet.b, "echo", {"text": f"{marker}-down"}, me))
        assert stat(fleet.b, RLS_ERRORS) == errors + 1
        assert ran(call(fleet.allow, "echo", {"text": f"{marker}-allowed"}, me))
        assert fleet.rls.alive(), "the RLS died with Redis"
    finally:
        fleet.redis.start()
    wait_rls_counts(fleet)
    # Redis came back empty: this caller's count starts again at zero.
    assert fleet.redis.keys(), "the probe was counted"
    again = [call(fleet.b if i % 2 else fleet.a, "echo", {"text": f"{marker}-b{i}"}, me)
             for i in range(4)]
    assert [ran(r) for r in again] == [True, True, True, False], [result_text(r) for r in again]
    assert_rate_limited(again[3], "/tools/echo/rate_limit", 60)
    assert len(echoes_run(mcp_server, marker)) == 2 + 1 + 3


# -- 6. a window resets ----------------------------------------------------------------------------
def test_a_window_resets(fleet, mcp_server):
    me = agent("window")
    rule = "/tools/get_file_contents/limits/0"
    results = [call(fleet.a if i % 2 == 0 else fleet.b, "get_file_contents", {"path": f"f{i}"}, me)
               for i in range(READS_MAX + 1)]
    assert [ran(r) for r in results] == [True] * READS_MAX + [False]
    assert_rate_limited(results[-1], rule, READS_WINDOW)
    # Limitador counts the window from the counter's first hit; wait past it.
    time.sleep(meta(results[-1])["retry_after_ms"] / 1000 + 0.3)
    assert ran(call(fleet.b, "get_file_contents", {"path": "after"}, me))
    assert ran(call(fleet.a, "get_file_contents", {"path": "after2"}, me))
    over = call(fleet.a, "get_file_contents", {"path": "over"}, me)
    assert_rate_limited(over, rule, READS_WINDOW)
    paths = [a["path"] for n, a in mcp_server.tool_calls() if n == "get_file_contents"]
    assert paths == ["f0", "f1", "after", "after2"]


# -- 7. the RLS cluster missing from Envoy ---------------------------------------------------------
def test_an_rls_cluster_envoy_does_not_have_follows_on_unavailable(fleet, mcp_server):
    me = agent("nowhere")
    marker = f"nowhere-{uuid.uuid4().hex[:8]}"
    errors = stat(fleet.nowhere, RLS_ERRORS)
    for i in range(3):  # the same VM (one worker) each time: a trap would show on the next
        assert_unavailable_denied(call(fleet.nowhere, "echo", {"text": f"{marker}-{i}"}, me))
    assert stat(fleet.nowhere, RLS_ERRORS) == errors + 3
    assert echoes_run(mcp_server, marker) == []
    # The next requests still work.
    assert ran(call(fleet.nowhere, "create_issue", {"repo": "r", "title": "still here"}, me))
    # on_unavailable "allow": the call runs.
    allow_errors = stat(fleet.nowhere_allow, RLS_ERRORS)
    assert ran(call(fleet.nowhere_allow, "echo", {"text": f"{marker}-allow"}, me))
    assert ran(call(fleet.nowhere_allow, "echo", {"text": f"{marker}-allow2"}, me))
    assert stat(fleet.nowhere_allow, RLS_ERRORS) == allow_errors + 2
    assert echoes_run(mcp_server, marker) == [f"{marker}-allow", f"{marker}-allow2"]
    for env in (fleet.nowhere, fleet.nowhere_allow):
        assert env.alive()
        assert env.stat("wasmcustom.mcp_policy.decision.allow", 0) >= 1


# -- 8. what is never asked ------------------------------------------------------------------------
def test_a_call_that_adds_nothing_to_an_rls_counter_is_not_asked(fleet, mcp_server):
    """Against an Envoy whose RLS cluster does not exist (every question fails, and is
    counted): a call with no RLS counter, or one adding 0 to it, never asks."""
    me = agent("nothing")
    errors = stat(fleet.nowhere, RLS_ERRORS)
    assert ran(call(fleet.nowhere, "create_issue", {"repo": "r", "title": "local only"}, me))
    assert ran(call(fleet.nowhere, "create_charge", {"amount": 0, "currency": "usd"}, me))
    assert stat(fleet.nowhere, RLS_ERRORS) == errors
    # ... while one that adds to it does ask (and is refused, the service being unreachable).
    assert_unavailable_denied(call(fleet.nowhere, "create_charge", {"amount": 5, "currency": "usd"}, me))
    assert stat(fleet.nowhere, RLS_ERRORS) == errors + 1
    # An amount past the counter's max can never be admitted: refused without asking.
    over = call(fleet.nowhere, "create_charge", {"amount": SPEND_MAX + 1, "currency": "usd"}, me)
    assert meta(over)["decision"] == "rate_limited", result_text(over)
    assert stat(fleet.nowhere, RLS_ERRORS) == errors + 1
    charges = [a for n, a in mcp_server.tool_calls() if n == "create_charge"]
    assert charges == [{"amount": 0, "currency": "usd"}]


def test_increments_are_summed_by_the_rls(fleet, mcp_server):
    """increment_from: the amount is the hits_addend; the sum stops at max across replicas."""
    me = agent("spend")
    assert ran(call(fleet.a, "create_charge", {"amount": 600, "currency": "usd"}, me))
    over = call(fleet.b, "create_charge", {"amount": 401, "currency": "usd"}, me)
    assert_rate_limited(over, "/tools/create_charge/limits/0", 60)
    assert ran(call(fleet.b, "create_charge", {"amount": 400, "currency": "usd"}, me))
    assert_rate_limited(call(fleet.a, "create_charge", {"amount": 1, "currency": "usd"}, me),
                        "/tools/create_charge/limits/0", 60)
    charges = [a["amount"] for n, a in mcp_server.tool_calls() if n == "create_charge"]
    assert charges == [600, 400]
