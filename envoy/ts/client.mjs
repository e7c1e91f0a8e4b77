// A real MCP client on the official TypeScript SDK, for the Envoy end-to-end tests.
//
//   node client.mjs URL '{"x-agent-id": "a"}' '[["echo", {"text": "hi"}], ...]'
//
// Connects over Streamable HTTP (initialize, then the session the server gives), lists
// the tools, calls each tool in turn, and prints one JSON object:
//   {"tools": [names], "calls": [{"result": CallToolResult} | {"error": {code, message, data}}]}
// (a URL elicitation the SDK raises as UrlElicitationRequiredError keeps its data.elicitations)
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, headers, script] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: JSON.parse(headers) },
});
const client = new Client({ name: "mcp-policy-e2e-ts-client", version: "1.0.0" });
await client.connect(transport);
const tools = (await client.listTools()).tools.map((t) => t.name);
const calls = [];
for (const [name, args] of JSON.parse(script)) {
  try {
    calls.push({ result: await client.callTool({ name, arguments: args }) });
  } catch (e) {
    calls.push({ error: { code: e.code ?? null, message: String(e.message), data: e.data ?? null } });
  }
}
await client.close();
console.log(JSON.stringify({ tools, calls }));
