"""The OCI DevOps build spec builds and declares one image per function."""

from __future__ import annotations

import re

import yaml
from deployment_files import FUNCTION_NAMES, REPOSITORY


def load_spec() -> dict:
    return yaml.safe_load((REPOSITORY / "build_pipeline.yaml").read_text())


def test_build_pipeline_header_is_build_spec_version_0_1():
    spec = load_spec()

    assert spec["version"] == 0.1
    assert spec["component"] == "build"
    assert spec["shell"] == "bash"
    assert isinstance(spec["timeoutInSeconds"], int)


def test_build_pipeline_steps_are_named_commands():
    steps = load_spec()["steps"]

    assert steps
    for step in steps:
        assert step["type"] == "Command"
        assert step["name"]
        assert step["command"].strip()
        assert step["timeoutInSeconds"] > 0


def test_build_pipeline_tag_is_exported_and_set_from_build_run():
    spec = load_spec()

    assert spec["env"]["exportedVariables"] == ["IMAGE_TAG"]
    first = spec["steps"][0]["command"]
    assert "OCI_BUILD_RUN_ID" in first
    assert "OCI_TRIGGER_COMMIT_HASH" in first
    assert "export IMAGE_TAG" in first


def test_build_pipeline_every_function_folder_has_one_image_artifact():
    spec = load_spec()
    folders = sorted(
        path.parent.name for path in (REPOSITORY / "functions").glob("*/Dockerfile")
    )

    artifacts = spec["outputArtifacts"]

    assert folders == sorted(FUNCTION_NAMES)
    assert all(artifact["type"] == "DOCKER_IMAGE" for artifact in artifacts)
    assert sorted(artifact["location"] for artifact in artifacts) == sorted(
        f"ocifn-{name}" for name in folders
    )
    assert len({artifact["name"] for artifact in artifacts}) == len(artifacts)


def test_build_pipeline_each_image_is_built_from_root_with_hash_tag():
    commands = "\n".join(step["command"] for step in load_spec()["steps"])

    for name in FUNCTION_NAMES:
        build = re.search(
            rf"docker build[^\n]*\n(?:[^\n]*\\\n)*?[^\n]*-f functions/{name}/Dockerfile"
            r"(?:[^\n]*\\\n)*[^\n]*",
            commands,
        )
        assert build, name
        text = build.group(0)
        assert f'-t "ocifn-{name}:${{IMAGE_TAG}}"' in text
        assert f"-t ocifn-{name} " in text
        assert text.rstrip().endswith(".")
