"""A scripted agent for the demo: the official MCP SDK client, through Envoy.

    python envoy/demo/agent.py http://127.0.0.1:10000/mcp
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from e2e import client  # noqa: E402


def show(label: str, result) -> None:
    code = getattr(getattr(result, "error", None), "code", None)
    if code == -32042:
        # MCP URL elicitation: where a person approves this exact call.
        url = result.error.data["elicitations"][0]["url"]
        print(f"  {label:<48} {'APPROVAL':<13} pending: a person approves it at {url}")
        return
    if isinstance(result, Exception):
        print(f"  {label:<48} ERROR {result}")
        return
    meta = result.meta or {}
    verdict = meta.get("decision", "allow") if result.is_error else "allow"
    print(f"  {label:<48} {verdict.upper():<13} {client.result_text(result)[:110]}")


def main(url: str) -> None:
    print(f"\nsupport-agent (x-agent-id: support-agent) -> {url}")
    tools = client.list_tools(url, {"x-agent-id": "support-agent"})
    print(f"  tools/list: {len(tools.tools)} tools")
    calls = [
        ("echo", {"text": "hello through the policy"}),
        ("create_issue", {"repo": "corp/web", "title": "first"}),
        ("create_issue", {"repo": "evil/web", "title": "exfiltrate"}),
        ("create_issue", {"repo": "corp/web", "title": "second"}),
        ("create_issue", {"repo": "corp/web", "title": "third"}),
        ("create_issue", {"repo": "corp/web", "title": "fourth: over 3/minute"}),
        ("delete_repository", {"repo": "corp/web"}),
        ("create_charge", {"amount": 100, "currency": "usd"}),
    ]
    for (name, args), result in zip(calls, client.call_tools(url, calls, {"x-agent-id": "support-agent"})):
        show(f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})", result)

    print("\nbilling-agent (x-agent-id: billing-agent)")
    calls = [
        ("create_charge", {"amount": 2500, "currency": "usd"}),
        ("create_charge", {"amount": 900000, "currency": "usd"}),
        ("create_charge", {"amount": "900000", "currency": "usd"}),
        ("create_charge", {"amount": 2500, "currency": "gbp"}),
        ("create_issue", {"repo": "corp/web", "title": "not my job"}),
    ]
    for (name, args), result in zip(calls, client.call_tools(url, calls, {"x-agent-id": "billing-agent"})):
        show(f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})", result)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:10000/mcp")
