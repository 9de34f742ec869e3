"""Tests of ocifn.logs: the key=value invocation line."""

from __future__ import annotations

from ocifn import logs


def test_format_fields_plain_and_quoted_values():
    """Values with spaces or quotes are quoted; dicts are compact."""
    line = logs.format_fields(
        {"function": "drain", "reason": 'a "b" c', "committed": {0: 5, 1: 9}}
    )

    assert line == 'function=drain reason="a \\"b\\" c" committed={0:5,1:9}'


def test_annotate_outside_invocation_is_ignored():
    """Annotating with no invocation running does nothing."""
    logs.annotate(read=1)

    with logs.invocation_fields(function="x") as fields:
        logs.annotate(read=2)

    assert fields == {"function": "x", "read": 2}
