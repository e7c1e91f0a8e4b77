// A witness: a real MCP server on the official TypeScript SDK, set up the way its
// documentation does (createMcpExpressApp, so express.json() reads the body by its
// declared charset), whose tools write down exactly what they received. For the
// reader-differential tests (SPEC §4.1).
//
//   node witness.mjs --port-file F --record R [--json-response]
//
// Streamable HTTP on /mcp and on /alt (the same server under a path the filter's
// mcp.paths may not list), stateful sessions, an in-memory event store for resumption.
// Each tool call appends {"server": "typescript", "tool": name, "args": {...}} to R:
// numbers as the JavaScript double the tool got.
import { randomUUID } from "node:crypto";
import { appendFileSync, writeFileSync } from "node:fs";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const record = opt("--record");
const jsonResponse = argv.includes("--json-response");

function saw(tool, args) {
  appendFileSync(record, JSON.stringify({ server: "typescript", tool, args }) + "\n");
}

const text = (t) => ({ content: [{ type: "text", text: t }] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function newServer() {
  const s = new McpServer({ name: "mcp-policy-witness-ts", version: "1.0.0" });
  s.registerTool("echo", { inputSchema: { text: z.string() } }, async (a) => {
    saw("echo", a);
    return text(a.text);
  });
  s.registerTool("delete_repository", { inputSchema: { repo: z.string() } }, async (a) => {
    saw("delete_repository", a);
    return text(`deleted ${a.repo}`);
  });
  s.registerTool("lookup", { inputSchema: { account: z.number() } }, async (a) => {
    saw("lookup", a);
    return text(`account ${a.account}`);
  });
  s.registerTool("configure", { inputSchema: { config: z.record(z.string(), z.any()) } }, async (a) => {
    saw("configure", a);
    return text("configured");
  });
  s.registerTool("transfer", { inputSchema: { account: z.number(), to: z.string() } }, async (a) => {
    saw("transfer", a);
    if (a.to === "nobody") {
      throw new McpError(ErrorCode.InvalidParams, "transfer: unknown recipient (after the debit)");
    }
    return text(`moved ${a.account} to ${a.to}`);
  });
  s.registerTool("slow", { inputSchema: { ms: z.number() } }, async (a) => {
    saw("slow", a);
    await sleep(a.ms);
    return text(`slept ${a.ms} ms`);
  });
  return s;
}

// Every event of every stream, for resumption with Last-Event-ID.
class MemoryEventStore {
  constructor() {
    this.events = [];
    this.n = 0;
  }
  async storeEvent(streamId, message) {
    const eventId = `ev-${++this.n}`;
    this.events.push({ eventId, streamId, message });
    return eventId;
  }
  async getStreamIdForEventId(eventId) {
    return this.events.find((e) => e.eventId === eventId)?.streamId;
  }
  async replayEventsAfter(lastEventId, { send }) {
    const at = this.events.findIndex((e) => e.eventId === lastEventId);
    if (at < 0) return "";
    const streamId = this.events[at].streamId;
    for (const e of this.events.slice(at + 1)) {
      if (e.streamId === streamId && e.message) await send(e.eventId, e.message);
    }
    return streamId;
  }
}

const sessions = new Map();
const eventStore = new MemoryEventStore();

async function handle(req, res) {
  try {
    const id = req.headers["mcp-session-id"];
    let t = id ? sessions.get(id) : undefined;
    if (!t) {
      t = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: jsonResponse,
        eventStore: jsonResponse ? undefined : eventStore,
        onsessioninitialized: (sid) => sessions.set(sid, t),
      });
      t.onclose = () => {
        if (t.sessionId) sessions.delete(t.sessionId);
      };
      await newServer().connect(t);
    }
    await t.handleRequest(req, res, req.body);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) res.status(500).end();
  }
}

const app = createMcpExpressApp();
app.get("/healthz", (_req, res) => res.send("ok"));
for (const path of ["/mcp", "/alt"]) {
  app.post(path, handle);
  app.get(path, handle);
  app.delete(path, handle);
}
const server = app.listen(0, "127.0.0.1", () => {
  writeFileSync(opt("--port-file"), String(server.address().port));
});
