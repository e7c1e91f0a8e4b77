// A real MCP server on the official TypeScript SDK, for the Envoy end-to-end tests.
//
//   node server.mjs --port-file F --record R [--stateless] [--json-response]
//
// Listens on 127.0.0.1 (a port the kernel picks, written to F). Every POST body that
// reaches it is appended to R as one JSON line before the SDK sees it, so a test can
// assert that nothing the filter denied arrived. Streamable HTTP on /mcp; by default
// stateful sessions and SSE answers, the SDK's defaults.
import { randomUUID } from "node:crypto";
import { writeFileSync, appendFileSync } from "node:fs";
import http from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const stateless = argv.includes("--stateless");
const jsonResponse = argv.includes("--json-response");
const record = opt("--record");

function text(t) {
  return { content: [{ type: "text", text: t }] };
}

function newServer() {
  const s = new McpServer({ name: "mcp-policy-e2e-ts", version: "1.0.0" });
  s.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text: t }) => text(t));
  s.registerTool(
    "create_issue",
    { inputSchema: { repo: z.string(), title: z.string() } },
    async ({ repo, title }) => text(`created issue in ${repo}: ${title}`),
  );
  s.registerTool("delete_repository", { inputSchema: { repo: z.string() } }, async ({ repo }) =>
    text(`deleted ${repo}`),
  );
  s.registerTool("get_file_contents", { inputSchema: { path: z.string() } }, async ({ path }) =>
    text(`contents of ${path}`),
  );
  s.registerTool(
    "create_charge",
    { inputSchema: { amount: z.number(), currency: z.string() } },
    async ({ amount, currency }) => text(`charged ${amount} ${currency}`),
  );
  return s;
}

const sessions = new Map();

async function transportFor(req, body) {
  if (stateless) {
    const t = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: jsonResponse,
    });
    await newServer().connect(t);
    return t;
  }
  const id = req.headers["mcp-session-id"];
  if (id && sessions.has(id)) return sessions.get(id);
  const t = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: jsonResponse,
    onsessioninitialized: (sid) => sessions.set(sid, t),
  });
  await newServer().connect(t);
  return t;
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.url === "/healthz") {
      res.end("ok");
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString("utf8");
    if (req.method === "POST") {
      appendFileSync(record, JSON.stringify({ path: req.url, body: raw }) + "\n");
    }
    let body;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400, { "content-type": "application/json" });
        res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
        return;
      }
    }
    const t = await transportFor(req, body);
    await t.handleRequest(req, res, body);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  }
});

server.listen(0, "127.0.0.1", () => {
  writeFileSync(opt("--port-file"), String(server.address().port));
});
