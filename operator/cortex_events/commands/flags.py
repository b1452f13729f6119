"""The command's flags for settings, and the settings they give: one flag per `Settings`
field, each also read from its ``CORTEX_*`` variable (the flag wins). `run` takes them all;
`check` and `events` take the connection flags. `load_settings` turns every mistake in them
into one line for the user (`UsageError`)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cortex_events.config.settings import MISSING_KEY, Settings


@dataclass(frozen=True)
class SettingFlag:
    """A command-line flag for one `Settings` field (its variable is ``CORTEX_<FIELD>``)."""

    field: str
    flag: str
    help: str
    type: Callable[[str], Any] = str
    metavar: str | None = None

    @property
    def variable(self) -> str:
        return f"CORTEX_{self.field.upper()}"


# The flags `run` and `check` share: where the operator finds Cortex and what it watches.
CONNECTION_FLAGS: tuple[SettingFlag, ...] = (
    SettingFlag("base_url", "--base-url", "Cortex API base URL", metavar="URL"),
    SettingFlag("cluster_name", "--cluster-name", "cluster name recorded on events"),
    SettingFlag(
        "namespaces",
        "--namespaces",
        "comma-separated namespaces to watch (default all)",
        metavar="NS,...",
    ),
    SettingFlag(
        "namespace_selector",
        "--namespace-selector",
        "record only the namespaces whose labels match this selector",
        metavar="SELECTOR",
    ),
    SettingFlag(
        "rate_limit", "--rate-limit", "Cortex requests per minute to spend", float, "PER_MIN"
    ),
    SettingFlag(
        "mapping",
        "--mapping",
        "also map from Cortex's catalog: descriptor, labels, name (comma separated)",
        metavar="SOURCES",
    ),
    SettingFlag(
        "mapping_label_keys",
        "--mapping-label-keys",
        "label keys whose value is an entity's tag (for --mapping labels)",
        metavar="KEY,...",
    ),
    SettingFlag(
        "tag_annotation",
        "--tag-annotation",
        "the annotation that names entity tags (default cortex.io/tag)",
        metavar="NAME",
    ),
    SettingFlag(
        "allow_http",
        "--allow-http",
        "accept an http:// base URL, the key then unencrypted: an emulator on loopback"
        " (true or false)",
        metavar="BOOL",
    ),
    SettingFlag(
        "ca_bundle",
        "--ca-bundle",
        "PEM file of certificate authorities to trust besides the default ones",
        metavar="FILE",
    ),
)
# The rest of the settings, for `run` only.
RUN_FLAGS: tuple[SettingFlag, ...] = (
    SettingFlag(
        "listen_address",
        "--listen-address",
        "the IP address /healthz and /metrics listen on",
        metavar="IP",
    ),
    SettingFlag("health_port", "--health-port", "port of /healthz (0: off)", int, "PORT"),
    SettingFlag("metrics_port", "--metrics-port", "port of /metrics (0: off)", int, "PORT"),
    SettingFlag(
        "wedged_after",
        "--wedged-after",
        "seconds without the Kubernetes API, or without delivery progress while events wait,"
        " before /healthz fails",
        float,
        "SECONDS",
    ),
    SettingFlag("queue_size", "--queue-size", "events that may wait for delivery", int, "EVENTS"),
    SettingFlag(
        "drain_timeout",
        "--drain-timeout",
        "seconds to deliver what is queued on shutdown",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "status_interval",
        "--status-interval",
        "seconds between CortexEntity status updates",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "retention_interval",
        "--retention-interval",
        "seconds between retention passes",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "sweep_delay",
        "--sweep-delay",
        "seconds after start before deletions missed while down are looked for",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "scale_events",
        "--scale-events",
        "scales recorded where no CortexEntity says: all, manual or summary",
        metavar="MODE",
    ),
    SettingFlag(
        "scale_summary_window",
        "--scale-summary-window",
        "seconds of one window of an autoscaler's scales, summarized in one event",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "job_pod_events",
        "--job-pod-events",
        "creation and deletion events for the Pods of Jobs (true or false)",
        metavar="BOOL",
    ),
    SettingFlag(
        "unschedulable_after",
        "--unschedulable-after",
        "seconds a Pod may stay unschedulable before it is a failure",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "container_error_after",
        "--container-error-after",
        "seconds a container may fail to be created (a missing Secret) before it is a failure",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "not_ready_after",
        "--not-ready-after",
        "seconds a Pod may run not ready before it is a failure, where its Deployment's"
        " progressDeadlineSeconds does not say",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "restart_threshold",
        "--restart-threshold",
        "failing restarts in a row that make a container's restarts a failure",
        int,
        "COUNT",
    ),
    SettingFlag(
        "pod_events",
        "--pod-events",
        "Pods of workloads where no CortexEntity says: each, summary or auto",
        metavar="MODE",
    ),
    SettingFlag(
        "pod_fold_after",
        "--pod-fold-after",
        "seconds of budget of waiting Pod churn before auto folds it into summaries",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "argo_rollouts",
        "--argo-rollouts",
        "watch Argo Rollouts when their CRD is installed (true or false)",
        metavar="BOOL",
    ),
    SettingFlag(
        "leader_election",
        "--leader-election",
        "elect one leader among replicas on a Lease (true or false)",
        metavar="BOOL",
    ),
    SettingFlag("lease_name", "--lease-name", "the Lease leader election holds", metavar="NAME"),
    SettingFlag(
        "lease_namespace",
        "--lease-namespace",
        "the Lease's namespace (default: the operator's own)",
        metavar="NS",
    ),
    SettingFlag(
        "lease_duration",
        "--lease-duration",
        "seconds a silent Lease is respected before a standby takes it",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "renew_deadline",
        "--renew-deadline",
        "seconds the leader may go without renewing before it stops sending",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "retry_period",
        "--retry-period",
        "seconds between renewals and tries to acquire",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "deploys", "--deploys", "record rollouts as Cortex deploys (true or false)", metavar="BOOL"
    ),
    SettingFlag(
        "deploy_environment",
        "--deploy-environment",
        "the deploys' environment (default: the cluster name)",
        metavar="ENV",
    ),
    SettingFlag(
        "deploy_scales",
        "--deploy-scales",
        "also record manual scales as SCALE deploys (true or false)",
        metavar="BOOL",
    ),
    SettingFlag(
        "deploy_sha_annotation",
        "--deploy-sha-annotation",
        "the annotation a deploy's sha is read from",
        metavar="NAME",
    ),
    SettingFlag(
        "deploy_settle",
        "--deploy-settle",
        "seconds after a rollout went live before its deploy is sent",
        float,
        "SECONDS",
    ),
    SettingFlag(
        "catalog_interval",
        "--catalog-interval",
        "seconds between reads of Cortex's catalog",
        float,
        "SECONDS",
    ),
)
FLAGS_BY_FIELD = {
    f.field: f
    for f in (
        *CONNECTION_FLAGS,
        *RUN_FLAGS,
        SettingFlag("dry_run", "--dry-run", "send nothing to Cortex"),
        SettingFlag("log_format", "--log-format", "log line format"),
        SettingFlag("log_level", "--log-level", "log level"),
        SettingFlag("api_key", "--api-key-file", "file holding the Cortex API key"),
        SettingFlag("api_key_file", "--api-key-file", "file holding the Cortex API key"),
    )
}


def add_settings_flags(
    parser: argparse.ArgumentParser, flags: tuple[SettingFlag, ...] = CONNECTION_FLAGS
) -> None:
    """Flags matching the CORTEX_* variables; a flag given wins over the variable."""
    group = parser.add_argument_group("configuration (each also read from its variable)")
    for setting in flags:
        group.add_argument(
            setting.flag,
            dest=setting.field,
            type=setting.type,
            metavar=setting.metavar,
            help=f"{setting.help} ({setting.variable})",
        )
    group.add_argument(
        "--api-key-file",
        metavar="FILE",
        help="read the Cortex API key from this file instead of CORTEX_API_KEY",
    )


class UsageError(Exception):
    """A mistake in how the command was called; the message is one line for the user."""


class CommandError(Exception):
    """The command could not do its job (e.g. no cluster reachable); one line for the user."""


class MissingKey(UsageError):
    """The settings lack only the Cortex API key."""


# What a command without a key can do about it: only flags that command has.
KEY_HINTS = {
    "run": "set it, pass --api-key-file FILE, or use --dry-run to send nothing",
    "check": "set it or pass --api-key-file FILE",
    "events": "set it or pass --api-key-file FILE",
}


def load_settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings from the environment, flags winning; one readable line on error."""
    values: dict[str, Any] = {}
    for name in FLAGS_BY_FIELD:
        value = getattr(args, name, None)
        if value is not None and name not in ("dry_run", "api_key", "api_key_file"):
            values[name] = value
    if getattr(args, "dry_run", None):
        values["dry_run"] = True
    key_file = getattr(args, "api_key_file", None) or os.environ.get("CORTEX_API_KEY_FILE")
    if key_file:
        values["api_key"] = _read_key_file(key_file)
        values["api_key_file"] = key_file
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as error:
        given = set(values) - set(overrides)
        message = _settings_error(error, given, getattr(args, "command", None))
        only_key = [p["msg"] for p in error.errors()] == [f"Value error, {MISSING_KEY}"]
        raise (MissingKey if only_key else UsageError)(message) from None


def _read_key_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise UsageError(f"cannot read --api-key-file {path}: {error.strerror}") from None
    except UnicodeError:  # its message would quote a byte of the key
        raise UsageError(f"cannot read --api-key-file {path}: it is not UTF-8 text") from None


def _settings_error(error: ValidationError, given: set[str], command: str | None) -> str:
    """One line naming where each bad value came from: the flag if given, else the variable."""
    parts = []
    for problem in error.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        setting = FLAGS_BY_FIELD.get(location)
        if setting is not None and location in given:
            parts.append(f"{setting.flag} ({setting.variable}): {message}")
        elif location:
            parts.append(f"CORTEX_{location.upper()}: {message}")
        elif message == MISSING_KEY and command in KEY_HINTS:
            parts.append(f"{message}: {KEY_HINTS[command]}")
        else:
            parts.append(message)
    return "; ".join(parts)
