"""The image recipe, checked by reading the Dockerfile (there is no Docker daemon here)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dockerfile import (
    Stage,
    contributors,
    instructions_of,
    parse_dockerfile,
    read_stages,
)

ROOT = Path(__file__).resolve().parents[2]
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")


SIMULATOR = "operator/cortex_events_sim"


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_stages()


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    """The operator's image, the default target, as one stage."""
    return instructions_of(stages, "operator")


def holds_simulator(source: str) -> bool:
    """Whether copying ``source`` from the build context copies the simulator's package."""
    path = source.rstrip("/")
    inside = path == SIMULATOR or path.startswith(f"{SIMULATOR}/")
    return inside or path in ("", ".") or f"{SIMULATOR}/".startswith(f"{path}/")


def operator_sources(stages: list[Stage]) -> list[str]:
    """All the operator's image can hold: what its stages, and those it copies from, copy."""
    return [source for s in contributors(stages, "operator") for source in s.sources()]


def stage(stages: list[Stage], name: str) -> Stage:
    (found,) = (s for s in stages if s.name == name)
    return found


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


def test_every_stage_on_the_same_pinned_slim_base(stages: list[Stage]) -> None:
    names = {s.name for s in stages}
    bases = {s.base for s in stages if s.base not in names}
    (base,) = bases  # the venv's interpreter path must match
    assert PINNED_BASE.match(base), f"{base} is not an exact python 3.11 slim tag"


def test_the_default_target_is_the_operator(stages: list[Stage]) -> None:
    assert stages[-1].name == "operator", "docker build . builds the last stage"


def test_build_stage_builds_a_wheel_and_installs_it_into_a_venv(stages: list[Stage]) -> None:
    build = " && ".join(stage(stages, "build").args("RUN"))
    assert "pip wheel" in build
    assert "python -m venv /opt/venv" in build
    assert re.search(r"/opt/venv/bin/pip install [^&]*/wheels/\*\.whl", build)
    # Exactly the pinned dependencies, nothing resolved at build time.
    (install,) = re.findall(r"/opt/venv/bin/pip install [^&]*", build)
    assert "--no-deps" in install
    assert "-r requirements/image.txt" in install
    for s in stages:
        for command in re.findall(r"pip (?:install|wheel)[^&]*", " && ".join(s.args("RUN"))):
            assert "--no-cache-dir" in command, command
            assert command.startswith("wheel") or "--no-deps" in command, command


@pytest.mark.parametrize(
    ("target", "venv_from"), [("operator", "build"), ("fake-cortex", "build-fake-cortex")]
)
def test_each_image_only_copies_its_venv(stages: list[Stage], target: str, venv_from: str) -> None:
    image = instructions_of(stages, target)
    assert image.args("RUN") == [], "nothing is built or installed in a runtime stage"
    assert image.args("COPY") == [f"--from={venv_from} /opt/venv /opt/venv"]
    assert env_of(image)["PATH"].startswith("/opt/venv/bin:")


def test_the_operator_image_holds_no_simulator(stages: list[Stage]) -> None:
    sources = operator_sources(stages)
    assert "operator/cortex_events/" in sources
    assert [source for source in sources if holds_simulator(source)] == []
    # The emulator's image is the one that has it.
    emulator = [source for s in contributors(stages, "fake-cortex") for source in s.sources()]
    assert f"{SIMULATOR}/" in emulator


def test_a_dockerfile_that_gives_the_operator_the_simulator_is_caught() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for mistake in (
        text.replace("COPY operator/cortex_events/ ", "COPY operator/ operator/\n#", 1),
        text.replace("COPY --from=build /opt/venv", "COPY --from=build-fake-cortex /opt/venv"),
        text.replace(
            "COPY operator/cortex_events/ operator/cortex_events/\n",
            "COPY operator/cortex_events/ operator/cortex_events/\n"
            "COPY operator/cortex_events_sim/demo/ operator/cortex_events_sim/demo/\n",
            1,
        ),
    ):
        assert mistake != text
        assert any(map(holds_simulator, operator_sources(parse_dockerfile(mistake)[1])))


def test_runs_as_a_numeric_non_root_user_the_chart_also_uses(
    final: Stage, deployment: dict[str, Any]
) -> None:
    (user,) = final.args("USER")
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
    for target in ("operator", "fake-cortex"):
        env = env_of(instructions_of(stages, target))
        assert env["PYTHONDONTWRITEBYTECODE"] == "1"
        assert env["PYTHONUNBUFFERED"] == "1"


def test_entrypoint_is_the_console_command_and_runs_the_operator(final: Stage) -> None:
    (entrypoint,) = final.args("ENTRYPOINT")
    (cmd,) = final.args("CMD")
    assert json.loads(entrypoint) == ["cortex-events"]
    assert json.loads(cmd) == ["run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "cortex-events" in scripts


def test_the_emulator_image_serves_the_port_it_exposes(stages: list[Stage]) -> None:
    emulator = instructions_of(stages, "fake-cortex")
    (cmd,) = [json.loads(rest) for rest in emulator.args("CMD")]
    (exposed,) = [int(p) for rest in emulator.args("EXPOSE") for p in rest.split()]
    assert cmd[0] == "fake-cortex"
    assert cmd[cmd.index("--port") + 1] == str(exposed)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"


def test_exposes_the_ports_the_chart_probes_and_scrapes(
    final: Stage, deployment: dict[str, Any]
) -> None:
    exposed = {int(port) for rest in final.args("EXPOSE") for port in rest.split()}
    (operator,) = deployment["spec"]["template"]["spec"]["containers"]
    assert exposed == {port["containerPort"] for port in operator["ports"]}


def test_the_image_label_declares_the_license_of_the_package_and_its_file(
    stages: list[Stage], final: Stage
) -> None:
    labels = env_of(Stage("", None, [("ENV", rest) for rest in final.args("LABEL")]))
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert labels["org.opencontainers.image.licenses"] == declared
    assert labels["org.opencontainers.image.title"] == "cortex-events-operator"
    assert "LICENSE" in stage(stages, "build").sources(), "the wheel carries the license file"


def test_dockerignore_lets_in_exactly_what_the_build_copies(stages: list[Stage]) -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**", "everything is excluded unless listed"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {source.rstrip("/") for s in stages for source in s.sources()}
    assert copied == allowed
    for source in copied:
        assert (ROOT / source).exists(), f"the build copies {source}, which does not exist"
