"""Every eventKey format, to the letter: Cortex holds events under these keys, so a format that
changed would record a second event for a change already recorded after an upgrade. And no
module but keys.py builds one."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cortex_events.domain import keys
from cortex_events.domain.failure_model import CONFIG_ERRORS

PACKAGE = Path(keys.__file__).resolve().parents[1]
AT = datetime(2026, 5, 4, 12, 30, 15, tzinfo=UTC)  # 1777897815

FORMATS = [
    (keys.pod_key("u1", "failed"), "pod/u1/failed"),
    (keys.created_key("Pod", "u1"), "pod/u1/created"),
    (keys.deleted_key("Pod", "u1"), "pod/u1/deleted"),
    (keys.oom_kill_key("u1", "app", 3), "pod/u1/oomkilled/app/3"),
    (keys.image_pull_key("u1", "app", "r.io/a:1"), "pod/u1/imagepull/app/r.io/a:1"),
    (keys.crash_loop_key("u1", "app", 0), "pod/u1/crashloop/app"),
    (keys.crash_loop_key("u1", "app", 7), "pod/u1/crashloop/app/7"),
    (
        keys.create_error_key("u1", "CreateContainerConfigError", "app", 0),
        "pod/u1/configerror/app/0",
    ),
    (keys.create_error_key("u1", "CreateContainerError", "app", 2), "pod/u1/createerror/app/2"),
    (keys.not_ready_key("u1", AT), "pod/u1/notready/1777897815"),
    (keys.created_key("Deployment", "d1"), "deployment/d1/created"),
    (keys.deleted_key("StatefulSet", "s1"), "statefulset/s1/deleted"),
    (keys.created_key("Rollout", "r1"), "argo-rollout/r1/created"),
    (keys.rollout_key("Deployment", "d1", 4), "deployment/d1/rollout/4"),
    (keys.rollout_key("StatefulSet", "s1", 2), "statefulset/s1/rollout/2"),
    (keys.rollout_key("DaemonSet", "ds1", 5), "daemonset/ds1/rollout/5"),
    (keys.rollout_key("Rollout", "r1", 2), "argo-rollout/r1/revision/2"),
    (keys.scale_key("Deployment", "d1", 9), "deployment/d1/scale/9"),
    (keys.scale_key("Rollout", "r1", 9), "argo-rollout/r1/scale/9"),
    (keys.autoscale_key("StatefulSet", "s1", AT), "statefulset/s1/autoscale/1777897815"),
    (keys.pod_summary_key("Deployment", "d1", AT, 0), "deployment/d1/pods/1777897815"),
    (keys.pod_summary_key("DaemonSet", "ds1", AT, 2), "daemonset/ds1/pods/1777897815/2"),
    (keys.job_run_key("j1"), "job/j1/run"),
    (keys.suspension_key("c1", True, 2), "cronjob/c1/suspended/2"),
    (keys.suspension_key("c1", False, 3), "cronjob/c1/resumed/3"),
    (keys.missed_runs_key("c1", AT), "cronjob/c1/missed/1777897815"),
    (keys.deploy_revision_key("Deployment", "d1", 2), "deploy/deployment/d1/revision/2"),
    (keys.deploy_revision_key("Rollout", "r1", 2), "deploy/rollout/r1/revision/2"),
    (keys.deploy_scale_key("StatefulSet", "s1", 3), "deploy/statefulset/s1/scale/3"),
]


@pytest.mark.parametrize(("built", "expected"), FORMATS, ids=[e for _, e in FORMATS])
def test_each_format_is_exactly_what_cortex_already_holds(built: str, expected: str) -> None:
    assert built == expected


def test_every_key_function_is_pinned() -> None:
    public = {
        name
        for name, value in vars(keys).items()
        if callable(value) and name.endswith("_key") and not name.startswith("_")
    }
    source = Path(__file__).read_text()
    assert {name for name in public if f"keys.{name}(" not in source} == {"workload_key"}


def test_no_custom_event_key_starts_as_a_deploy_key_does() -> None:
    # Deploys and custom events share the delivery queue, keyed by (entity tag, key).
    assert not any(f"{p}/".startswith(keys.DEPLOY_PREFIX) for p in keys.KIND_PREFIXES.values())


def test_each_container_creation_error_has_a_change_word_and_a_title() -> None:
    assert set(keys.CREATE_ERROR_CHANGES) == set(CONFIG_ERRORS)


KEY_WORDS = (
    *(f"{prefix}/" for prefix in keys.KIND_PREFIXES.values()),
    keys.DEPLOY_PREFIX,
    *(f"{word}/" for word in ("rollout", "revision", "scale", "autoscale", "pods", "missed")),
    *(f"{word}/" for word in ("oomkilled", "imagepull", "crashloop", "notready", "resumed")),
    *(f"{word}/" for word in ("suspended", *keys.CREATE_ERROR_CHANGES.values())),
)
KEY_BUILDERS = {"workload_key", "pod_key"}


def key_formats_outside_keys(package: Path) -> list[str]:
    """Where a module other than keys.py writes a key's format: an f-string that begins with
    a kind's prefix or a change word, or a general builder (`KEY_BUILDERS`) called with a
    change put together there (an f-string or a concatenation) rather than one word."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "domain" / "keys.py":
            continue
        where = path.relative_to(package).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if isinstance(first, ast.Constant) and str(first.value).startswith(KEY_WORDS):
                    found.append(f"{where}:{node.lineno}")
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                change = node.args[-1] if node.args else None
                if name in KEY_BUILDERS and isinstance(change, (ast.JoinedStr, ast.BinOp)):
                    found.append(f"{where}:{node.lineno}")
    return found


def test_no_module_but_keys_builds_a_key() -> None:
    assert key_formats_outside_keys(PACKAGE) == []
