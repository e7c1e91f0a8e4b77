"""Human approval end to end (SPEC §7.2): a real Envoy with the filter, the project's
approval service (`mcp-policy approvals serve`, SQLite), the official Python SDK server and
client, and a person played by headless chromium who signs in and presses Approve or Deny.

Each test starts its own approval service (a fresh database) and Envoy; the MCP server is
the shared one, whose record file shows what really ran.
"""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx
import pytest
from mcp import MCPError, UrlElicitationRequiredError

from e2e.approvals import ApprovalService, approve, chromium
from e2e.client import call_tool, post, raw_initialize, result_text, tool_call_message
from e2e.envoy_config import static_cluster
from test_typescript_sdk import ts_client

TOKEN = "correct horse battery staple"
AGENT = {"x-agent-id": "billing-agent"}

POLICY = {
    "version": "1",
    "default": "deny",
    "tools": {
        "echo": {},
        "create_charge": {"action": "require_approval", "reason": "Charges need a person"},
    },
}


def config(**approval) -> dict:
    return {
        "policy": POLICY,
        "identity": [{"header": "x-agent-id"}],
        "approval": {"cluster": "approvals", "timeout_ms": 3000, **approval},
    }


@pytest.fixture
def service(tmp_path):
    svc = ApprovalService(tmp_path / "approvals", {"alice": TOKEN})
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture
def envoy(envoy_factory, service):
    return envoy_factory(config(), extra_clusters=[static_cluster("approvals", service.port)])


def charge(env, amount: int, headers: dict | None = None):
    """create_charge through the official SDK client (protocol 2025-11-25): its result, or
    the MCPError the filter answered with."""
    try:
        return call_tool(env.url, "create_charge", {"amount": amount, "currency": "usd"},
                         headers or AGENT)
    except MCPError as e:
        return e


def pending_url(outcome) -> str:
    """The approval URL of a pending answer: MCP URL elicitation (-32042)."""
    assert isinstance(outcome, MCPError), f"expected a pending approval, got {outcome!r}"
    assert outcome.code == -32042, outcome.error
    elicitation = UrlElicitationRequiredError.from_error(outcome.error).elicitations[0]
    assert elicitation.mode == "url"
    assert outcome.error.data["approval_url"] == elicitation.url
    return elicitation.url


def charges_run(mcp_server) -> list[dict]:
    return [args for name, args in mcp_server.tool_calls() if name == "create_charge"]


def test_approve_then_retry_runs_once_and_only_once(envoy, service, mcp_server, tmp_path):
    chromium()
    url = pending_url(charge(envoy, 4200))
    assert url.startswith(service.base_url + "/approvals/")
    assert charges_run(mcp_server) == [], "nothing reaches the server while pending"
    # A retry while pending points at the same page.
    assert pending_url(charge(envoy, 4200)) == url

    page = approve(url, TOKEN, "approve", screenshot=tmp_path / "approval.png")
    assert page["signed_in"] and page["clicked"] == "Approve", page
    assert "create_charge" in page["text"] and "alice" in page["text"], page["text"]

    result = charge(envoy, 4200)
    assert not isinstance(result, MCPError), result
    assert not result.is_error, result_text(result)
    assert charges_run(mcp_server) == [{"amount": 4200, "currency": "usd"}]

    # Single use: the next identical call waits for a person again, on a new page.
    again = pending_url(charge(envoy, 4200))
    assert again != url
    assert len(charges_run(mcp_server)) == 1


def test_other_arguments_or_another_caller_need_their_own_approval(envoy, service, mcp_server):
    chromium()
    url = pending_url(charge(envoy, 100))
    assert approve(url, TOKEN, "approve")["clicked"] == "Approve"
    # Not the approved call: each waits for its own approval.
    assert pending_url(charge(envoy, 101)) != url
    assert pending_url(charge(envoy, 100, {"x-agent-id": "other-agent"})) != url
    assert charges_run(mcp_server) == []
    # The approved one still runs.
    assert not isinstance(charge(envoy, 100), MCPError)
    assert charges_run(mcp_server) == [{"amount": 100, "currency": "usd"}]


def test_deny_tells_the_agent_who_and_why(envoy, service, mcp_server):
    chromium()
    url = pending_url(charge(envoy, 999_999))
    page = approve(url, TOKEN, "deny", reason="Too large for a bot")
    assert page["clicked"] == "Deny", page
    result = charge(envoy, 999_999)
    assert not isinstance(result, MCPError), result
    assert result.is_error
    text = result_text(result)
    assert "Denied by approver alice: Too large for a bot" in text, text
    assert result.meta["code"] == -32060
    assert charges_run(mcp_server) == []


def test_pending_requests_expire(envoy_factory, tmp_path, mcp_server):
    chromium()
    svc = ApprovalService(tmp_path / "short", {"alice": TOKEN}, pending_ttl_secs=2)
    svc.start()
    try:
        env = envoy_factory(config(), extra_clusters=[static_cluster("approvals", svc.port)])
        url = pending_url(charge(env, 5))
        time.sleep(3)
        page = approve(url, TOKEN, "approve")
        assert page["clicked"] is None, "an expired request has no Approve button"
        assert "expired" in page["text"].lower(), page["text"]
        assert pending_url(charge(env, 5)) != url, "a new request after expiry"
        assert charges_run(mcp_server) == []
    finally:
        svc.stop()


def test_a_restart_between_pending_and_approval_loses_nothing(envoy, service, mcp_server):
    chromium()
    url = pending_url(charge(envoy, 77))
    service.restart()
    assert approve(url, TOKEN, "approve")["clicked"] == "Approve"
    service.restart()
    assert not isinstance(charge(envoy, 77), MCPError)
    assert charges_run(mcp_server) == [{"amount": 77, "currency": "usd"}]


def test_the_service_down_follows_on_unavailable(envoy_factory, service, mcp_server):
    env = envoy_factory(config(), extra_clusters=[static_cluster("approvals", service.port)])
    service.stop()
    result = charge(env, 1)
    assert not isinstance(result, MCPError), result
    assert result.is_error and result.meta["code"] == -32060
    assert "approval service is unavailable" in result_text(result)
    assert env.stat("wasmcustom.mcp_policy.approval.errors") >= 1

    allow = envoy_factory(config(on_unavailable="allow"),
                          extra_clusters=[static_cluster("approvals", service.port)])
    result = charge(allow, 2)
    assert not isinstance(result, MCPError) and not result.is_error, result
    assert charges_run(mcp_server) == [{"amount": 2, "currency": "usd"}]
    # Calls that need no approval never depend on the service.
    assert not call_tool(env.url, "echo", {"text": "hi"}, AGENT).is_error


def test_an_agent_cannot_approve_its_own_call(envoy, service, mcp_server):
    url = pending_url(charge(envoy, 31337))
    request_id = url.rsplit("/", 1)[1]
    origin = {"origin": service.base_url}
    with httpx.Client(trust_env=False, timeout=5, follow_redirects=False) as http:
        # The URL itself shows a sign-in form, nothing to press.
        page = http.get(url)
        assert "Approve" not in page.text and 'name="token"' in page.text
        # The buttons' endpoints, without a session, with and without the agent's headers.
        for headers in ({}, origin, {**origin, **AGENT}):
            for action in ("approve", "deny"):
                r = http.post(f"{url}/{action}", data={"csrf": "x"}, headers=headers)
                assert r.status_code == 403, (action, headers, r.status_code, r.text)
        # Its own credentials are not an approver's token.
        r = http.post(service.base_url + "/login", data={"token": "billing-agent", "next": "/"})
        assert r.status_code == 401
        # The filter's API answers about calls; it approves nothing, whatever it is sent.
        binding = {"arguments": {"amount": 31337, "currency": "usd"}, "authority": "",
                   "grant": None, "identity": "h:x-agent-id\u001fbilling-agent",
                   "namespace": "", "path": "/mcp", "policy_sha256": "0" * 64,
                   "reason": "", "rule": "", "tool": "create_charge"}
        r = http.post(service.base_url + "/v1/check", json={
            "binding": binding, "status": "approved", "approver": "alice"})
        assert r.status_code == 400, r.text
        r = http.post(service.base_url + "/v1/check", json={"binding": binding})
        assert r.status_code == 200 and r.json()["status"] == "pending", r.text
        # The approval service is not reachable through the proxy.
        r = http.post(envoy.base_url + f"/approvals/{request_id}/approve", data={"csrf": "x"})
        assert r.status_code != 303
    assert pending_url(charge(envoy, 31337)) == url, "still pending"
    assert charges_run(mcp_server) == []


def test_a_signed_in_session_from_another_origin_or_without_csrf_fails(envoy, service, mcp_server):
    url = pending_url(charge(envoy, 12))
    with httpx.Client(trust_env=False, timeout=5, follow_redirects=False) as http:
        r = http.post(service.base_url + "/login", data={"token": TOKEN, "next": url})
        assert r.status_code == 303
        page = http.get(url).text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        for headers, data in (
            ({"origin": "https://evil.example"}, {"csrf": csrf}),
            ({}, {"csrf": csrf}),
            ({"origin": service.base_url}, {}),
            ({"origin": service.base_url}, {"csrf": csrf + "x"}),
        ):
            r = http.post(f"{url}/approve", data=data, headers=headers)
            assert r.status_code == 403, (headers, data, r.status_code)
        assert pending_url(charge(envoy, 12)) == url
        r = http.post(f"{url}/approve", data={"csrf": csrf}, headers={"origin": service.base_url})
        assert r.status_code == 303
    assert not isinstance(charge(envoy, 12), MCPError)


def test_concurrent_retries_of_one_approved_call_run_it_once(envoy, service, mcp_server):
    chromium()
    url = pending_url(charge(envoy, 64))
    assert approve(url, TOKEN, "approve")["clicked"] == "Approve"
    headers = raw_initialize(envoy.url, AGENT, protocol_version="2025-06-18")
    body = json.dumps(tool_call_message("create_charge", {"amount": 64, "currency": "usd"}))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(envoy.url, body, headers), range(8)))
    ran = [a for a in answers if "approval_pending" not in a.text]
    assert len(ran) == 1, [a.text for a in answers]
    assert charges_run(mcp_server) == [{"amount": 64, "currency": "usd"}]
    # Older clients get -32062 with the URL.
    pending = [a for a in answers if "approval_pending" in a.text][0].text
    assert "-32062" in pending and "approval_url" in pending


def test_an_approval_binds_the_arguments_as_written(envoy, service, mcp_server):
    """Found by the red team: integers past 2^64 and member order reach the server as
    written, so an approval for one spelling must not cover another."""
    chromium()
    headers = raw_initialize(envoy.url, AGENT, protocol_version="2025-06-18")

    def send(arguments: str):
        body = ('{"jsonrpc":"2.0","id":9,"method":"tools/call","params":'
                '{"name":"create_charge","arguments":' + arguments + '}}')
        return post(envoy.url, body, headers).text

    approved = '{"amount":18446744073709551616,"currency":"usd"}'
    answer = send(approved)
    url = json.loads(answer)["result"]["_meta"]["approval_url"]
    page = approve(url, TOKEN, "approve")
    assert "18446744073709551616" in page["text"], "the page shows every digit"
    # One more than approved, and the approved call with its members swapped: both wait.
    for other in ('{"amount":18446744073709551617,"currency":"usd"}',
                  '{"currency":"usd","amount":18446744073709551616}'):
        assert "approval_pending" in send(other), other
    assert charges_run(mcp_server) == []
    # The approved spelling runs, once.
    assert "approval_pending" not in send(approved)
    assert charges_run(mcp_server) == [{"amount": 18446744073709551616, "currency": "usd"}]


def test_the_typescript_sdk_client_gets_a_url_elicitation(envoy, service, mcp_server):
    """The official TypeScript SDK client (protocol 2025-11-25) sees the pending approval
    as its own UrlElicitationRequiredError (-32042) with the page's URL; approved, the
    same call runs once."""
    chromium()
    script = [["create_charge", {"amount": 808, "currency": "eur"}]]
    first = ts_client(envoy.url, AGENT, script)["calls"][0]
    assert "error" in first, first
    assert first["error"]["code"] == -32042, first
    elicitation = first["error"]["data"]["elicitations"][0]
    assert elicitation["mode"] == "url" and elicitation["elicitationId"]
    assert approve(elicitation["url"], TOKEN, "approve")["clicked"] == "Approve"
    second = ts_client(envoy.url, AGENT, script)["calls"][0]
    assert "result" in second and not second["result"].get("isError"), second
    assert charges_run(mcp_server) == [{"amount": 808, "currency": "eur"}]
