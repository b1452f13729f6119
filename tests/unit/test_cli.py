"""Every mistake on the command line ends in one line on stderr and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from cortex_events.cli import main


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


def test_rate_limit_above_what_cortex_allows(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-for-the-test")
    assert main(["run", "--rate-limit", "5000"]) == 2
    line = error_line(capsys)
    assert "CORTEX_RATE_LIMIT" in line
    assert "1000" in line


def test_bad_base_url_never_echoes_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-for-the-test")
    monkeypatch.setenv("CORTEX_BASE_URL", "api.getcortexapp.com")
    assert main(["run"]) == 2
    line = error_line(capsys)
    assert "CORTEX_BASE_URL" in line
    assert "a-key-for-the-test" not in line


def test_no_cluster(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "a-key-for-the-test")
    assert main(["run"]) == 1
    assert "no Kubernetes cluster configured" in error_line(capsys)


def test_unreadable_key_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "--api-key-file", str(tmp_path / "missing")]) == 2
    assert "cannot read --api-key-file" in error_line(capsys)


def test_fake_cortex_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fake-cortex", "--port", "70000"]) == 2
    assert "--port" in error_line(capsys)
