"""Logging: a logger per module, one key=value line per invocation.

The library only adds a NullHandler (see the package ``__init__``);
``configure_function_logging`` is for a function's ``func.py``. Fields of the
invocation line are collected with ``annotate`` while the handler runs and
written once by ``responses.handle``. Never log a secret or a payload.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

INVOCATION_LOGGER = "ocifn.invocation"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "ocifn_invocation_fields", default=None
)
_configured_handler: logging.Handler | None = None


def configure_function_logging(level: str = "INFO") -> None:
    """Send log lines to stderr (fdk's log collection) at ``level``; idempotent.

    Under fdk the root logger already has fdk's stderr handler, which puts the
    call id on each line; a second handler would write every line twice, so
    one is added only when the root logger has none.
    """
    global _configured_handler
    root = logging.getLogger()
    if _configured_handler is None and not root.handlers:
        _configured_handler = logging.StreamHandler(sys.stderr)
        _configured_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(_configured_handler)
    root.setLevel(level)
    logging.getLogger("ocifn").setLevel(level)
    # NOTE: the SDK logs request details at DEBUG; keep it quieter than ours.
    logging.getLogger("oci").setLevel(max(logging.getLevelName(level), logging.INFO))


def annotate(**fields: Any) -> None:
    """Add key/values to the current invocation's line; ignored outside one."""
    current = _fields.get()
    if current is not None:
        current.update(fields)


@contextmanager
def invocation_fields(**fields: Any) -> Iterator[dict[str, Any]]:
    """Collect the fields of one invocation's line."""
    current = dict(fields)
    token = _fields.set(current)
    try:
        yield current
    finally:
        _fields.reset(token)


def format_fields(fields: dict[str, Any]) -> str:
    """``key=value`` pairs; values with spaces or quotes are JSON-quoted."""
    parts = []
    for key, value in fields.items():
        parts.append(f"{key}={_format_value(value)}")

    return " ".join(parts)


def _format_value(value: Any) -> str:
    if isinstance(value, dict):
        inner = ",".join(f"{key}:{item}" for key, item in value.items())
        return "{" + inner + "}"
    text = str(value)
    if not text or any(character in text for character in ' "='):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return text
