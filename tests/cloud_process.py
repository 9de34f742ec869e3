"""``ocilocal up`` with the tests' defaults: two partitions and no schedule."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from ocilocal import launcher
from ocilocal.launcher import free_port

__all__ = ["free_port", "running_cloud"]


@contextlib.contextmanager
def running_cloud(
    data_dir: Path,
    port: int,
    log_path: Path,
    *,
    functions_dir: Path | None = None,
    options: Sequence[str] = (),
) -> Iterator[dict]:
    """Run `ocilocal up` until the block ends; yield its state.json plus data_dir.

    ``functions_dir`` serves the functions of another folder (the repository's
    own when None), for tests that need a function config of their own.
    ``options`` are more ``ocilocal up`` options; a repeated one wins over the
    defaults above (e.g. ``["--drain-every", "1"]``).
    """
    defaults = ["--partitions", "2", "--drain-every", "0"]
    if functions_dir is not None:
        defaults += ["--functions-dir", str(functions_dir)]
    with launcher.running_cloud(
        data_dir, log_path=log_path, port=port, options=[*defaults, *options]
    ) as state:
        yield {**state, "data_dir": str(data_dir)}
