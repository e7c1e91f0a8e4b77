"""Envoy bootstrap generator for the e2e tests (and the demo).

One listener on 127.0.0.1 with the HTTP connection manager; HTTP filters in this order:
  extra_filters (e.g. jwt_authn) -> [mcp-policy wasm filter] -> [buffer] -> extra_filters_after -> router
Routes: optional direct responses first, then everything else to the MCP server cluster.
The access log is a JSON line per request with the filter's filter-state keys.

The wasm filter, as the product contract wires it (envoy.filters.http.wasm, typed config
envoy.extensions.filters.http.wasm.v3.Wasm whose `config` is an
envoy.extensions.wasm.v3.PluginConfig):
  PluginConfig.name / root_id           "mcp_policy"
  PluginConfig.vm_config                VmConfig{vm_id "mcp_policy", runtime "envoy.wasm.runtime.v8",
                                                 code.local.filename <wasm path>}
  PluginConfig.configuration            google.protobuf.StringValue holding the plugin JSON
  PluginConfig.allow_on_headers_stop_iteration   google.protobuf.BoolValue (Envoy >= 1.35)
  PluginConfig.failure_policy           FAIL_CLOSED (default) | FAIL_OPEN | FAIL_RELOAD
Without allow_on_headers_stop_iteration a Pause from on_request_headers becomes
StopAllIteration and the body callbacks never run: the request hangs.

CLI: python -m e2e.envoy_config --port 10000 --admin-port 9901 --upstream-port 8000 \
        [--wasm PATH --plugin-config FILE] [--no-buffer] [--access-log FILE] > envoy.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
UPSTREAM_CLUSTER = "mcp_upstream"
FAILURE_POLICIES = ("FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD")

# Filter-state keys the filter sets (proxy-wasm set_property(["mcp_policy.decision"], ..)
# becomes filter state "wasm.mcp_policy.decision").
FILTER_STATE_FIELDS = {
    "decision": "wasm.mcp_policy.decision",
    "tool": "wasm.mcp_policy.tool",
    "grant": "wasm.mcp_policy.grant",
    "rule": "wasm.mcp_policy.rule",
}

ACCESS_LOG_FORMAT: dict[str, str] = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(:PATH)%",
    "status": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "details": "%RESPONSE_CODE_DETAILS%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration_ms": "%DURATION%",
    "upstream_host": "%UPSTREAM_HOST%",
    "session": "%REQ(MCP-SESSION-ID)%",
    "agent": "%REQ(X-AGENT-ID)%",
    **{k: f"%FILTER_STATE({v}:PLAIN)%" for k, v in FILTER_STATE_FIELDS.items()},
}


def static_cluster(name: str, port: int, host: str = HOST, http2: bool = False,
                   connect_timeout: str = "1s", buffer_limit: int | None = None) -> dict[str, Any]:
    """A STATIC cluster with one endpoint (for the MCP server, an approval service, an RLS...)."""
    c: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": host, "port_value": port}}}}]}],
        },
    }
    if http2:
        c["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    if buffer_limit is not None:
        c["per_connection_buffer_limit_bytes"] = buffer_limit
    return c


def wasm_filter(wasm_path: str | Path, plugin_config: Any = None, *, root_id: str = "mcp_policy",
                vm_id: str = "mcp_policy", allow_on_headers_stop_iteration: bool | None = True,
                failure_policy: str | None = None, name: str = "mcp_policy") -> dict[str, Any]:
    """The envoy.filters.http.wasm entry running the mcp-policy filter.

    plugin_config: a dict/list (serialised to JSON), a str (used as is), or None ("{}").
    allow_on_headers_stop_iteration: None leaves the field out (Envoy's default, false).
    """
    if plugin_config is None:
        config_text = "{}"
    elif isinstance(plugin_config, str):
        config_text = plugin_config
    else:
        config_text = json.dumps(plugin_config)
    plugin: dict[str, Any] = {
        "name": name,
        "root_id": root_id,
        "vm_config": {
            "vm_id": vm_id,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": str(Path(wasm_path).resolve())}},
        },
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": config_text,
        },
    }
    if allow_on_headers_stop_iteration is not None:
        plugin["allow_on_headers_stop_iteration"] = bool(allow_on_headers_stop_iteration)
    if failure_policy is not None:
        if failure_policy not in FAILURE_POLICIES:
            raise ValueError(f"failure_policy must be one of {FAILURE_POLICIES}")
        plugin["failure_policy"] = failure_policy
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": plugin,
        },
    }


def buffer_filter(max_request_bytes: int = 1 << 20) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.buffer",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
            "max_request_bytes": max_request_bytes,
        },
    }


ROUTER_FILTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


@dataclass
class EnvoyConfig:
    """Everything the generated bootstrap depends on. Port 0 means: let Envoy pick."""

    upstream_port: int
    port: int = 0
    admin_port: int = 0
    access_log_path: str | Path | None = None
    # wasm filter: on when wasm_path is set
    wasm_path: str | Path | None = None
    plugin_config: Any = None
    allow_on_headers_stop_iteration: bool | None = True
    failure_policy: str | None = None
    root_id: str = "mcp_policy"
    vm_id: str = "mcp_policy"
    # buffer filter: None = off, else its max_request_bytes
    buffer_max_request_bytes: int | None = None
    # listener (downstream) and upstream per-connection buffer limit; Envoy's default is 1 MiB
    per_connection_buffer_limit_bytes: int | None = None
    extra_filters: list[dict] = field(default_factory=list)        # before the wasm filter
    extra_filters_after: list[dict] = field(default_factory=list)  # after buffer, before router
    extra_clusters: list[dict] = field(default_factory=list)
    # path prefix -> (status, body): answered by Envoy itself, never reaching the upstream
    direct_responses: dict[str, tuple[int, str]] = field(default_factory=dict)
    route_timeout: str = "0s"  # 0s: no timeout (SSE streams may stay open)
    stat_prefix: str = "mcp"
    extra_hcm: dict = field(default_factory=dict)  # merged into the HttpConnectionManager config

    def http_filters(self) -> list[dict]:
        filters = list(self.extra_filters)
        if self.wasm_path is not None:
            filters.append(wasm_filter(
                self.wasm_path, self.plugin_config, root_id=self.root_id, vm_id=self.vm_id,
                allow_on_headers_stop_iteration=self.allow_on_headers_stop_iteration,
                failure_policy=self.failure_policy))
        if self.buffer_max_request_bytes is not None:
            filters.append(buffer_filter(self.buffer_max_request_bytes))
        filters.extend(self.extra_filters_after)
        filters.append(ROUTER_FILTER)
        return filters

    def routes(self) -> list[dict]:
        routes = []
        for prefix, (status, body) in self.direct_responses.items():
            routes.append({"match": {"prefix": prefix},
                           "direct_response": {"status": status, "body": {"inline_string": body}}})
        routes.append({"match": {"prefix": "/"},
                       "route": {"cluster": UPSTREAM_CLUSTER, "timeout": self.route_timeout}})
        return routes

    def access_logs(self) -> list[dict]:
        if self.access_log_path is None:
            return []
        return [{
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": str(self.access_log_path),
                "log_format": {"json_format": ACCESS_LOG_FORMAT},
            },
        }]

    def bootstrap(self) -> dict[str, Any]:
        hcm: dict[str, Any] = {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                     ".HttpConnectionManager",
            "stat_prefix": self.stat_prefix,
            "codec_type": "AUTO",
            "access_log": self.access_logs(),
            "route_config": {
                "name": "local",
                "virtual_hosts": [{"name": "mcp", "domains": ["*"], "routes": self.routes()}],
            },
            "http_filters": self.http_filters(),
        }
        hcm.update(self.extra_hcm)
        listener: dict[str, Any] = {
            "name": "mcp_listener",
            "address": {"socket_address": {"address": HOST, "port_value": self.port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": hcm,
            }]}],
        }
        if self.per_connection_buffer_limit_bytes is not None:
            listener["per_connection_buffer_limit_bytes"] = self.per_connection_buffer_limit_bytes
        clusters = [static_cluster(UPSTREAM_CLUSTER, self.upstream_port,
                                   buffer_limit=self.per_connection_buffer_limit_bytes)]
        clusters.extend(self.extra_clusters)
        return {
            "node": {"id": "mcp-policy-e2e", "cluster": "mcp-policy-e2e"},
            "admin": {"address": {"socket_address": {"address": HOST, "port_value": self.admin_port}}},
            "static_resources": {"listeners": [listener], "clusters": clusters},
        }

    def write(self, path: str | Path) -> Path:
        """Write the bootstrap as JSON (Envoy picks the parser from the .json extension)."""
        p = Path(path)
        if p.suffix != ".json":
            raise ValueError("write the bootstrap to a .json file")
        p.write_text(json.dumps(self.bootstrap(), indent=2) + "\n")
        return p


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Print an Envoy bootstrap (JSON) for mcp-policy.")
    ap.add_argument("--port", type=int, default=10000)
    ap.add_argument("--admin-port", type=int, default=9901)
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--wasm", help="path of mcp_policy.wasm; omit for no wasm filter")
    ap.add_argument("--plugin-config", help="file holding the plugin JSON")
    ap.add_argument("--failure-policy", choices=FAILURE_POLICIES)
    ap.add_argument("--no-stop-iteration", action="store_true",
                    help="leave allow_on_headers_stop_iteration out (requests will hang)")
    ap.add_argument("--buffer", type=int, metavar="BYTES", help="add the buffer filter")
    ap.add_argument("--buffer-limit", type=int, metavar="BYTES", help="per_connection_buffer_limit_bytes")
    ap.add_argument("--access-log", help="file for the JSON access log")
    args = ap.parse_args(argv)
    plugin = Path(args.plugin_config).read_text() if args.plugin_config else None
    cfg = EnvoyConfig(
        upstream_port=args.upstream_port, port=args.port, admin_port=args.admin_port,
        access_log_path=args.access_log, wasm_path=args.wasm, plugin_config=plugin,
        allow_on_headers_stop_iteration=None if args.no_stop_iteration else True,
        failure_policy=args.failure_policy, buffer_max_request_bytes=args.buffer,
        per_connection_buffer_limit_bytes=args.buffer_limit)
    json.dump(cfg.bootstrap(), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
