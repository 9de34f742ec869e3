"""IAM as the local cloud enforces it: dynamic groups, policy statements, checks.

The statements and dynamic groups are the deployment's own files,
`deploy/iam/policies.txt` and `deploy/iam/dynamic-groups.json`. Their `${...}`
placeholders are resolved from the local cloud's OCIDs (`placeholder_values`).

The grammar read is the subset those files use:

    Allow <subject> to <verb> <resource-type> in <location> [where <condition>]
    subject   := dynamic-group <name> | any-user
    location  := tenancy | compartment id <ocid> | compartment <name>
    condition := all {<test>, ...} | any {<test>, ...} | <test>
    test      := <variable> (= | !=) '<value>'

Dynamic-group matching rules use the same condition grammar over
`resource.id`, `resource.type` and `resource.compartment.id`. String tests
ignore case, as OCI's do; a test on a variable the request does not have is
false. The API-key user is a tenancy administrator and may do anything; a
resource principal (a function) may do only what a statement grants, and a
route that declares no permission is refused to it (404
NotAuthorizedOrNotFound, as OCI answers).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from ocilocal.errors import Handler, NotFound
from ocilocal.identity import Principal, principal_of

logger = logging.getLogger(__name__)

VERB_RANK = {"inspect": 1, "read": 2, "use": 3, "manage": 4}
FAMILIES = {
    "all-resources": None,
    "stream-family": {"streams", "stream-pools", "stream-push", "stream-pull"},
    "secret-family": {"secrets", "secret-bundles", "vaults"},
    "functions-family": {"fn-app", "fn-function", "fn-invocation"},
}
LOCAL_COMPARTMENT_NAME = "ocilocal"
NOT_AUTHORIZED = "Authorization failed or requested resource not found."

_STATEMENT = re.compile(
    r"^allow\s+(?P<subject>dynamic-group\s+\S+|any-user|group\s+\S+)"
    r"\s+to\s+(?P<verb>\w+)\s+(?P<resource>[\w-]+)"
    r"\s+in\s+(?P<location>tenancy|compartment\s+id\s+\S+|compartment\s+\S+)"
    r"(?:\s+where\s+(?P<condition>.+))?$",
    re.IGNORECASE,
)
_GROUP = re.compile(r"^(?P<mode>all|any)\s*\{(?P<tests>.*)\}$", re.IGNORECASE | re.S)
_TEST = re.compile(r"^(?P<variable>[\w.]+)\s*(?P<operator>!?=)\s*'(?P<value>[^']*)'$")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

Values = dict[str, set[str]]
# A route handler, plain function or method, that `requires` marks.
RouteHandler = TypeVar("RouteHandler", bound=Callable[..., Any])
PERMISSION_ATTRIBUTE = "permission"


class PolicyError(ValueError):
    """A statement or matching rule outside the grammar this module reads."""


@dataclass(frozen=True)
class Test:
    """`variable = 'value'` or `variable != 'value'`."""

    variable: str
    negated: bool
    value: str

    def holds(self, attributes: dict[str, str], values: Values) -> bool:
        actual = attributes.get(self.variable)
        if actual is None:
            return False
        matches = actual.lower() in {
            text.lower() for text in expand(self.value, values)
        }
        return not matches if self.negated else matches


@dataclass(frozen=True)
class Condition:
    """Tests joined by all{} or any{} (a single test is all{} of one)."""

    mode: str
    tests: tuple[Test, ...]

    def holds(self, attributes: dict[str, str], values: Values) -> bool:
        results = (test.holds(attributes, values) for test in self.tests)
        return all(results) if self.mode == "all" else any(results)


@dataclass(frozen=True)
class Statement:
    """One parsed `Allow ...` statement."""

    text: str
    subject_kind: str
    subject_name: str | None
    verb: str
    resource_type: str
    compartment: str | None
    compartment_by_name: bool
    condition: Condition | None


@dataclass(frozen=True)
class DynamicGroup:
    """A dynamic group: its name and matching rule."""

    name: str
    rule: Condition


@dataclass(frozen=True)
class Permission:
    """What a route needs: a verb on a resource type, about a target."""

    verb: str
    resource_type: str
    target: Callable[[Any, web.Request], dict[str, str]]


def expand(text: str, values: Values) -> set[str]:
    """Every text a value stands for once its placeholders are resolved."""
    names = _PLACEHOLDER.findall(text)
    if not names:
        return {text}
    choices = [sorted(values.get(name, ())) for name in names]
    expanded = set()
    for chosen in product(*choices):
        resolved = dict(zip(names, chosen, strict=True))
        expanded.add(_substitute(text, resolved))
    return expanded


def _substitute(text: str, resolved: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: resolved[match.group(1)], text)


def parse_condition(text: str) -> Condition:
    """`all {...}`, `any {...}` or one test."""
    text = text.strip()
    group = _GROUP.match(text)
    if group is None:
        return Condition("all", (parse_test(text),))
    parts = [part for part in group["tests"].split(",") if part.strip()]
    if not parts:
        raise PolicyError(f"empty condition: {text}")
    return Condition(group["mode"].lower(), tuple(parse_test(p) for p in parts))


def parse_test(text: str) -> Test:
    """One `variable = 'value'` test."""
    match = _TEST.match(text.strip())
    if match is None:
        raise PolicyError(f"not a condition this parser reads: {text.strip()}")
    return Test(match["variable"].lower(), match["operator"] == "!=", match["value"])


def parse_statement(text: str) -> Statement:
    """One `Allow ...` statement."""
    match = _STATEMENT.match(text.strip())
    if match is None:
        raise PolicyError(f"not a statement this parser reads: {text.strip()}")
    subject = match["subject"].split()
    location = match["location"].split()
    verb = match["verb"].lower()
    if verb not in VERB_RANK:
        raise PolicyError(f"unknown verb {verb!r} in: {text.strip()}")
    condition = match["condition"]
    return Statement(
        text=text.strip(),
        subject_kind=subject[0].lower(),
        subject_name=subject[1] if len(subject) > 1 else None,
        verb=verb,
        resource_type=match["resource"].lower(),
        compartment=None if location[0].lower() == "tenancy" else location[-1],
        compartment_by_name=len(location) == 2,
        condition=parse_condition(condition) if condition else None,
    )


def read_statements(path: Path) -> list[Statement]:
    """The statements of a policy file: one a line, `#` comments and blanks skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        parse_statement(line)
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]


def read_dynamic_groups(path: Path) -> list[DynamicGroup]:
    """The dynamic groups of a JSON list of {name, matchingRule}."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return [
        DynamicGroup(entry["name"], parse_condition(entry["matchingRule"]))
        for entry in document
    ]


def covers(granted: str, needed: str) -> bool:
    """Whether a granted resource type (or family) includes the needed one."""
    if granted == needed:
        return True
    if granted not in FAMILIES:
        return False
    members = FAMILIES[granted]
    return members is None or needed in members


def requires(
    verb: str,
    resource_type: str,
    target: Callable[[Any, web.Request], dict[str, str]],
) -> Callable[[RouteHandler], RouteHandler]:
    """Declare what a route needs; `target` gives the resource's attributes."""

    def mark(handler: RouteHandler) -> RouteHandler:
        setattr(handler, PERMISSION_ATTRIBUTE, Permission(verb, resource_type, target))
        return handler

    return mark


def permission_of(handler: Any) -> Permission | None:
    """The permission a route handler declared, or None."""
    return getattr(handler, PERMISSION_ATTRIBUTE, None)


class Policies:
    """The loaded statements and dynamic groups, and the checks on them."""

    def __init__(
        self,
        statements: Iterable[Statement],
        dynamic_groups: Iterable[DynamicGroup],
        values: Callable[[], Values],
    ) -> None:
        self.statements = list(statements)
        self.dynamic_groups = list(dynamic_groups)
        self.values = values

    @classmethod
    def from_directory(cls, iam_dir: Path, values: Callable[[], Values]) -> Policies:
        """Read `policies.txt` and `dynamic-groups.json` of a folder (each optional)."""
        policy_file = iam_dir / "policies.txt"
        groups_file = iam_dir / "dynamic-groups.json"
        statements = read_statements(policy_file) if policy_file.is_file() else []
        groups = read_dynamic_groups(groups_file) if groups_file.is_file() else []
        return cls(statements, groups, values)

    def groups_of(self, principal: Principal, values: Values) -> set[str]:
        """The dynamic groups whose matching rule a resource principal meets."""
        attributes = {
            "resource.id": principal.id,
            "resource.type": principal.resource_type or "",
            "resource.compartment.id": principal.compartment_id or "",
        }
        return {
            group.name.lower()
            for group in self.dynamic_groups
            if group.rule.holds(attributes, values)
        }

    def allows(
        self,
        principal: Principal,
        verb: str,
        resource_type: str,
        target: dict[str, str],
    ) -> bool:
        """Whether some statement lets the principal do `verb` on the target."""
        if principal.kind == "user":
            return True
        values = self.values()
        groups = self.groups_of(principal, values)
        attributes = {
            **target,
            "request.principal.id": principal.id,
            "request.principal.type": principal.resource_type or "",
            "request.principal.compartment.id": principal.compartment_id or "",
        }
        for statement in self.statements:
            if statement.subject_kind == "dynamic-group":
                if (statement.subject_name or "").lower() not in groups:
                    continue
            elif statement.subject_kind != "any-user":
                continue
            if VERB_RANK[statement.verb] < VERB_RANK[verb]:
                continue
            if not covers(statement.resource_type, resource_type):
                continue
            if not self._in_location(statement, target, values):
                continue
            if statement.condition is None or statement.condition.holds(
                attributes, values
            ):
                return True
        return False

    @staticmethod
    def _in_location(
        statement: Statement, target: dict[str, str], values: Values
    ) -> bool:
        if statement.compartment is None:
            return True
        compartment = target.get("target.compartment.id", "")
        if statement.compartment_by_name:
            return statement.compartment.lower() == LOCAL_COMPARTMENT_NAME and bool(
                compartment
            )
        return compartment.lower() in {
            text.lower() for text in expand(statement.compartment, values)
        }

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Refuse a resource principal what no statement allows (404)."""
        principal = principal_of(request)
        if principal is None or principal.kind == "user":
            return await handler(request)

        route_handler = request.match_info.handler
        permission = permission_of(route_handler)
        allowed = False
        if permission is not None:
            owner = getattr(route_handler, "__self__", None)
            target = permission.target(owner, request)
            allowed = self.allows(
                principal, permission.verb, permission.resource_type, target
            )
        if not allowed:
            logger.info(
                "404 %s %s: %s %s not allowed for %s",
                request.method,
                request.path,
                permission.verb if permission else "-",
                permission.resource_type if permission else "-",
                principal.id,
            )
            raise NotFound(NOT_AUTHORIZED)
        return await handler(request)


def placeholder_values(cloud: Any) -> Values:
    """The local value(s) of each `${...}` placeholder of the IAM files.

    TENANCY_ID, COMPARTMENT_ID, STREAM_ID (stream `people`), STREAM_POOL_ID,
    VAULT_ID, STREAM_SECRET_ID (`stream-connection`), DB_SECRET_ID
    (`db-connection`), APPLICATION_ID, <FUNCTION_NAME>_FUNCTION_ID for each
    function (e.g. READ_SECRET_FUNCTION_ID), and ALLOWED_SECRET_NAME: each name
    in read-secret's ALLOWED_SECRETS, as if the statement were written once per
    name. A placeholder with no local value (the wallet secrets, SCHEDULE_ID)
    matches nothing.
    """
    state = cloud.state
    secrets = state.get("secrets") or {}
    stream = (state.get("streams") or {}).get("people") or {}
    single = {
        "TENANCY_ID": cloud.tenancy_id,
        "COMPARTMENT_ID": cloud.compartment_id,
        "STREAM_ID": stream.get("id"),
        "STREAM_POOL_ID": state.get("stream_pool_id"),
        "VAULT_ID": state.get("vault_id"),
        "STREAM_SECRET_ID": secrets.get("stream-connection"),
        "DB_SECRET_ID": secrets.get("db-connection"),
        "APPLICATION_ID": state.get("application_id"),
    }
    for name, function_id in (state.get("functions") or {}).items():
        single[name.upper().replace("-", "_") + "_FUNCTION_ID"] = function_id
    values = {key: {value} for key, value in single.items() if value}
    values["ALLOWED_SECRET_NAME"] = allowed_secret_names(cloud)
    return values


def allowed_secret_names(cloud: Any) -> set[str]:
    """The names in read-secret's ALLOWED_SECRETS (its func.yaml config)."""
    from ocilocal import functions

    service = functions.service_for(cloud)
    spec = service.specs.get("read-secret") if service is not None else None
    text = spec.config.get("ALLOWED_SECRETS", "") if spec is not None else ""
    return {name.strip() for name in text.split(",") if name.strip()}
