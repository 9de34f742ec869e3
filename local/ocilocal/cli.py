"""The `ocilocal` command: `ocilocal up` runs the local cloud in the foreground.

`ocilocal up` adds the Functions, gateway and scheduler plugins to the
server; `ocilocal demo` runs the whole flow once against a cloud it starts.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import click

from ocilocal import demo, functions, gateway, scheduler
from ocilocal.context import Cloud
from ocilocal.datalock import DataDirInUse
from ocilocal.server import PluginFactory, Server
from ocilocal.streaming import CURSOR_TTL_SECONDS


def plugin_factories(options: dict[str, Any]) -> list[PluginFactory]:
    """The Functions, gateway and scheduler plugins, each made once the cloud is."""
    return [
        lambda cloud: functions.create_plugin(cloud, options),
        lambda cloud: gateway.create_plugin(cloud, options),
        lambda cloud: scheduler.create_plugin(cloud, options),
    ]


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
        plugin_factories=plugin_factories(options),
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


main.add_command(demo.command, name="demo")
