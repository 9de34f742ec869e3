"""IAM: per-function dynamic groups and least-privilege policy statements."""

from __future__ import annotations

import json
import re

from deployment_files import FUNCTION_NAMES, REPOSITORY

# Allow <subject> to <verb> <resource-type> in <location> [where <conditions>]
STATEMENT = re.compile(
    r"^Allow (?P<subject>dynamic-group [a-z0-9-]+|any-user)"
    r" to (?P<verb>inspect|read|use|manage) (?P<resource>[a-z-]+)"
    r" in (?P<location>compartment id \$\{COMPARTMENT_ID\})"
    r"(?: where (?P<condition>.+))?$"
)
GRANTS = {
    "publish-message": {("use", "stream-push")},
    "drain-stream-to-db": {("use", "stream-pull"), ("read", "secret-bundles")},
    "read-secret": {("read", "secret-bundles")},
}


def statements() -> list[str]:
    lines = (REPOSITORY / "deploy/iam/policies.txt").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def parsed() -> list[re.Match[str]]:
    matches = [STATEMENT.match(statement) for statement in statements()]
    assert all(matches), [
        s for s, m in zip(statements(), matches, strict=True) if not m
    ]
    return matches  # type: ignore[return-value]


def test_policies_every_statement_parses_and_is_conditioned():
    for match in parsed():
        assert match["condition"], match.string


def test_policies_no_manage_and_no_broad_resource_type():
    for match in parsed():
        assert match["verb"] != "manage"
        assert match["resource"] not in ("all-resources", "functions-family")
        assert not match["resource"].endswith("-family")


def test_policies_each_function_gets_exactly_its_grants():
    granted: dict[str, set[tuple[str, str]]] = {name: set() for name in FUNCTION_NAMES}

    for match in parsed():
        subject = match["subject"]
        if subject.startswith("dynamic-group ocifn-"):
            granted[subject.removeprefix("dynamic-group ocifn-")].add(
                (match["verb"], match["resource"])
            )

    assert granted == GRANTS


def test_policies_targets_are_pinned_to_placeholders():
    for match in parsed():
        if match["resource"].startswith("stream-"):
            assert "target.stream.id = '${STREAM_ID}'" in match["condition"]
        if match["resource"] == "secret-bundles":
            assert re.search(r"target\.secret\.(id|name) = '\$\{", match["condition"])
        if match["subject"] == "any-user":
            assert "request.principal.type = " in match["condition"]


def test_policies_drain_reads_its_four_secrets_only():
    drain = [
        match["condition"]
        for match in parsed()
        if match["subject"] == "dynamic-group ocifn-drain-stream-to-db"
        and match["resource"] == "secret-bundles"
    ]

    assert len(drain) == 1
    assert sorted(re.findall(r"\$\{(\w+)\}", drain[0])) == [
        "DB_SECRET_ID",
        "STREAM_SECRET_ID",
        "WALLET_PASSWORD_SECRET_ID",
        "WALLET_SECRET_ID",
    ]


def test_dynamic_groups_match_one_function_each():
    groups = json.loads((REPOSITORY / "deploy/iam/dynamic-groups.json").read_text())

    names = [group["name"] for group in groups]

    assert names == [f"ocifn-{name}" for name in FUNCTION_NAMES]
    for group, function in zip(groups, FUNCTION_NAMES, strict=True):
        placeholder = function.upper().replace("-", "_") + "_FUNCTION_ID"
        rule = group["matchingRule"]
        assert rule.startswith("ALL {") and rule.endswith("}")
        assert "resource.type = 'fnfunc'" in rule
        assert "resource.compartment.id = '${COMPARTMENT_ID}'" in rule
        assert f"resource.id = '${{{placeholder}}}'" in rule
