"""Each function's Dockerfile: two stages, install_function.py, non-root, fdk entry."""

from __future__ import annotations

import ast
import json
import re

import pytest
from deployment_files import FUNCTION_NAMES, REPOSITORY

ENTRYPOINT = ["/python/bin/fdk", "/function/func.py", "handler"]


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = (REPOSITORY / "functions" / name / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        pairs.append((keyword.upper(), arguments.strip()))
    return pairs


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_dockerfile_stages_use_fn_python_images(name):
    froms = [
        arguments for keyword, arguments in instructions(name) if keyword == "FROM"
    ]

    assert froms == [
        "fnproject/python:3.11-dev AS build-stage",
        "fnproject/python:3.11",
    ]


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_dockerfile_build_stage_runs_install_function_into_staged(name):
    pairs = instructions(name)
    copies = [arguments for keyword, arguments in pairs if keyword == "COPY"]
    runs = " ".join(arguments for keyword, arguments in pairs if keyword == "RUN")

    assert "deploy/install_function.py deploy/import_closure.py ./deploy/" in copies
    assert (
        f"functions/{name}/requirements.txt functions/{name}/func.py "
        f"./functions/{name}/"
    ) in copies
    assert "shared/ ./shared/" in copies
    assert re.search(
        rf"deploy/install_function\.py\s+--function {name}\s+--target /staged\b",
        runs,
    )
    assert "--no-slim" not in runs
    assert "pip3 install" not in runs
    assert not any("functions/" in c and name not in c for c in copies)


def test_dockerfile_build_stage_copies_every_module_install_function_imports():
    script = REPOSITORY / "deploy" / "install_function.py"
    local_modules = {
        node.module
        for node in ast.walk(ast.parse(script.read_text()))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and (script.parent / f"{node.module}.py").is_file()
    }

    for name in FUNCTION_NAMES:
        copies = [
            arguments for keyword, arguments in instructions(name) if keyword == "COPY"
        ]
        deploy_copy = next(c for c in copies if c.startswith("deploy/"))
        assert local_modules
        assert {f"deploy/{module}.py" for module in local_modules} <= set(
            deploy_copy.split()
        )


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_dockerfile_run_stage_is_non_root_with_fdk_entrypoint(name):
    pairs = instructions(name)
    run_stage = pairs[[keyword for keyword, _ in pairs].index("FROM", 1) :]
    keywords = [keyword for keyword, _ in run_stage]

    user = [arguments for keyword, arguments in run_stage if keyword == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    entrypoint = [
        arguments for keyword, arguments in run_stage if keyword == "ENTRYPOINT"
    ]
    assert json.loads(entrypoint[-1]) == ENTRYPOINT
    copies = [arguments for keyword, arguments in run_stage if keyword == "COPY"]
    assert "--from=build-stage /staged/python /python" in copies
    assert "--from=build-stage /staged/function /function" in copies


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_dockerfile_official_parser_accepts_file(name):
    dockerfile = pytest.importorskip(
        "dockerfile", reason="the 'dockerfile' parser package is not installed"
    )

    commands = dockerfile.parse_file(
        str(REPOSITORY / "functions" / name / "Dockerfile")
    )

    assert [command.cmd for command in commands][0] == "FROM"
    assert commands[-1].cmd == "ENTRYPOINT"
    assert list(commands[-1].value) == ENTRYPOINT


def test_dockerignore_sends_only_function_sources_and_shared():
    lines = [
        line
        for line in (REPOSITORY / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]

    assert lines[0] == "*"
    assert "!shared/" in lines
    assert "!functions/*/func.py" in lines
    assert "!functions/*/requirements.txt" in lines
    assert "!deploy/install_function.py" in lines
    assert "!deploy/import_closure.py" in lines
