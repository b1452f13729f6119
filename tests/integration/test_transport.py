"""How the key travels: never over plain http:// unless asked for, and over TLS to a Cortex whose
certificate a private CA signed once that CA is given, without losing the public ones.

The server is a local HTTPS server with its own CA and serving certificate for 127.0.0.1 (the
test bed's PKI, made with openssl), answering as Cortex does for an unknown entity.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import certifi
import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from cortex_events.config.tls import CaBundleError, trust
from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexConnectionError, CortexNotFound
from cortex_events_sim.loop_thread import loop_in_thread
from cortex_events_sim.ports import free_port
from cortex_events_sim.server_thread import ServerThread
from testbed import pki
from tests.integration.test_operations import run_check
from tests.support.harness import OperatorProcess, start_watching

pytestmark = pytest.mark.integration

KEY = "transport-test-key-0123456789"
SEEN = web.AppKey("seen", list[str])


@dataclass(frozen=True)
class TlsCortex:
    url: str
    ca: Path
    requests: list[str]


async def _no_such_entity(request: web.Request) -> web.Response:
    request.app[SEEN].append(f"{request.method} {request.path}")
    return web.json_response({"message": "Entity not found"}, status=404)


@pytest.fixture(scope="module")
def tls_cortex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCortex]:
    issued = pki.create(tmp_path_factory.mktemp("pki"), {})
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.serving_cert, issued.serving_key)
    seen: list[str] = []
    app = web.Application()
    app[SEEN] = seen
    app.router.add_route("*", "/{tail:.*}", _no_such_entity)
    runner = web.AppRunner(app)
    port = free_port()
    with loop_in_thread("tls-cortex", stop_timeout=10) as loop:
        asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(10)
        site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=context)
        asyncio.run_coroutine_threadsafe(site.start(), loop).result(10)
        try:
            yield TlsCortex(f"https://127.0.0.1:{port}", issued.ca_cert, seen)
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)


async def test_a_private_ca_is_refused_by_default_and_trusted_once_given(
    tls_cortex: TlsCortex,
) -> None:
    async with CortexClient(tls_cortex.url, SecretStr(KEY), max_retries=0) as default:
        with pytest.raises(CortexConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await default.list_events("web")
    assert tls_cortex.requests == [], "no request (and no key) reached an unverified server"

    given = trust(str(tls_cortex.ca))
    async with CortexClient(tls_cortex.url, SecretStr(KEY), verify=given) as client:
        with pytest.raises(CortexNotFound):
            await client.list_events("web")
    assert tls_cortex.requests == ["GET /api/v1/catalog/web/custom-events"]


def test_the_bundle_is_added_to_the_public_authorities_not_put_in_their_place(
    tls_cortex: TlsCortex,
) -> None:
    def subjects(context: ssl.SSLContext) -> set[str]:
        names = set()
        for cert in context.get_ca_certs():
            subject = cast(tuple[tuple[tuple[str, str], ...], ...], cert["subject"])
            names |= {value for rdn in subject for key, value in rdn if key == "commonName"}
        return names

    default, given = subjects(trust()), subjects(trust(str(tls_cortex.ca)))
    public = subjects(ssl.create_default_context(cafile=certifi.where()))
    assert "ISRG Root X1" in public, "certifi's bundle holds Let's Encrypt's root"
    assert public <= default
    system = ssl.get_default_verify_paths().cafile
    if system is not None:
        assert subjects(ssl.create_default_context(cafile=system)) <= default
    assert given == default | {"testbed-ca"}


@pytest.mark.parametrize(
    ("content", "said"),
    [(None, "No such file or directory"), ("not a certificate\n", "holds no PEM certificate")],
)
def test_a_bundle_that_cannot_be_used_is_named_with_why(
    tmp_path: Path, content: str | None, said: str
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CaBundleError, match=said) as refused:
        trust(str(path))
    assert str(path) in str(refused.value)


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_check(env, *args)[0]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORTEX_", "KUBE", "SSL_"))}
    missing = tmp_path / "no-kubeconfig"
    return {**env, "KUBECONFIG": str(missing), "CORTEX_API_KEY": KEY, **extra}


def test_check_reaches_a_private_ca_cortex_only_with_the_bundle(
    tls_cortex: TlsCortex, tmp_path: Path
) -> None:
    env = _env(tmp_path, CORTEX_BASE_URL=tls_cortex.url)
    refused = _check(env)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout, refused.stdout + refused.stderr
    trusted = _check(env, "--ca-bundle", str(tls_cortex.ca))
    (row,) = [line for line in trusted.stdout.splitlines() if line.startswith("Cortex API key")]
    assert " ok " in row, trusted.stdout
    broken = _check(env, "--ca-bundle", str(tmp_path / "missing.pem"))
    assert broken.returncode == 2
    assert broken.stderr.strip() == (
        f"cortex-events: error: --ca-bundle (CORTEX_CA_BUNDLE): cannot read the CA bundle "
        f"{tmp_path / 'missing.pem'}: No such file or directory"
    )


def test_an_http_base_url_is_refused_unless_allowed(tmp_path: Path) -> None:
    env = _env(tmp_path, CORTEX_BASE_URL="http://127.0.0.1:9")
    refused = _check(env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "cortex-events: error: CORTEX_BASE_URL http://127.0.0.1:9 would send the API key "
        "unencrypted: use https://, or set CORTEX_ALLOW_HTTP=true (--allow-http true) for an "
        "emulator on loopback"
    )
    allowed = _check(env, "--allow-http", "true")
    assert "would send the API key unencrypted" not in allowed.stdout + allowed.stderr
    assert "Cortex API" in allowed.stdout, "it went on to ask Cortex"


def test_health_and_metrics_listen_only_on_the_address_given(
    kube: ServerThread, operator: OperatorProcess
) -> None:
    # Every 127.x.y.z address is this host's loopback on Linux: listening on 127.0.0.2 leaves
    # 127.0.0.1 unanswered.
    start_watching(operator, kube, "--listen-address", "127.0.0.2")
    for port, path in ((operator.health_port, "/healthz"), (operator.metrics_port, "/metrics")):
        answer = httpx.get(f"http://127.0.0.2:{port}{path}", timeout=5)
        assert answer.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
