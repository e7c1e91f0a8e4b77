"""A scripted agent for the demo: the official MCP SDK client, through Envoy.

    python envoy/demo/agent.py http://127.0.0.1:10000/mcp
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from e2e import client  # noqa: E402

WIDTH = 100  # columns of the wrapped answers


def show(label: str, result) -> None:
    """One call: its label, then the verdict and what the agent was told, wrapped at
    word boundaries (nothing cut)."""
    code = getattr(getattr(result, "error", None), "code", None)
    if code == -32042:
        # MCP URL elicitation: where a person approves this exact call.
        url = result.error.data["elicitations"][0]["url"]
        verdict, text = "APPROVAL", f"pending: a person approves it at {url}"
    elif isinstance(result, str):
        verdict, text = "ALLOW", result
    elif isinstance(result, Exception):
        verdict, text = "ERROR", str(result)
    else:
        meta = result.meta or {}
        verdict = (meta.get("decision", "error") if result.is_error else "allow").upper()
        text = client.result_text(result)
    print(f"  {label}")
    lead = f"      {verdict:<13} "
    lines = textwrap.wrap(" ".join(text.split()), width=WIDTH, initial_indent=lead,
                          subsequent_indent=" " * len(lead), break_long_words=False,
                          break_on_hyphens=False)
    print("\n".join(lines or [lead.rstrip()]))


def call_label(name: str, args: dict) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def list_tools(url: str, agent: str) -> None:
    """tools/list as this agent sees it: cut to what its policy lets it call."""
    names = sorted(t.name for t in client.list_tools(url, {"x-agent-id": agent}).tools)
    show("tools/list", f"{len(names)} tools: {', '.join(names)}")


def main(url: str) -> None:
    print(f"\nsupport-agent (x-agent-id: support-agent) -> {url}")
    list_tools(url, "support-agent")
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
        show(call_label(name, args), result)

    print("\nbilling-agent (x-agent-id: billing-agent)")
    list_tools(url, "billing-agent")
    calls = [
        ("create_charge", {"amount": 2500, "currency": "usd"}),
        ("create_charge", {"amount": 900000, "currency": "usd"}),
        ("create_charge", {"amount": "900000", "currency": "usd"}),
        ("create_charge", {"amount": 2500, "currency": "gbp"}),
        ("create_issue", {"repo": "corp/web", "title": "not my job"}),
        # Hidden from billing: answered exactly as a tool that does not exist (the audit
        # keeps the truth: rule /hide/0).
        ("delete_repository", {"repo": "corp/web"}),
        ("drop_database", {"name": "prod"}),
    ]
    for (name, args), result in zip(calls, client.call_tools(url, calls, {"x-agent-id": "billing-agent"})):
        show(call_label(name, args), result)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:10000/mcp")
