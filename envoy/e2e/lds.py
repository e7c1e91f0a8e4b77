"""An Envoy whose listener comes from a file (LDS over the filesystem), so a test can reload the
listener -- and with it the mcp_policy plugin configuration -- in a running Envoy.

Bootstrap: the clusters stay static; the listener is
  dynamic_resources.lds_config.path_config_source.path = <work>/lds/lds.json
a JSON DiscoveryResponse {"version_info": V, "resources": [Listener]}.

How Envoy 1.40 picks a change up (PathConfigSource): without `watched_directory` it watches the
file path for *moves* (inotify IN_MOVED_TO on the path); with `watched_directory` any entry
moved into that directory triggers a reload of the path. Editing the file in place is never
seen. push() therefore writes a temporary file in the same directory and renames it over the
watched path (an atomic rename, as the Envoy docs ask).

An update is applied when admin stat `listener_manager.lds.update_success` grows, and
refused when `listener_manager.lds.update_rejected` grows (Envoy then keeps the previous
listener; the log says why, e.g. `mcp_policy: configuration error: ...`).
wait_update() waits for either; wait_active(version) until LDS holds that version
(`listener_manager.lds.version_text`) and no listener is warming. A change of the HTTP filters
alone is an in-place filter-chain update (`listener_manager.listener_in_place_updated`): new
connections get the new chain at once, connections already open keep the old one while it
drains (`listener_manager.total_filter_chains_draining`).

The listener port is fixed (picked free before start): a listener update keeps its address.

    env = LdsEnvoy(EnvoyConfig(upstream_port=..., wasm_path=..., plugin_config=...), work).start()
    env.push_plugin_config(new_plugin_json)      # same listener, new plugin configuration
    assert env.wait_update() == "success"
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

from .envoy_config import EnvoyConfig
from .envoy_proc import EnvoyProcess
from .ports import free_port

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"


class LdsError(RuntimeError):
    pass


class LdsEnvoy(EnvoyProcess):
    def __init__(self, config: EnvoyConfig, work_dir: str | Path, *, watched_directory: bool = False,
                 **kwargs: Any):
        work_dir = Path(work_dir)
        self.listener_config = copy.deepcopy(config)
        if not self.listener_config.port:
            self.listener_config.port = free_port()
        self.lds_dir = work_dir / "lds"
        self.lds_path = self.lds_dir / "lds.json"
        self.watched_directory = watched_directory
        self.version = 0
        boot = self.listener_config.bootstrap()
        listener = boot["static_resources"].pop("listeners")[0]
        source: dict[str, Any] = {"path": str(self.lds_path)}
        if watched_directory:
            source["watched_directory"] = {"path": str(self.lds_dir)}
        boot["dynamic_resources"] = {"lds_config": {"path_config_source": source,
                                                    "resource_api_version": "V3"}}
        super().__init__(boot, work_dir, **kwargs)
        self._initial_listener = listener

    @property
    def access_log_path(self) -> Path | None:
        p = self.listener_config.access_log_path
        return Path(p) if p is not None else None

    def start(self, timeout: float = 30.0) -> "LdsEnvoy":
        self.lds_dir.mkdir(parents=True, exist_ok=True)
        self._write(self._initial_listener)
        super().start(timeout)
        return self

    # -- pushing ---------------------------------------------------------------------------
    def _write(self, listener: dict[str, Any]) -> str:
        self.version += 1
        doc = {"version_info": str(self.version), "resources": [{"@type": LISTENER_TYPE, **listener}]}
        tmp = self.lds_dir / f".lds.{self.version}.tmp"
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, self.lds_path)  # an atomic move onto the watched path
        return str(self.version)

    def listener_for(self, config: EnvoyConfig) -> dict[str, Any]:
        """The listener resource a config describes, on this Envoy's port."""
        config = copy.deepcopy(config)
        config.port = self.listener_config.port
        return config.bootstrap()["static_resources"]["listeners"][0]

    def push(self, listener_or_config: EnvoyConfig | dict[str, Any]) -> str:
        """Replace the listener; returns the version written. Then wait_update()."""
        self._counts_before = self.lds_counts()
        listener = (self.listener_for(listener_or_config) if isinstance(listener_or_config, EnvoyConfig)
                    else listener_or_config)
        return self._write(listener)

    def push_plugin_config(self, plugin_config: Any, **changes: Any) -> str:
        """The same listener with another plugin configuration (and any other EnvoyConfig
        fields in `changes`, e.g. wasm_path=..., failure_policy=...)."""
        cfg = copy.deepcopy(self.listener_config)
        cfg.plugin_config = plugin_config
        for k, v in changes.items():
            setattr(cfg, k, v)
        return self.push(cfg)

    # -- waiting ---------------------------------------------------------------------------
    def lds_counts(self) -> dict[str, int]:
        stats = self.stats(filter="listener_manager")
        return {k.rsplit(".", 1)[1]: int(v) for k, v in stats.items()
                if k.startswith("listener_manager.lds.update_") and v.strip().isdigit()}

    def wait_update(self, timeout: float = 15.0) -> str:
        """"success" or "rejected" for the last push (LdsError on timeout)."""
        before = getattr(self, "_counts_before", {})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.lds_counts()
            if now.get("update_rejected", 0) > before.get("update_rejected", 0):
                return "rejected"
            if now.get("update_success", 0) > before.get("update_success", 0):
                return "success"
            if not self.alive():
                raise LdsError("Envoy exited while applying an LDS update\n" + self.log_text(max_lines=60))
            time.sleep(0.05)
        raise LdsError(f"no LDS update seen in {timeout}s: {self.lds_counts()}\n" + self.log_text(max_lines=60))

    def active_version(self) -> str | None:
        """The version LDS last accepted (admin stat listener_manager.lds.version_text).
        /config_dump's active_state.version_info is not it: an in-place filter-chain update
        keeps the listener's first version_info there."""
        text = self.stats(filter="listener_manager.lds.version_text").get("listener_manager.lds.version_text")
        return None if text is None else text.strip().strip('"')

    def wait_active(self, version: str, timeout: float = 15.0) -> None:
        """Until LDS has accepted `version` and no listener is warming: new connections get
        the new filter chain. Connections opened before keep the old chain while it drains."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.active_version() == version and self.stat("listener_manager.total_listeners_warming", 0) == 0:
                return
            time.sleep(0.05)
        raise LdsError(f"listener version {version} not active after {timeout}s "
                       f"(active: {self.active_version()})\n" + self.log_text(max_lines=60))
