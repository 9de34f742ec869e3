"""What the bundle should answer for a body or do with a message, from its rules.

Written from the documented rules (README, ``ocifn.records`` docstrings), not
from the code, so the property tests compare the product against a second
reading of the same contract.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_BATCH_RECORDS = 1000


def is_person(document: Any) -> bool:
    """A JSON object holding a valid Person."""
    if not isinstance(document, dict):
        return False

    name = document.get("name")
    if not isinstance(name, str) or not name.strip() or _utf8_bytes(name) is None:
        return False
    if _utf8_bytes(name) > 255:
        return False
    age = document.get("age")
    if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 150:
        return False
    comment = document.get("comment")
    if comment is None:
        return True
    if not isinstance(comment, str):
        return False
    length = _utf8_bytes(comment)
    return length is not None and length <= 4000


def parse_json(raw: bytes) -> tuple[bool, Any]:
    """(True, document) for strict UTF-8 JSON, else (False, None).

    NaN and Infinity are refused, and so are a key twice in one object and
    nesting too deep to parse. An integer may have any number of digits.
    """
    try:
        text = raw.decode("utf-8")
        return True, json.loads(
            text,
            parse_constant=_refuse,
            parse_int=_any_integer,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False, None


def publish_status(body: bytes) -> int:
    """The status publish-message should answer for a body: 200, 400 or 413."""
    if len(body) > MAX_BODY_BYTES:
        return 413
    parsed, document = parse_json(body)
    if not parsed:
        return 400
    documents = document if isinstance(document, list) else [document]
    if not isinstance(document, dict | list) or not documents:
        return 400
    if len(documents) > MAX_BATCH_RECORDS:
        return 413
    return 200 if all(is_person(item) for item in documents) else 400


def message_is_person(value: bytes) -> bool:
    """Whether a raw stream message should become a person row."""
    parsed, document = parse_json(value)
    return parsed and is_person(document)


def _utf8_bytes(text: str) -> int | None:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _refuse(name: str) -> Any:
    raise ValueError(name)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def _any_integer(text: str) -> int:
    # Decimal has no digit limit, unlike int() of a string.
    return int(Decimal(text))
