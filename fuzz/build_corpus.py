#!/usr/bin/env python3
"""(Re)builds the seed corpora of the fuzz targets into fuzz/corpus/<target>/.

Seeds come from the real policies in ../shared/policies (PolicyLayer JSON as
they are, Intercept YAML converted by `mcp-policy convert`, or by PyYAML when
the CLI is not given), the fuzz policies in fuzz/policies/, and JSON-RPC
bodies written here: tools/call for every tool a policy names, with argument
values drawn from its conditions, plus initialize, tools/list, notifications,
client responses, batches, and the shapes that trip readers (escapes,
duplicate keys, deep nesting, huge numbers, lone surrogates, invalid UTF-8).

The converted real policies also go to corpus/_policies/, where the targets
load them at start (fuzzkit::policies). Nothing here is committed: the
corpus directory is ignored by git and rebuilt from ../shared at run time.

Usage: build_corpus.py [--shared DIR] [--cli PATH] [--out DIR]
Seed files are named by the SHA-1 of their content, so rebuilding is
idempotent and leaves what libFuzzer added alone.
"""

import argparse
import hashlib
import json
import os
import random
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

TARGETS = ["config", "mcp", "engine", "tool_call", "stream", "regex", "toolslist"]


def load_policies(shared, cli):
    """[(name, policy as a JSON value)] from ../shared and fuzz/policies."""
    out = []
    pl = os.path.join(shared, "policies", "policylayer")
    for f in sorted(os.listdir(pl)) if os.path.isdir(pl) else []:
        if f.endswith(".json"):
            with open(os.path.join(pl, f), encoding="utf-8") as fh:
                out.append(("policylayer-" + f[:-5], json.load(fh)))
    ic = os.path.join(shared, "policies", "intercept")
    for f in sorted(os.listdir(ic)) if os.path.isdir(ic) else []:
        if not f.endswith(".yaml"):
            continue
        path = os.path.join(ic, f)
        value = None
        if cli and os.access(cli, os.X_OK):
            r = subprocess.run([cli, "convert", path], capture_output=True, text=True)
            if r.returncode == 0:
                value = json.loads(r.stdout)
        if value is None:
            try:
                import yaml  # noqa: PLC0415

                with open(path, encoding="utf-8") as fh:
                    value = yaml.safe_load(fh)
            except Exception as e:  # noqa: BLE001
                print(f"build_corpus: skipping {f}: {e}", file=sys.stderr)
                continue
        out.append(("intercept-" + f[:-5], value))
    return out


def builtin_policies():
    out = []
    d = os.path.join(HERE, "policies")
    for f in sorted(os.listdir(d)):
        if f.endswith(".json"):
            with open(os.path.join(d, f), encoding="utf-8") as fh:
                out.append(("fuzz-" + f[:-5], fh.read()))
    return out


def wraps(policy_text):
    """The configurations a bare policy stands for (as fuzzkit::policies::wrap)."""
    p = policy_text
    return [
        p,
        '{"policy":%s}' % p,
        '{"policy":%s,"deny_as":"jsonrpc_error"}' % p,
        '{"policy":%s,"audit":{"log":true,"arguments":"sha256"}}' % p,
        '{"policies":{"p":%s},"grants":{"g":{"policy":"p","match":["agent-a"]}},'
        '"unmatched":"deny","identity":[{"header":"x-agent-id"}]}' % p,
        '{"policy":%s,"mcp":{"paths":["/"],"max_body_bytes":300},'
        '"audit":{"log":false,"arguments":"none"}}' % p,
    ]


def tools_of(policy):
    tools = policy.get("tools") if isinstance(policy, dict) else None
    return tools if isinstance(tools, dict) else {}


def conditions_of(tool):
    """Every condition of a tool entry, both forms."""
    out = []
    if not isinstance(tool, dict):
        return out
    for key in ("rules", "deny_if", "require"):
        for item in tool.get(key) or []:
            if isinstance(item, dict):
                out.extend(c for c in item.get("conditions") or [] if isinstance(c, dict))
    return out


def set_path(args, path, value):
    segs = path.split(".")[1:]
    cur = args
    for s in segs[:-1]:
        nxt = cur.get(s)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[s] = nxt
        cur = nxt
    if segs:
        cur[segs[-1]] = value


def argument_sets(tool, rng):
    """Arguments that meet, miss and break each condition of a tool."""
    conds = [c for c in conditions_of(tool) if str(c.get("path", "")).startswith("args.")]
    sets = [{}]
    meet, miss = {}, {}
    for c in conds:
        op, v, path = c.get("op"), c.get("value"), c["path"]
        if op in ("eq", "contains"):
            good, bad = v, "other-value"
        elif op == "neq":
            good, bad = "something-else", v
        elif op == "in":
            good, bad = (v[0] if isinstance(v, list) and v else "x"), "not-in-list"
        elif op == "not_in":
            good, bad = "not-in-list", (v[0] if isinstance(v, list) and v else "x")
        elif op in ("lt", "lte", "gt", "gte") and isinstance(v, (int, float)):
            good = v - 1 if op in ("lt", "lte") else v + 1
            bad = v + 1 if op in ("lt", "lte") else v - 1
        elif op == "regex":
            good, bad = "match-me", 12345
        elif op == "exists":
            good, bad = "present", None
        else:
            good, bad = "x", None
        set_path(meet, path, good)
        if bad is not None:
            set_path(miss, path, bad)
    sets += [meet, miss]
    # Wrong types: strings for numbers, numbers for strings.
    wrong = json.loads(json.dumps(meet))
    for c in conds:
        if c.get("op") in ("lt", "lte", "gt", "gte"):
            set_path(wrong, c["path"], str(c.get("value")))
    sets.append(wrong)
    return sets


def call(i, tool, args=None, rid=None):
    msg = {"jsonrpc": "2.0", "id": rid if rid is not None else i, "method": "tools/call",
           "params": {"name": tool}}
    if args is not None:
        msg["params"]["arguments"] = args
    return msg


def dumps(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


FIXED_BODIES = [
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}',
    b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
    b'{"jsonrpc":"2.0","id":"l","method":"tools/list","params":{}}',
    b'{"jsonrpc":"2.0","id":7,"result":{"content":[]}}',
    b'{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"x"}}',
    b'[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}},'
    b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}},'
    b'{"jsonrpc":"2.0","id":2,"result":{}},{"jsonrpc":"2.0","id":3,"method":"tools/list"}]',
    b'[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete"}}]',
    b'{"jsonrpc":"2.0","id":"a","method":"tools\\/c\\u0061ll","params":{"n\\u0061me":"del\\u0065te"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","n\\u0061me":"b"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"amount":1e400}}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"amount":18446744073709551616,"currency":"usd"}}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"amount":-0.0,"currency":"eur","to":"acct_1"}}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"\\ud800","limit":1}}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"\\ud83d\\udd12 password","limit":1}}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"\xff"}}}',
    b'{"jsonrpc":"2.0","id":1.50,"method":"tools/call","params":{"name":"delete"}}',
    b'{"jsonrpc":"2.0","id":-0,"method":"tools/call","params":{"name":"delete"}}',
    b'{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"delete"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[1]}}',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}} {}',
    b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete"}}',
    b'  \n\t[]',
    b'grant_type=client_credentials&scope=x',
    b'{"name":"widget","method_name":"x"}',
    b'[' * 127 + b']' * 127,
    b'[' * 129 + b']' * 129,
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":'
    + b'{"a":' * 120 + b'1' + b'}' * 120 + b'}}',
]


def bodies_for(policies, rng):
    out = list(FIXED_BODIES)
    for name, policy in policies:
        i = 0
        for tool_name, tool in sorted(tools_of(policy).items())[:12]:
            for args in argument_sets(tool, rng):
                i += 1
                out.append(dumps(call(i, tool_name, args)))
        hide = policy.get("hide") if isinstance(policy, dict) else None
        if isinstance(hide, list):
            for h in hide[:3]:
                out.append(dumps(call(0, h, {})))
        tools = sorted(tools_of(policy))[:4]
        if len(tools) >= 2:
            out.append(dumps([call(k, t, {}) for k, t in enumerate(tools)]))
    return out


def engine_seed(config_text, body, flags=0):
    cfg = config_text.encode() if isinstance(config_text, str) else config_text
    return bytes([0x80, 0, 0, flags]) + struct.pack("<H", len(cfg)) + cfg + body


def stream_seed(config_index, flags, headers, body, response, req_splits=(), resp_splits=()):
    hdr = "\n".join(f"{k}:{v}" for k, v in headers).encode()
    rs = list(req_splits)[:4] + [0] * (4 - len(list(req_splits)[:4]))
    ps = list(resp_splits)[:4] + [0] * (4 - len(list(resp_splits)[:4]))
    head = struct.pack("<HBHH4H4H", config_index, flags, len(hdr), len(body), *rs, *ps)
    assert len(head) == 23
    return head + hdr + body + response


def stream_seeds(bodies, rng):
    out = []
    post = [(":method", "POST"), (":path", "/mcp"), ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"), ("x-agent-id", "agent-a"),
            ("mcp-session-id", "s-1"), ("x-request-id", "r-1")]
    ok = b'200\ncontent-type:application/json\n\n{"jsonrpc":"2.0","id":1,"result":{"content":[]}}'
    err = b'200\ncontent-type:application/json\n\n{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}}'
    sse = (b'200\ncontent-type:text/event-stream\n\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\n\n'
           b'event: message\r\ndata: {"jsonrpc":"2.0","id":1,\r\ndata: "error":{"code":-1,"message":"x"}}\r\n\r\n')
    listing = (b'200\ncontent-type:application/json\n\n{"jsonrpc":"2.0","id":"l","result":{"tools":['
               b'{"name":"pay"},{"name":"secret_tool"},{"name":"delete"},{"name":"unknown_tool"},{"nome":"x"},{"name":"search"}]}}')
    listing_sse = (b'200\ncontent-type:text/event-stream\n\nid: 1\ndata: {"jsonrpc":"2.0","id":"l","result":{"tools":'
                   b'[{"name":"drop_db"},{"name":"query"}]}}\n\n')
    tools_list = b'{"jsonrpc":"2.0","id":"l","method":"tools/list","params":{}}'
    for k, body in enumerate(bodies):
        index = rng.randrange(0, 14)
        flags = rng.choice([0x02, 0x03, 0x06, 0x12, 0x0A])
        n = len(body)
        splits = sorted(rng.randrange(0, n + 1) for _ in range(rng.randrange(0, 4))) if n else []
        resp = rng.choice([ok, err, sse, b"503\n\nupstream down", listing])
        out.append(stream_seed(index, flags, post, body, resp, splits, [10, 40]))
    # Other paths, methods, encodings, identities, routing headers.
    variants = [
        ([(":method", "POST"), (":path", "/oauth/token"), ("content-type", "application/x-www-form-urlencoded")],
         b"grant_type=client_credentials&scope=x", ok),
        ([(":method", "POST"), (":path", "/elsewhere"), ("content-type", "text/plain")],
         b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete"}}', ok),
        ([(":method", "POST"), (":path", "/api"), ("content-type", "application/json")],
         b'{"name":"widget"}', ok),
        ([(":method", "GET"), (":path", "/mcp"), ("accept", "text/event-stream")], b"", sse),
        ([(":method", "DELETE"), (":path", "/mcp"), ("mcp-session-id", "s")], b"", ok),
        ([(":method", "POST"), (":path", "/mcp"), ("content-encoding", "gzip")], b"\x1f\x8b\x08\x00", ok),
        ([(":method", "POST"), (":path", "/mcp"), ("mcp-method", "tools/call"), ("mcp-name", "echo"),
          ("mcp-protocol-version", "2026-07-28")],
         b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete"}}', ok),
        ([(":method", "POST"), (":path", "/mcp"), ("mcp-name", "=?base64?cGF5?=")],
         b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay"}}', ok),
        ([(":method", "POST"), (":path", "/mcp"), ("authorization", "Bearer tok")], tools_list, listing),
        ([(":method", "POST"), (":path", "/mcp"), ("x-agent-id", "agent-b")], tools_list, listing_sse),
        ([(":method", "POST"), (":path", "/v2/mcp?x=1"), ("x-agent-id", "agent-x")], tools_list, listing),
        ([(":method", "POST"), (":path", "/mcp")], b" " * 2000 + b'{"jsonrpc":"2.0","id":1,"method":"ping"}', ok),
    ]
    for index in range(14):
        for headers, body, resp in variants:
            out.append(stream_seed(index, rng.choice([0x02, 0x03, 0x0A, 0x12, 0x04]), headers, body, resp,
                                   [len(body) // 2], [len(resp) // 3]))
    return out


def write(dirpath, blobs):
    os.makedirs(dirpath, exist_ok=True)
    n = 0
    for b in blobs:
        name = hashlib.sha1(b).hexdigest()
        path = os.path.join(dirpath, name)
        if not os.path.exists(path):
            with open(path, "wb") as fh:
                fh.write(b)
            n += 1
    return n


def regex_seeds():
    """Patterns policies use, each with a few haystacks (NUL-separated)."""
    patterns = [
        r"^[a-z0-9][a-z0-9._-]*$", r"^corp/", r"(?i)drop\s+table", r"\.\.", r"^/etc/",
        r"@example\.com$", r"^[A-Za-z0-9 :;,.-]*$", r"\bfoo\b", r"(?m)^a$", r"a{2,3}|b+",
        r"[[:alpha:]]+\d*", r"(?s).", r"\<x\>", r"(a|ab)(c|bcd)", r"[^\s]+@[^\s]+",
    ]
    hays = ["", "widgets", "corp/x", "DROP  table", "a\nb", "/etc/passwd", "x@example.com", "é"]
    return [("\0".join([p] + hays)).encode() for p in patterns]


def toolslist_seeds(bodies):
    """`[mode]` + text: whole tool-list answers (mode 0..3: raw, each policy),
    tools for the target's templates (mode bits 2-3), and the mcp bodies."""
    tool = lambda n: {"name": n, "description": n + ": does one thing", "inputSchema": {
        "type": "object", "properties": {"repo": {"type": "string"}}, "required": ["repo"]}}
    whole = [
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [tool(n) for n in ["a", "b", "c", "echo", "delete_repo"]]}},
        [{"jsonrpc": "2.0", "id": 1, "result": {}}, {"jsonrpc": "2.0", "id": 2, "result": {"tools": [tool("b")], "nextCursor": "n"}}],
        {"jsonrpc": "2.0", "id": "x", "result": {"tools": [], "_meta": {"k": 1.50}}},
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": 1}, "x", None, {"nome": "a"}, {"name": "\u00e9"}]}},
    ]
    raw = [json.dumps(v, separators=(",", ":")).encode() for v in whole]
    raw += [json.dumps(v, indent=1).encode() for v in whole]
    raw += [
        rb'{"result":{"tool\u0073":[{"n\u0061me":"a"},{"name":"\u0062"}]},"id":1}',
        rb'{"result":{"tools":[{"name":"a","NAME":"b"}]}}',
        rb'{"result":{"tools":[{"name":"a"}],"Tools":[]}}',
        rb'{"result":{"tools":[{"name":"\ud83d\ude00"},{"name":"b"}]},"x":1e400}',
        '{"result":{"tools":[{"name":"é"},{"name":"b","K":1,"K":2}]}}'.encode(),
        b'{"result":{"tools":[{"name":"b"}]}} ',
        b'{"result":{"tools":[{"name":"b"}]}}x',
    ]
    items = [json.dumps(tool(n), separators=(",", ":")).encode() for n in ["a", "b", "c", "Name"]]
    items += [b'{"name":"b"},{"name":"a","x":[1,-0,2.5e-3,true,false,null]}', b'', b'{"name":"b","name":"b"}']
    out = [bytes([m]) + t for t in raw for m in range(4)]
    out += [bytes([m | (w << 2)]) + t for t in items for m in range(4) for w in (1, 2, 3)]
    out += [bytes([k % 4]) + b for k, b in enumerate(bodies[:64])]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared"))
    ap.add_argument("--cli", default=os.path.join(REPO, "target", "release", "mcp-policy"))
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    a = ap.parse_args()
    rng = random.Random(20261122)

    real = load_policies(a.shared, a.cli)
    if not real:
        print(f"build_corpus: no policies under {a.shared}/policies; seeding from fuzz/policies only",
              file=sys.stderr)
    pol_dir = os.path.join(a.out, "_policies")
    os.makedirs(pol_dir, exist_ok=True)
    for name, value in real:
        with open(os.path.join(pol_dir, name + ".json"), "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False)

    builtin = builtin_policies()
    all_values = real + [(n, json.loads(t)) for n, t in builtin]
    policy_texts = [json.dumps(v, ensure_ascii=False) for _, v in real] + [t for _, t in builtin]

    configs = []
    for t in policy_texts:
        configs.extend(w.encode() for w in wraps(t))
    # A few invalid ones: every error path wants a seed.
    configs += [
        b'{"version":"2","tools":{}}',
        b'{"version":"1","default":"maybe","hide":["a","a",""],"tools":{"t":{"rules":[{"action":"deny","conditions":[]}]}}}',
        b'{"version":"1","tools":{"t":{"rules":[{"name":"r","conditions":[{"path":"x.y","op":"gtt","value":1}]}]}}}',
        b'{"version":"1","tools":{"t":{"deny_if":[{"conditions":[{"path":"args.a","op":"regex","value":"("}]}]}}}',
        b'{"version":"1","tools":{"t":{"rules":[{"name":"r","rate_limit":"0/minute","state":{"counter":"c","window":"week"}}]}}}',
        b'{"version":"1","tools":{"t":{"rules":[{"name":"r","conditions":[{"path":"state.t.nope","op":"lte","value":1}]}]}}}',
        b'{"policies":{"a":{"version":"1","tools":{}}},"grants":{"g":{"policy":"b","match":["x"]},"h":{"policy":"a","match":["x"]}},"unmatched":"c"}',
        b'{"policy":{"version":"1","tools":{}},"policies":{}}',
        b'{"policy":{"version":"1","tools":{}},"mcp":{"paths":["mcp"],"max_body_bytes":0},"deny_as":"x","audit":{"arguments":"all"},"identity":[{"header":""},{"peer":"x"},{}]}',
        b'{"version":"1","tools":{"t":{"limits":[{"counter":"","window":1,"max":0,"scope":"planet","increment_from":"x"}]}}}',
        b'{"version":"1","tools":{},"tools":{}}',
    ]

    bodies = bodies_for(all_values, rng)

    engine = []
    for t in policy_texts:
        w = wraps(t)
        for body in rng.sample(bodies, min(6, len(bodies))):
            engine.append(engine_seed(rng.choice(w), body, rng.randrange(256)))
    for name, value in all_values:
        text = json.dumps(value, ensure_ascii=False)
        for tool_name, tool in sorted(tools_of(value).items())[:6]:
            for args in argument_sets(tool, rng):
                engine.append(engine_seed(text, dumps(call(1, tool_name, args)), rng.randrange(4)))
    for k in range(64):
        body = rng.choice(bodies)
        engine.append(bytes([0, k, 0, rng.randrange(256)]) + body)

    # tool_call reads its input through `arbitrary`: random bytes of many
    # lengths are as good a start as any.
    tool_call = [bytes(rng.randrange(256) for _ in range(n)) for n in
                 [8, 16, 32, 64, 64, 128, 128, 256, 256, 512, 1024, 2048] * 4]

    counts = {
        "config": write(os.path.join(a.out, "config"), configs),
        "mcp": write(os.path.join(a.out, "mcp"), bodies),
        "engine": write(os.path.join(a.out, "engine"), engine),
        "tool_call": write(os.path.join(a.out, "tool_call"), tool_call),
        "stream": write(os.path.join(a.out, "stream"), stream_seeds(bodies, rng)),
        "regex": write(os.path.join(a.out, "regex"), regex_seeds()),
        "toolslist": write(os.path.join(a.out, "toolslist"), toolslist_seeds(bodies)),
    }
    print(f"build_corpus: {len(real)} real policies in {pol_dir}; new seeds: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
