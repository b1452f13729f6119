"""Every mistake on the command line ends in one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import importlib.abc
import re
import sys
from pathlib import Path

import pytest

from cortex_events.cli import NO_SIMULATOR, build_parser, main
from cortex_events.config.settings import Settings


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, f"more than one line: {err!r}"
    assert "Traceback" not in err
    return err


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CORTEX_API_KEY", "CORTEX_BASE_URL", "CORTEX_RATE_LIMIT", "CORTEX_NAMESPACES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def test_unknown_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in error_line(capsys)


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch"]) == 2
    assert "invalid choice" in error_line(capsys)


def test_missing_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "CORTEX_API_KEY is required" in error_line(capsys)


def test_rate_limit_above_what_cortex_allows_names_the_flag_given(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-for-the-test")
    assert main(["run", "--rate-limit", "5000"]) == 2
    line = error_line(capsys)
    assert "--rate-limit (CORTEX_RATE_LIMIT): " in line
    assert "1000" in line


def test_a_bad_variable_is_named_as_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-for-the-test")
    monkeypatch.setenv("CORTEX_RATE_LIMIT", "0")
    assert main(["run"]) == 2
    assert error_line(capsys).startswith("cortex-events: error: CORTEX_RATE_LIMIT: ")


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--health-port", "70000"),
        ("--metrics-port", "-1"),
        ("--queue-size", "1"),
        ("--deploys", "maybe"),
        ("--deploy-settle", "-5"),
        ("--deploy-sha-annotation", "not an annotation"),
    ],
)
def test_each_setting_flag_names_itself_when_its_value_is_refused(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    assert main(["run", "--dry-run", flag, value]) == 2
    assert f"{flag} (CORTEX_" in error_line(capsys)


def test_a_bad_sha_annotation_says_what_an_annotation_name_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--dry-run", "--deploy-sha-annotation", "ci/x/sha"]) == 2
    line = error_line(capsys)
    assert line.startswith("cortex-events: error: --deploy-sha-annotation ")
    assert "invalid annotation name 'ci/x/sha': at most one '/'" in line


def test_run_has_a_flag_for_every_setting() -> None:
    run = subcommands()["run"]
    dests = {action.dest for action in run._actions}
    missing = set(Settings.model_fields) - dests - {"api_key"}
    assert missing == set(), f"settings without a flag: {missing}"
    assert "api_key_file" in dests


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.mark.parametrize("command", ["run"])
def test_hints_name_only_flags_the_command_has(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([command]) == 2
    line = error_line(capsys)
    assert "CORTEX_API_KEY is required" in line
    named = set(re.findall(r"--[a-z][a-z-]*", line))
    options = {o for a in subcommands()[command]._actions for o in a.option_strings}
    assert named, "the hint names a way out"
    assert named <= options, f"{command} has no {named - options}"


@pytest.mark.parametrize(
    "content",
    [": : [", "- a\n- b\n", "apiVersion: v1\nclusters: 5\n", "\x00\x01binary"],
    ids=["not-yaml", "a-list", "wrong-types", "binary"],
)
def test_a_malformed_kubeconfig_is_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: str,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(content)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert main(["run", "--dry-run"]) == 1
    line = error_line(capsys)
    assert str(kubeconfig) in line


def test_bad_base_url_never_echoes_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-for-the-test")
    monkeypatch.setenv("CORTEX_BASE_URL", "api.getcortexapp.com")
    assert main(["run"]) == 2
    line = error_line(capsys)
    assert "CORTEX_BASE_URL" in line
    assert "a-key-for-the-test" not in line


def test_no_cluster(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-for-the-test")
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config either
    assert main(["run"]) == 1
    assert "no Kubernetes cluster configured" in error_line(capsys)


def test_a_kubeconfig_variable_naming_a_missing_file_names_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-for-the-test")
    assert main(["run"]) == 1
    line = error_line(capsys)
    assert line == (
        f"cortex-events: error: KUBECONFIG names {tmp_path / 'no-such-kubeconfig'}, which does "
        "not exist: point it at your kubeconfig file"
    )


def test_unreadable_key_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "--api-key-file", str(tmp_path / "missing")]) == 2
    assert "cannot read --api-key-file" in error_line(capsys)


def test_fake_cortex_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fake-cortex", "--port", "70000"]) == 2
    assert "--port" in error_line(capsys)


def test_run_shares_one_redactor_between_the_logs_and_the_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A key read again from its file joins the operator's redactor; the logs must use that same
    # one, or the new key would be hidden from statuses and Events but not from log lines.
    import cortex_events.app
    import cortex_events.kube.client
    import cortex_events.ops.logconfig

    seen: dict[str, object] = {}

    class App:
        interrupts = None

        def __init__(self, settings: Settings, *, secrets: object = None) -> None:
            seen["app"] = secrets

        async def run(self) -> None:
            return None

    def configure(**kwargs: object) -> None:
        seen["logs"] = kwargs["secrets"]

    monkeypatch.setattr(cortex_events.app, "OperatorApp", App)
    monkeypatch.setattr(cortex_events.ops.logconfig, "configure_logging", configure)
    monkeypatch.setattr(cortex_events.kube.client, "check_cluster", lambda: None)
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-0123456789")
    assert main(["run"]) == 0
    assert seen["app"] is not None
    assert seen["app"] is seen["logs"]


class NotInstalled(importlib.abc.MetaPathFinder):
    """Finds nothing of ``top``, as where it is not installed."""

    def __init__(self, top: str) -> None:
        self.top = top

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == self.top:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.mark.parametrize("argv", [["demo"], ["fake-cortex", "--port", "8081"]])
def test_the_simulator_commands_say_in_one_line_when_the_simulator_is_not_installed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # As in the operator's image, where the package is installed without cortex_events_sim.
    for name in [m for m in sys.modules if m.startswith("cortex_events_sim")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [NotInstalled("cortex_events_sim"), *sys.meta_path])
    assert main(argv) == 1
    assert error_line(capsys) == f"cortex-events: error: {NO_SIMULATOR}"


def test_a_missing_dependency_of_the_simulator_is_not_taken_for_its_absence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m.startswith(("cortex_events_sim", "aiohttp"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [NotInstalled("aiohttp"), *sys.meta_path])
    with pytest.raises(ModuleNotFoundError, match="aiohttp"):
        main(["fake-cortex", "--port", "8081"])
