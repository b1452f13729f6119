"""The image recipe, checked by reading the Dockerfile (there is no Docker daemon here)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, each with its instructions (continuations joined)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            words = rest.split()
            base = words[0]
            for arg, default in global_args.items():
                base = base.replace(f"${{{arg}}}", default).replace(f"${arg}", default)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages and instruction == "ARG":
            arg, _, default = rest.partition("=")
            global_args[arg] = default
        else:
            stages[-1].instructions.append((instruction, rest))
    return global_args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())[1]


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    text = (ROOT / "manifests" / "40-deployment.yaml").read_text()
    (obj,) = (doc for doc in yaml.safe_load_all(text) if doc)
    return dict(obj)


def env_of(stage: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for rest in stage.args("ENV"):
        for word in shlex.split(rest):
            name, _, value = word.partition("=")
            found[name] = value
    return found


def test_two_stages_on_the_same_pinned_slim_base(stages: list[Stage]) -> None:
    assert len(stages) == 2
    for stage in stages:
        assert PINNED_BASE.match(stage.base), f"{stage.base} is not an exact python 3.11 slim tag"
    assert stages[0].base == stages[1].base, "the venv's interpreter path must match"


def test_build_stage_builds_a_wheel_and_installs_it_into_a_venv(stages: list[Stage]) -> None:
    build = " && ".join(stages[0].args("RUN"))
    assert "pip wheel" in build
    assert "python -m venv /opt/venv" in build
    assert re.search(r"/opt/venv/bin/pip install [^&]*/wheels/\*\.whl", build)
    # Exactly the pinned dependencies, nothing resolved at build time.
    (install,) = re.findall(r"/opt/venv/bin/pip install [^&]*", build)
    assert "--no-deps" in install
    assert "-r requirements/image.txt" in install
    for command in re.findall(r"pip (?:install|wheel)[^&]*", build):
        assert "--no-cache-dir" in command, command


def test_final_stage_only_copies_the_venv(stages: list[Stage]) -> None:
    build, final = stages
    assert final.args("RUN") == [], "nothing is built or installed in the runtime stage"
    assert final.args("COPY") == [f"--from={build.name} /opt/venv /opt/venv"]
    assert env_of(final)["PATH"].startswith("/opt/venv/bin:")


def test_runs_as_a_numeric_non_root_user_the_chart_also_uses(
    stages: list[Stage], deployment: dict[str, Any]
) -> None:
    (user,) = stages[-1].args("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert gid.isdigit()
    assert int(uid) != 0
    assert int(gid) != 0
    pod = deployment["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        int(uid),
        int(gid),
    )


def test_nothing_is_written_at_run_time(stages: list[Stage]) -> None:
    env = env_of(stages[-1])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_entrypoint_is_the_console_command_and_runs_the_operator(stages: list[Stage]) -> None:
    final = stages[-1]
    (entrypoint,) = final.args("ENTRYPOINT")
    (cmd,) = final.args("CMD")
    assert json.loads(entrypoint) == ["cortex-events"]
    assert json.loads(cmd) == ["run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "cortex-events" in scripts


def test_exposes_the_ports_the_chart_probes_and_scrapes(
    stages: list[Stage], deployment: dict[str, Any]
) -> None:
    exposed = {int(port) for rest in stages[-1].args("EXPOSE") for port in rest.split()}
    (operator,) = deployment["spec"]["template"]["spec"]["containers"]
    assert exposed == {port["containerPort"] for port in operator["ports"]}


def test_the_image_label_declares_the_license_of_the_package_and_its_file(
    stages: list[Stage],
) -> None:
    labels = env_of(Stage("", None, [("ENV", rest) for rest in stages[-1].args("LABEL")]))
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert labels["org.opencontainers.image.licenses"] == declared
    assert "LICENSE" in {
        source for rest in stages[0].args("COPY") for source in rest.split()[:-1]
    }, "the wheel built in the image carries the license file"


def test_dockerignore_lets_in_exactly_what_the_build_copies(stages: list[Stage]) -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**", "everything is excluded unless listed"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for rest in stages[0].args("COPY")
        for source in rest.split()[:-1]
        if not source.startswith("--")
    }
    assert copied == allowed
    for source in copied:
        assert (ROOT / source).exists(), f"the build copies {source}, which does not exist"
