"""The `ocilocal` command: `ocilocal up` runs the local cloud in the foreground.

Optional plugins are found by module name: `ocilocal.functions`,
`ocilocal.gateway` and `ocilocal.scheduler` each expose
`create_plugin(cloud, options) -> Plugin`; `ocilocal.demo` exposes `command`,
registered as `ocilocal demo`.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import sys
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from ocilocal.context import Cloud, Plugin
from ocilocal.datalock import DataDirInUse
from ocilocal.server import PluginFactory, Server
from ocilocal.streaming import CURSOR_TTL_SECONDS

PLUGIN_MODULES = ("ocilocal.functions", "ocilocal.gateway", "ocilocal.scheduler")


def optional_module(name: str) -> ModuleType | None:
    """The module if it exists in the package, else None (import errors propagate)."""
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def plugin_factories(options: dict[str, Any]) -> list[PluginFactory]:
    """One factory per plugin module present: cloud -> Plugin."""
    factories: list[PluginFactory] = []
    for name in PLUGIN_MODULES:
        module = optional_module(name)
        if module is not None:
            factories.append(partial(_create_plugin, module, options))
    return factories


def _create_plugin(module: ModuleType, options: dict[str, Any], cloud: Cloud) -> Plugin:
    return module.create_plugin(cloud, options)


@click.group()
def main() -> None:
    """The local cloud: OCI Streaming, Vault, Functions and a gateway on loopback."""


@main.command()
@click.option(
    "--data",
    "data_dir",
    default=".ocilocal",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the cloud's state, keys and the app database.",
)
@click.option(
    "--port",
    default=8780,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Loopback port to serve on.",
)
@click.option(
    "--partitions",
    default=2,
    show_default=True,
    type=click.IntRange(1, 200),
    help="Partitions of the `people` stream.",
)
@click.option(
    "--drain-every",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between scheduled drains; 0 disables the schedule.",
)
@click.option(
    "--functions-dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the functions (the plugin's default if unset).",
)
@click.option(
    "--functions-from-staged",
    "staged_dir",
    default=None,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Run each function from STAGED/<name>/ as deploy/install_function.py"
    " installs it, alone on its path.",
)
@click.option(
    "--auth/--no-auth",
    default=True,
    show_default=True,
    help="Check OCI request signatures.",
)
@click.option(
    "--drain-instances",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Copies of drain-stream-to-db in one consumer group, each fired by the"
    " schedule (CONSUMER_INSTANCE drain-stream-to-db-1..N).",
)
@click.option(
    "--retention-seconds",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Keep messages this long on every stream, instead of its retentionInHours.",
)
@click.option(
    "--enforce-limits/--no-enforce-limits",
    default=False,
    show_default=True,
    help="Throttle as OCI Streaming does: 5 GetMessages/s per partition per group,"
    " 1 MB/s writes per partition.",
)
@click.option(
    "--cursor-ttl-seconds",
    default=CURSOR_TTL_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="How long a stream cursor stays valid (OCI: 300).",
)
@click.option(
    "--iam-dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder with policies.txt and dynamic-groups.json (default: deploy/iam).",
)
@click.option("--log-level", default="INFO", show_default=True)
def up(
    data_dir: Path,
    port: int,
    partitions: int,
    drain_every: float,
    functions_dir: Path | None,
    staged_dir: Path | None,
    auth: bool,
    drain_instances: int,
    retention_seconds: float | None,
    enforce_limits: bool,
    cursor_ttl_seconds: float,
    iam_dir: Path | None,
    log_level: str,
) -> None:
    """Run the local cloud in the foreground until SIGINT or SIGTERM."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    options = {
        "data_dir": data_dir,
        "port": port,
        "partitions": partitions,
        "drain_every": drain_every,
        "functions_dir": functions_dir,
        "staged_dir": staged_dir,
        "drain_instances": drain_instances,
    }
    cloud = Cloud(data_dir=data_dir, port=port)
    server = Server(
        cloud,
        partitions=partitions,
        plugin_factories=[partial(factory) for factory in plugin_factories(options)],
        auth=auth,
        iam_dir=iam_dir,
        retention_seconds=retention_seconds,
        enforce_limits=enforce_limits,
        cursor_ttl_seconds=cursor_ttl_seconds,
    )
    try:
        asyncio.run(server.run())
    except DataDirInUse as exc:
        click.echo(f"ocilocal: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"ocilocal: cannot serve on 127.0.0.1:{port}: {exc}", err=True)
        sys.exit(1)


_demo = optional_module("ocilocal.demo")
if _demo is not None:
    main.add_command(_demo.command, name="demo")
