"""A tiny fdk function for the scheduler's tests: every call raises."""

from __future__ import annotations


def handler(ctx, data=None):
    """Fail, as a broken function would."""
    raise RuntimeError("this function always fails")
