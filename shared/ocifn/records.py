"""The Person record: validation, parsing of request bodies and stream messages.

Limits follow the Oracle columns of deploy/oracle/schema.sql: ``name``
VARCHAR2(255 BYTE) and ``comment_text`` VARCHAR2(4000 BYTE), both counted in
bytes of UTF-8, and ``age`` NUMBER(3) kept to 0-150.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ocifn.errors import InputError, PayloadTooLarge

NAME_MAX_BYTES = 255
COMMENT_MAX_BYTES = 4000
AGE_MIN = 0
AGE_MAX = 150
# NOTE: Python's int() refuses numbers of more digits than
# sys.get_int_max_str_digits() (4300 by default), though JSON allows them. Such
# a number is far out of every range checked here, so it is read as this
# stand-in of its sign: the age check refuses it, and elsewhere it is dropped.
HUGE_INTEGER = 10**4300
BYTE_ORDER_MARK = "\ufeff"

REASON_NOT_BASE64 = "not_base64"
REASON_NOT_UTF8 = "not_utf8"
REASON_NOT_JSON = "not_json"
REASON_DUPLICATE_KEY = "duplicate_key"
REASON_NOT_OBJECT = "not_object"
REASON_INVALID_FIELD = "invalid_field"


@dataclass(frozen=True)
class Person:
    """A person; ``name`` is its identity."""

    name: str
    age: int
    comment: str | None = None

    def to_json_bytes(self) -> bytes:
        """Compact UTF-8 JSON, the value of a stream message."""
        document = {"name": self.name, "age": self.age, "comment": self.comment}
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))

        return text.encode("utf-8")


class InvalidField(InputError):
    """A record's field is missing or does not hold what it should."""

    code = "invalid_record"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, context={"field": field})
        self.field = field


def parse_person(document: Any) -> Person:
    """A Person from a decoded JSON object; InvalidField naming the field if not."""
    if not isinstance(document, Mapping):
        raise InvalidField("record", "record must be a JSON object")

    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidField("name", "name must be a non-empty string")
    length = _utf8_length(name)
    if length is None:
        raise InvalidField("name", "name must be valid Unicode text")
    if length > NAME_MAX_BYTES:
        raise InvalidField("name", f"name must be at most {NAME_MAX_BYTES} bytes")

    age = document.get("age")
    if isinstance(age, bool) or not isinstance(age, int):
        raise InvalidField("age", "age must be an integer")
    if not AGE_MIN <= age <= AGE_MAX:
        raise InvalidField("age", f"age must be from {AGE_MIN} to {AGE_MAX}")

    comment = document.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise InvalidField("comment", "comment must be a string or null")
        length = _utf8_length(comment)
        if length is None:
            raise InvalidField("comment", "comment must be valid Unicode text")
        if length > COMMENT_MAX_BYTES:
            raise InvalidField(
                "comment", f"comment must be at most {COMMENT_MAX_BYTES} bytes"
            )

    return Person(name=name, age=age, comment=comment)


def decode_message(value: str | bytes | None) -> Person | str:
    """A stream message's base64 value as a Person, or the dead-letter reason.

    The steps are base64, UTF-8, JSON, Person; the first that fails names the
    reason. Bad data never raises.
    """
    raw = message_bytes(value)
    if raw is None:
        return REASON_NOT_BASE64

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return REASON_NOT_UTF8

    try:
        document = load_json(text)
    except DuplicateKey:
        return REASON_DUPLICATE_KEY
    except ValueError:
        return REASON_NOT_JSON
    if not isinstance(document, dict):
        return REASON_NOT_OBJECT

    try:
        return parse_person(document)
    except InvalidField as exc:
        return f"{REASON_INVALID_FIELD}:{exc.field}"


def message_bytes(value: str | bytes | None) -> bytes | None:
    """The raw bytes of a base64 message value; None if it is not base64."""
    if value is None:
        return b""

    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_publish_body(
    body: bytes, *, max_records: int, max_bytes: int
) -> list[Person]:
    """The persons of a publish request: one JSON object or an array of them.

    A batch is all or nothing: the first invalid record fails the whole body,
    and the error names its index and field.
    """
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body is over {max_bytes} bytes")
    if not body.strip():
        raise InputError("body is empty: send a JSON object or array of objects")

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("body is not UTF-8") from exc

    try:
        document = load_json(text)
    except UnusableJson as exc:
        raise InputError(f"body {exc}") from exc
    except ValueError as exc:
        raise InputError(f"body is not valid JSON: {exc}") from exc

    if isinstance(document, dict):
        documents = [document]
    elif isinstance(document, list):
        documents = document
    else:
        raise InputError("body must be a JSON object or an array of objects")

    if not documents:
        raise InputError("body is an empty array: nothing to publish")
    if len(documents) > max_records:
        raise PayloadTooLarge(f"batch is over {max_records} records")

    return [_parse_indexed(index, item) for index, item in enumerate(documents)]


def _parse_indexed(index: int, document: Any) -> Person:
    try:
        return parse_person(document)
    except InvalidField as exc:
        raise InputError(
            f"record {index}: {exc.message}",
            code=exc.code,
            context={"index": index, "field": exc.field},
        ) from exc


class UnusableJson(ValueError):
    """JSON refused for more than its syntax; the message reads after "body"."""


class NestedTooDeeply(UnusableJson):
    """JSON nested deeper than the parser can follow."""


class DuplicateKey(UnusableJson):
    """An object holds one key twice, so which value counts is unclear."""


def load_json(text: str) -> Any:
    """JSON text as the bundle accepts it; ValueError for anything else.

    NaN and Infinity are refused; so is an object with a key twice
    (DuplicateKey), and nesting deeper than the parser can follow
    (NestedTooDeeply, rather than a RecursionError). An integer too long for
    int() is read as HUGE_INTEGER of its sign. The message of any other
    ValueError says what is wrong and where, never what the text holds.
    """
    if text.startswith(BYTE_ORDER_MARK):
        raise ValueError("it starts with a byte order mark")

    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError as exc:
        raise NestedTooDeeply("is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        problem = exc.msg.lower().removesuffix(" at")
        raise ValueError(f"{problem} at line {exc.lineno} column {exc.colno}") from exc


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -HUGE_INTEGER if text.startswith("-") else HUGE_INTEGER


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise DuplicateKey("has an object with a duplicate key")

    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _utf8_length(text: str) -> int | None:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None
