"""The operator's configuration: one model, read once from the environment and the command line."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cortex_events.config.secret import clean_api_key
from cortex_events.config.tls import trust
from cortex_events.domain.catalog import MAX_LABEL_KEYS, MappingConfig, Source, parse_sources
from cortex_events.domain.model import TAG_ANNOTATION
from cortex_events.domain.quiet import PodEvents, ScaleEvents
from cortex_events.domain.rollout_deploys import DEFAULT_SHA_ANNOTATION
from cortex_events.domain.selectors import LabelSelector, label_key_error, parse_selector

DEFAULT_BASE_URL = "https://api.getcortexapp.com"
MISSING_KEY = "CORTEX_API_KEY is required"
CORTEX_REQUESTS_PER_MINUTE_PER_KEY = 1000


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class Settings(BaseSettings):
    """Everything the operator reads from its environment (``CORTEX_*``) or its flags."""

    model_config = SettingsConfigDict(
        env_prefix="CORTEX_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    api_key: SecretStr | None = None
    """The Cortex API key (Edit entities permission). Required unless ``dry_run``. Surrounding
    whitespace is removed; a key with any other character than printable ASCII is refused."""

    api_key_file: str = ""
    """The file the key was read from (``--api-key-file``): read again when it changes, so
    that a rotated Secret takes effect without a restart."""

    base_url: str = DEFAULT_BASE_URL
    """Cortex's API base URL; self-hosted installations use their own host."""

    allow_http: bool = False
    """Accept an ``http://`` base URL, over which the key travels in clear text: for the
    emulator and tests on loopback only. Without it such a URL is refused."""

    ca_bundle: str = ""
    """A PEM file of certificate authorities to trust besides the default ones (a
    self-hosted Cortex, a TLS-inspecting proxy); empty: the default ones only."""

    listen_address: str = "0.0.0.0"
    """The address ``/healthz`` and ``/metrics`` listen on (``127.0.0.1``: this host only,
    ``::`` for IPv6)."""

    cluster_name: str = Field(default="default", min_length=1)
    """Recorded in every event's customData, so events from several clusters stay apart."""

    namespaces: Annotated[tuple[str, ...], NoDecode] = ()
    """Namespaces to watch; empty means every namespace."""

    namespace_selector: str = ""
    """A label selector on Namespace objects (``kubectl -l`` syntax): only the workloads of
    the namespaces it matches are recorded, as their labels say now. Empty: no selection."""

    scale_events: ScaleEvents = ScaleEvents.SUMMARY
    """What is recorded of scales where no CortexEntity says: ``all``, ``manual`` (not those an
    autoscaler made) or ``summary`` (those, and one summary per window of an autoscaler's)."""

    scale_summary_window: float = Field(default=600.0, ge=60, le=86_400)
    """Seconds of one window of an autoscaler's scales, summarized in one event."""

    job_pod_events: bool = False
    """Whether the Pods of Jobs get creation and deletion events where no CortexEntity says
    (their failures are recorded either way)."""

    unschedulable_after: float = Field(default=300.0, gt=0, le=86_400)
    """Seconds a Pod may stay unschedulable before it is a POD_FAILURE (a cluster autoscaler
    adds a node meanwhile)."""

    container_error_after: float = Field(default=60.0, gt=0, le=86_400)
    """Seconds a container may wait in CreateContainerConfigError or CreateContainerError
    before it is a POD_FAILURE (a Secret created just after the Pod arrives meanwhile)."""

    not_ready_after: float = Field(default=600.0, gt=0, le=86_400)
    """Seconds a scheduled Pod may stay not ready before it is a POD_FAILURE, where its
    Deployment's ``progressDeadlineSeconds`` does not say."""

    restart_threshold: int = Field(default=3, ge=1, le=1000)
    """Failing restarts in a row that make a container's restarts a POD_FAILURE (a container
    in CrashLoopBackOff is one at once)."""

    pod_events: PodEvents = PodEvents.AUTO
    """What is recorded of the Pods of workloads where no CortexEntity says: ``each`` (an
    event per Pod), ``summary`` (one summary per workload and window) or ``auto`` (an event
    per Pod until Pod churn outgrows the budget, then summaries)."""

    pod_fold_after: float = Field(default=60.0, ge=1, le=3600)
    """Seconds of budget the Pod churn waiting for delivery may fill before ``auto`` folds it
    into summaries (they resume below half of it)."""

    argo_rollouts: bool = True
    """Watch Argo Rollouts when the cluster serves their CRD (and RBAC lets it)."""

    rate_limit: float = Field(default=600, gt=0, le=CORTEX_REQUESTS_PER_MINUTE_PER_KEY)
    """Cortex requests per minute this operator may spend (Cortex allows 1000 per key)."""

    dry_run: bool = False
    """Send nothing to Cortex; log each event that would be sent."""

    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "INFO"

    health_port: int = Field(default=8080, ge=0, le=65535)
    """Liveness endpoint ``/healthz``; 0 disables it."""

    metrics_port: int = Field(default=9090, ge=0, le=65535)
    """Prometheus endpoint ``/metrics``; 0 disables it."""

    queue_size: int = Field(default=20_000, ge=10)
    """Events waiting for delivery before watchers are slowed down (back-pressure, no drop)."""

    drain_timeout: float = Field(default=20.0, ge=0)
    """Seconds allowed on shutdown to deliver what is queued."""

    status_interval: float = Field(default=15.0, gt=0)
    """Seconds between CortexEntity status refreshes (and aggregated Kubernetes Events)."""

    retention_interval: float = Field(default=600.0, gt=0)
    """Seconds between retention passes over CortexEntity objects that set ``retention``."""

    wedged_after: float = Field(default=300.0, gt=0)
    """Seconds the Kubernetes API may stay unanswered, or delivery stay without progress while
    events wait, before ``/healthz`` fails and the kubelet restarts the operator."""

    sweep_delay: float = Field(default=60.0, ge=0)
    """Seconds after start before deletions missed while down are looked for."""

    leader_election: bool = True
    """Elect one leader among the replicas on a Lease: only the leader sends to Cortex and
    writes CortexEntity status; the others watch, keep their state warm and take over."""

    lease_name: str = Field(default="cortex-events-operator", min_length=1)
    """The Lease that leader election holds."""

    lease_namespace: str = ""
    """The Lease's namespace; empty means the operator's own (``POD_NAMESPACE``, or the
    service account's namespace in a cluster). Outside a cluster without either, leader
    election is off."""

    lease_duration: float = Field(default=15.0, gt=0)
    """Seconds a Lease that stopped changing is respected before a standby takes it."""

    renew_deadline: float = Field(default=10.0, gt=0)
    """Seconds the leader keeps leading without renewing; past it, it stops sending."""

    retry_period: float = Field(default=2.0, gt=0)
    """Seconds between the leader's renewals and a standby's tries."""

    deploys: bool = False
    """Record completed rollouts as Cortex deploys (DEPLOY, ROLLBACK, RESTART) on every entity
    whose CortexEntity does not say otherwise (``spec.deploys.enabled``)."""

    deploy_environment: str = ""
    """The deploys' environment where no CortexEntity names one; empty means the cluster name."""

    deploy_scales: bool = False
    """Also record manual scales (``spec.replicas`` changed) as SCALE deploys."""

    deploy_sha_annotation: str = DEFAULT_SHA_ANNOTATION
    """The annotation a deploy's sha is read from (the pod template's, then the Deployment's),
    before the ``app.kubernetes.io/version`` label and the image's digest or tag."""

    deploy_settle: float = Field(default=30.0, ge=0)
    """Seconds after a rollout went live before its deploy is sent: time for a deploy that
    another tool posts for the same sync (Argo CD's notifications) to be there to be found."""

    @field_validator("api_key", mode="before")
    @classmethod
    def _clean_key(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and value.strip():
            return clean_api_key(value)  # its ValueError never quotes the key
        return None if isinstance(value, str) else value

    mapping: Annotated[frozenset[Source], NoDecode] = frozenset()
    """Sources of mapping from Cortex's catalog, comma separated: ``descriptor`` (the
    ``x-cortex-k8s`` blocks), ``labels`` (``mapping_label_keys``), ``name``. Empty: none."""

    mapping_label_keys: Annotated[tuple[str, ...], NoDecode] = ()
    """Label keys whose value, where it is an entity's tag, maps a workload (``labels``)."""

    catalog_interval: float = Field(default=300.0, ge=10, le=86_400)
    """Seconds between reads of Cortex's catalog (where ``mapping`` is set)."""

    tag_annotation: str = TAG_ANNOTATION
    """The annotation that names a workload's entity tags, as in Cortex's own integration."""

    @field_validator("mapping", mode="before")
    @classmethod
    def _parse_mapping(cls, value: object) -> frozenset[Source]:
        return parse_sources(value)

    @field_validator("mapping_label_keys", mode="before")
    @classmethod
    def _split_label_keys(cls, value: object) -> object:
        keys = value.split(",") if isinstance(value, str) else value
        if not isinstance(keys, (list, tuple)):
            return value
        found = tuple(dict.fromkeys(str(key).strip() for key in keys if str(key).strip()))
        if len(found) > MAX_LABEL_KEYS:
            raise ValueError(f"at most {MAX_LABEL_KEYS} label keys (got {len(found)})")
        for key in found:
            problem = label_key_error(key)
            if problem:
                raise ValueError(problem)
        return found

    @field_validator("tag_annotation")
    @classmethod
    def _check_tag_annotation(cls, value: str) -> str:
        problem = label_key_error(value.strip())
        if problem:
            raise ValueError(problem.replace("label key", "annotation name"))
        return value.strip()

    @model_validator(mode="after")
    def _labels_need_keys(self) -> Settings:
        if Source.LABELS in self.mapping and not self.mapping_label_keys:
            raise ValueError(
                "CORTEX_MAPPING includes labels but CORTEX_MAPPING_LABEL_KEYS is empty: "
                "name the label keys whose values are entity tags (e.g. app.kubernetes.io/name)"
            )
        return self

    @property
    def mapping_config(self) -> MappingConfig:
        return MappingConfig(self.mapping, self.mapping_label_keys, self.cluster_name)

    @field_validator("deploy_sha_annotation")
    @classmethod
    def _check_annotation(cls, value: str) -> str:
        problem = label_key_error(value)
        if problem:
            raise ValueError(problem.replace("label key", "annotation name"))
        return value

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("namespace_selector")
    @classmethod
    def _check_namespace_selector(cls, value: str) -> str:
        parse_selector(value.strip())  # a ValueError names the part that cannot be read
        return value.strip()

    @property
    def namespace_label_selector(self) -> LabelSelector | None:
        return parse_selector(self.namespace_selector) if self.namespace_selector else None

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _check_ca_bundle(cls, value: str) -> str:
        value = value.strip()
        if value:
            trust(value)  # a CaBundleError (a ValueError) says what is wrong with it
        return value

    @field_validator("listen_address")
    @classmethod
    def _check_listen_address(cls, value: str) -> str:
        value = value.strip()
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                f"must be an IP address such as 0.0.0.0, 127.0.0.1 or :: (got {value!r})"
            ) from None
        return value

    @model_validator(mode="after")
    def _no_clear_text_key(self) -> Settings:
        if self.base_url.startswith("http://") and not self.allow_http:
            raise ValueError(
                f"CORTEX_BASE_URL {self.base_url} would send the API key unencrypted: use "
                "https://, or set CORTEX_ALLOW_HTTP=true (--allow-http true) for an emulator "
                "on loopback"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"must be one of DEBUG, INFO, WARNING, ERROR (got {value!r})")
        return level

    @model_validator(mode="after")
    def _election_timings_nest(self) -> Settings:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs retry period < renew deadline < lease duration (got "
                f"CORTEX_RETRY_PERIOD={self.retry_period:g}, "
                f"CORTEX_RENEW_DEADLINE={self.renew_deadline:g}, "
                f"CORTEX_LEASE_DURATION={self.lease_duration:g})"
            )
        return self

    @model_validator(mode="after")
    def _key_required_unless_dry_run(self) -> Settings:
        if not self.dry_run and (self.api_key is None or not self.api_key.get_secret_value()):
            raise ValueError(MISSING_KEY)
        return self
