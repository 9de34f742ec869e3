"""Tests of ocifn.errors: statuses, codes and context."""

from __future__ import annotations

import pytest
from ocifn import errors


@pytest.mark.parametrize(
    ("error_class", "status", "code"),
    [
        (errors.ConfigError, 500, "config_error"),
        (errors.SecretNotFound, 404, "not_found"),
        (errors.SecretNotAllowed, 403, "not_allowed"),
        (errors.StreamError, 503, "stream_error"),
        (errors.DatabaseError, 503, "database_error"),
        (errors.InputError, 400, "invalid_input"),
        (errors.PayloadTooLarge, 413, "payload_too_large"),
    ],
)
def test_error_class_default_status_and_code(error_class, status, code):
    """Each failure domain has its HTTP status and stable code."""
    error = error_class("message")

    assert (error.status, error.code) == (status, code)
    assert isinstance(error, errors.OcifnError)


def test_error_str_context_appended_as_key_values():
    """Context travels with the error as key=value pairs."""
    error = errors.StreamError("refused", context={"partition": 0, "offset": 7})

    assert str(error) == "refused (partition=0 offset=7)"
    assert error.message == "refused"
