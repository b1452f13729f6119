"""The CortexEntity CRD, a file that ships with the package."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml

CRD_FILE_NAME = "cortexentities.cortex.io.yaml"


def crd_path() -> Path:
    """The CRD manifest: packaged in a wheel, or ``crds/`` of a source checkout."""
    packaged = resources.files("cortex_events") / "crds" / CRD_FILE_NAME
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / "crds" / CRD_FILE_NAME
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(f"the CortexEntity CRD ({CRD_FILE_NAME}) is missing from this install")


@functools.cache
def crd_manifest() -> dict[str, Any]:
    """The CRD as a dict, parsed once."""
    return cast(dict[str, Any], yaml.safe_load(crd_path().read_text()))
