"""Cortex's official CLI (``cortexapps-cli``, a test dependency) run against an emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CORTEX_CLI = Path(sys.executable).with_name("cortex")


def cortex_cli_json(home: Path, base_url: str, api_key: str, *args: str) -> Any:
    """What ``cortex ARGS...`` prints, decoded; skips the test where the CLI is missing. A
    private HOME and config: the CLI never reads or writes the user's."""
    if not CORTEX_CLI.exists():
        pytest.skip(f"cortexapps-cli is not installed next to {sys.executable}")
    env = {
        "HOME": str(home),
        "CORTEX_CONFIG": str(home / ".cortex" / "config"),
        "CORTEX_BASE_URL": base_url,
        "CORTEX_API_KEY": api_key,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [str(CORTEX_CLI), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)
