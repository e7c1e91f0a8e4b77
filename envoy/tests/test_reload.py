"""Configuration reload in a running Envoy 1.40, and VMs that cannot start.

The listener (with the mcp_policy wasm filter and its plugin configuration) comes from a
file-based LDS (`e2e.lds.LdsEnvoy`): a push writes a new DiscoveryResponse next to the watched
file and renames it over it, which is the change Envoy's filesystem subscription sees.

What these tests pin down about Envoy and the filter:
- A reload that changes only the HTTP filters is an in-place filter-chain update: new
  connections get the new plugin configuration at once; the counters (proxy-wasm shared data,
  keyed by vm_id) survive it, so a rate limit keeps counting across the reload.
- A plugin configuration that does not validate is rejected by LDS
  (`listener_manager.lds.update_rejected`), Envoy logs `mcp_policy: configuration error: ...`
  and `Unable to create Wasm plugin mcp_policy`, and the previous configuration keeps
  enforcing. Same for a wasm file that does not exist.
- Connections opened before a reload keep the old filter chain, and so the OLD policy, while
  it drains (Envoy's --drain-time-s, 600 s by default).
- A VM that cannot load (here: remote code that cannot be fetched) is NOT a rejected update:
  the listener comes up, and with FAIL_CLOSED (the default) or FAIL_RELOAD every request is
  answered 503 by Envoy, nothing reaches the upstream; with FAIL_OPEN every request passes
  unjudged.
"""

from __future__ import annotations

import copy
import hashlib
import time
from pathlib import Path

import pytest

from e2e import client, rawhttp
from e2e.envoy_config import EnvoyConfig
from e2e.envoy_proc import EnvoyProcess
from e2e.lds import LdsEnvoy
from e2e.requirements import require

LIMITED = {"version": "1", "default": "deny", "tools": {"echo": {"rate_limit": "3/hour"}}}
# Another tool allowed; the same policy and counter names.
LIMITED_PLUS = {"version": "1", "default": "deny",
                "tools": {"echo": {"rate_limit": "3/hour"}, "create_issue": {}}}
INVALID = {"version": "1", "default": "deny",
           "tools": {"echo": {"rules": [{"name": "cap", "conditions": [{"path": "args.n", "op": "gtt", "value": 1}]}]}}}

ACCEPT = "application/json, text/event-stream"
EVIL = (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository",'
        b'"arguments":{"repo":"corp/prod"}}}')


@pytest.fixture
def lds_envoy(tmp_path, mcp_server):
    """lds_envoy(plugin_config, **EnvoyConfig fields / LdsEnvoy options) -> a started LdsEnvoy."""
    started: list[EnvoyProcess] = []

    def start(plugin_config, *, watched_directory: bool = False, extra_args: list[str] | None = None,
              **fields) -> LdsEnvoy:
        found = require(envoy=True, wasm=True)
        work = tmp_path / f"lds{len(started) + 1}"
        cfg = EnvoyConfig(upstream_port=mcp_server.port, access_log_path=work / "access.log",
                          wasm_path=found["wasm"], plugin_config=plugin_config, **fields)
        env = LdsEnvoy(cfg, work, watched_directory=watched_directory, envoy_bin=found["envoy"],
                       extra_args=extra_args, name="envoy")
        started.append(env)
        return env.start()

    yield start
    for env in started:
        env.stop()


def echo(env, text: str) -> str:
    """One echo call through the SDK on a new connection: its decision."""
    res = client.call_tool(env.url, "echo", {"text": text})
    return "allow" if not res.is_error else res.meta["decision"]


def create_issue(env) -> str:
    res = client.call_tool(env.url, "create_issue", {"repo": "corp/x", "title": "t"})
    return "allow" if not res.is_error else res.meta["decision"]


@pytest.mark.parametrize("watched_directory", [False, True], ids=["watch-path", "watched-directory"])
def test_reload_keeps_counters(mcp_server, lds_envoy, watched_directory):
    env = lds_envoy(LIMITED, watched_directory=watched_directory)
    assert [echo(env, "1"), echo(env, "2")] == ["allow", "allow"]
    assert create_issue(env) == "deny"

    version = env.push_plugin_config(LIMITED_PLUS)
    assert env.wait_update() == "success"
    env.wait_active(version)
    assert env.stat("listener_manager.listener_in_place_updated") == 1
    assert create_issue(env) == "allow", "the new configuration is in force"

    # 3/hour: two were used before the reload, so exactly one more.
    assert [echo(env, "3"), echo(env, "4")] == ["allow", "rate_limited"]
    assert sum(1 for n, _ in mcp_server.tool_calls() if n == "echo") == 3


def test_a_changed_limit_keeps_its_count_and_a_renamed_counter_starts_afresh(mcp_server, lds_envoy):
    """README: a reload keeps the counters of unchanged policy and counter names."""
    def policy(counter: str, max_: int) -> dict:
        return {"version": "1", "default": "deny",
                "tools": {"echo": {"limits": [{"counter": counter, "window": "hour", "max": max_}]}}}

    env = lds_envoy(policy("calls", 2))
    assert [echo(env, "1"), echo(env, "2"), echo(env, "3")] == ["allow", "allow", "rate_limited"]
    env.wait_active(env.push_plugin_config(policy("calls", 3)))
    assert [echo(env, "4"), echo(env, "5")] == ["allow", "rate_limited"]
    env.wait_active(env.push_plugin_config(policy("calls_v2", 1)))
    assert [echo(env, "6"), echo(env, "7")] == ["allow", "rate_limited"]


def test_an_invalid_configuration_is_rejected_and_the_old_one_keeps_enforcing(mcp_server, lds_envoy):
    env = lds_envoy(LIMITED)
    assert echo(env, "1") == "allow"
    before = env.lds_counts()

    env.push_plugin_config(INVALID)
    assert env.wait_update() == "rejected"
    assert env.stat("listener_manager.lds.update_rejected") == before.get("update_rejected", 0) + 1
    assert env.active_version() == "1"
    log = env.log_text()
    assert ('mcp_policy: configuration error: tools.echo.rules[0].conditions[0].op: unknown operator "gtt"'
            in log), log[-3000:]
    assert "Unable to create Wasm plugin mcp_policy" in log

    # The old configuration: echo limited to 3/hour (one used), create_issue denied.
    assert create_issue(env) == "deny"
    assert [echo(env, "2"), echo(env, "3"), echo(env, "4")] == ["allow", "allow", "rate_limited"]

    # And a valid push after the rejected one still applies, counters intact.
    version = env.push_plugin_config(LIMITED_PLUS)
    assert env.wait_update() == "success"
    env.wait_active(version)
    assert create_issue(env) == "allow"
    assert echo(env, "5") == "rate_limited"


def test_a_missing_wasm_file_on_reload_is_rejected(mcp_server, lds_envoy, tmp_path):
    env = lds_envoy(LIMITED)
    assert echo(env, "1") == "allow"
    env.push_plugin_config(LIMITED_PLUS, wasm_path=tmp_path / "no-such.wasm")
    assert env.wait_update() == "rejected"
    assert create_issue(env) == "deny", "the old configuration still enforces"
    assert echo(env, "2") == "allow"


def test_connections_opened_before_a_reload_keep_the_old_policy_while_draining(mcp_server, lds_envoy):
    """A reload that tightens the policy (create_issue allowed -> denied) does not reach a
    keep-alive connection opened before it: that connection stays on the old filter chain,
    with the old plugin configuration, until it drains. With --drain-time-s 1 Envoy closes it
    within about a second; with the default (600 s) an agent keeping its connection open keeps
    the old, looser policy for up to ten minutes."""
    env = lds_envoy(LIMITED_PLUS, extra_args=["--drain-time-s", "1"])
    session = client.raw_initialize(env.url)
    headers = [("Content-Type", "application/json"), ("Accept", ACCEPT), *session.items()]
    issue = (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue",'
             b'"arguments":{"repo":"corp/x","title":"t"}}}')
    wire = rawhttp.http1_request("POST", "/mcp", headers, issue)
    with rawhttp.Http1Conn(env.port) as old:
        assert old.send(wire)
        first = old.response()
        assert first.status == 200 and b"created issue" in first.body

        env.wait_active(env.push_plugin_config(LIMITED))  # create_issue no longer listed
        assert create_issue(env) == "deny", "a new connection gets the new policy"

        assert old.send(wire)
        stale = old.response()
        assert stale.status == 200 and b"created issue" in stale.body, (
            "the connection opened before the reload is still judged by the old policy")

        time.sleep(1.5)  # past --drain-time-s: Envoy has closed the old connection
        sent = old.send(wire)
        after = old.response(timeout=2)
        assert not sent or after.status is None, after.raw[:200]
    assert create_issue(env) == "deny"


# -- a VM that cannot start ------------------------------------------------------------------------
def with_unfetchable_code(listener: dict, uri: str) -> dict:
    """The listener with the wasm filter's code fetched from `uri` (which has no such file),
    with a sha256 nothing matches and no retries: the plugin fails to load."""
    listener = copy.deepcopy(listener)
    for f in listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]:
        if f["name"] == "envoy.filters.http.wasm":
            f["typed_config"]["config"]["vm_config"]["code"] = {"remote": {
                "http_uri": {"uri": uri, "cluster": "mcp_upstream", "timeout": "1s"},
                "sha256": hashlib.sha256(b"no such module").hexdigest(),
                "retry_policy": {"num_retries": 0}}}
    return listener


def start_unloadable(tmp_path: Path, mcp_server, failure_policy: str | None) -> EnvoyProcess:
    found = require(envoy=True, wasm=True)
    cfg = EnvoyConfig(upstream_port=mcp_server.port, access_log_path=tmp_path / "access.log",
                      wasm_path=found["wasm"], plugin_config=LIMITED, failure_policy=failure_policy)
    boot = cfg.bootstrap()
    boot["static_resources"]["listeners"][0] = with_unfetchable_code(
        boot["static_resources"]["listeners"][0], f"{mcp_server.base_url}/no-such.wasm")
    return EnvoyProcess(boot, tmp_path, envoy_bin=found["envoy"]).start()


@pytest.mark.parametrize("failure_policy", [None, "FAIL_CLOSED", "FAIL_RELOAD"])
def test_a_vm_that_cannot_start_refuses_every_request(tmp_path, mcp_server, failure_policy):
    """Finding: the plugin's code cannot be loaded (remote fetch fails). Envoy still starts and
    serves the listener (a remote-code failure is not a configuration error), logs `Plugin
    mcp_policy failed to load` / `Plugin configured to fail closed failed to load`, and with
    FAIL_CLOSED (also when failure_policy is left out) or FAIL_RELOAD answers EVERY request on
    the listener -- MCP calls, GETs, health checks alike -- with HTTP 503 and an empty body
    (and `connection: close` when a request body was sent). Nothing reaches the upstream:
    refused, not passed."""
    env = start_unloadable(tmp_path, mcp_server, failure_policy)
    try:
        mcp_server.clear_records()
        denied = client.post(env.url, EVIL)
        allowed = client.post(env.url, client.tool_call_message("echo", {"text": "x"}))
        health = client.post(env.url_for("/healthz"), None, method="GET", content_type=None)
        for r in (denied, allowed, health):
            assert r.status_code == 503 and r.content == b"", (r.status_code, r.text[:200])
        # With a body still unread, Envoy also closes the connection.
        assert denied.headers.get("connection") == "close" and allowed.headers.get("connection") == "close"
        assert mcp_server.records() == []
        assert "Plugin mcp_policy failed to load" in env.log_text()
    finally:
        env.stop()


def test_fail_open_passes_everything_unjudged_when_the_vm_cannot_start(tmp_path, mcp_server):
    """Why README says never FAIL_OPEN: the same unloadable plugin with FAIL_OPEN lets the denied
    call through to the MCP server, which runs it."""
    env = start_unloadable(tmp_path, mcp_server, "FAIL_OPEN")
    try:
        session = client.raw_initialize(env.url)
        mcp_server.clear_records()
        r = client.post(env.url, EVIL, session)
        assert r.status_code == 200 and "deleted corp/prod" in r.text
        assert [n for n, _ in mcp_server.tool_calls()] == ["delete_repository"]
    finally:
        env.stop()


def test_a_reload_to_a_vm_that_cannot_start_is_accepted_and_fails_closed(mcp_server, lds_envoy):
    """Finding: unlike an invalid plugin configuration or a missing local file (rejected, the
    old configuration stays), a reload whose code cannot be fetched is ACCEPTED by LDS
    (update_success) and replaces the working filter chain: from then on every new request is
    503 (FAIL_CLOSED), nothing reaches the upstream. A reload can take the MCP service down,
    but never open it."""
    env = lds_envoy(LIMITED)
    assert echo(env, "1") == "allow"
    version = env.push(with_unfetchable_code(env.listener_for(env.listener_config),
                                             f"{mcp_server.base_url}/no-such.wasm"))
    assert env.wait_update() == "success"
    env.wait_active(version)
    mcp_server.clear_records()
    for body in (EVIL, client.tool_call_message("echo", {"text": "x"})):
        r = client.post(env.url, body)
        assert r.status_code == 503 and r.content == b"", (r.status_code, r.text[:200])
    assert mcp_server.records() == []

    # Pushing a good configuration again brings the service back, counters intact.
    version = env.push_plugin_config(LIMITED)
    assert env.wait_update() == "success"
    env.wait_active(version)
    assert [echo(env, "2"), echo(env, "3"), echo(env, "4")] == ["allow", "allow", "rate_limited"]
