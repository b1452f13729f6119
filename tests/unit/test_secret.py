"""The API key: its rule, its file, and its redaction in every form text can carry it."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from cortex_events.cli import main
from cortex_events.config.secret import REDACTED, ApiKeyFile, Redactor, clean_api_key
from cortex_events.config.settings import Settings
from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import MAX_MESSAGE_CHARS, CortexError
from cortex_events.kube.client import KubeClient
from cortex_events.kube.events import EventPoster, InvolvedObject
from tests.support.hostile import key_escapings

KEY = "ck_live/odd+key\"with\\quotes'%41=0123456789"
BASE_URL = "https://cortex.example"


@pytest.mark.parametrize("form", sorted(key_escapings(KEY)))
def test_every_form_of_the_key_is_redacted(form: str) -> None:
    text = f"before {key_escapings(KEY)[form]} after"
    redacted = Redactor([KEY]).redact(text)
    assert REDACTED in redacted
    assert "0123456789" not in redacted
    assert redacted.startswith("before ")
    assert redacted.endswith(" after")


@pytest.mark.parametrize("prefix", ["", "a", "ab", "Authorization: Basic x:", "{'token': '"])
def test_base64_of_any_text_holding_the_key_is_redacted(prefix: str) -> None:
    encoded = base64.b64encode(f"{prefix}{KEY} and more".encode()).decode()
    redacted = Redactor([KEY]).redact(f"proxy saw {encoded}")
    assert REDACTED in redacted
    # What is left of the encoding, decoded, holds no more than two characters of the key.
    left = redacted.split(REDACTED)[0].removeprefix("proxy saw ")
    assert KEY[:3] not in base64.b64decode(left[: len(left) // 4 * 4] or "").decode("latin-1")


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=6))
def test_no_form_of_any_printable_key_survives(key: str) -> None:
    redactor = Redactor([key])
    for name, form in key_escapings(key).items():
        assert key not in redactor.redact(f"x{form}y"), name


def test_keys_added_later_are_redacted_and_earlier_ones_stay() -> None:
    redactor = Redactor(["first-key-0001"])
    redactor.add("second-key-0002")
    assert redactor.redact("first-key-0001 second-key-0002") == f"{REDACTED} {REDACTED}"
    assert not Redactor(["short"]), "a secret too short to redact safely is not taken"


# -- the key's rule -------------------------------------------------------------------------------


def test_surrounding_whitespace_is_removed() -> None:
    assert clean_api_key(f"  {KEY}\n") == KEY
    settings = Settings(api_key=SecretStr(f"{KEY}\r\n"))
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == KEY


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ("abc\ndef0123", "a control character (U+000A, character 4 of 11)"),
        ("abc\x00def0123", "a control character (U+0000"),
        ("abc\x7fdef0123", "a control character (U+007F"),
        ("abc def0123", "whitespace (character 4 of 11)"),
        ("abcédef0123", "a character that is not ASCII (character 4 of 11)"),
    ],
)
def test_a_key_that_cannot_be_a_header_is_refused_without_quoting_it(bad: str, said: str) -> None:
    with pytest.raises(ValueError, match="holds") as refused:
        clean_api_key(bad)
    assert said in str(refused.value)
    assert "def0123" not in str(refused.value)


def test_the_cli_says_why_a_key_file_is_refused_in_one_line_without_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CORTEX_API_KEY", raising=False)
    control = tmp_path / "control"
    control.write_text("secret-part\x1bmore-secret\n")
    assert main(["check", "--api-key-file", str(control)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--api-key-file (CORTEX_API_KEY): the Cortex API key holds a control character" in err
    assert "secret-part" not in err
    assert "more-secret" not in err

    latin = tmp_path / "latin"
    latin.write_bytes(b"secret-part\xe9more-secret")
    assert main(["check", "--api-key-file", str(latin)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read --api-key-file {latin}: it is not UTF-8 text" in err
    assert "secret" not in err.replace(str(latin), "").replace("--api-key-file", "")


def test_a_settings_error_never_echoes_the_key() -> None:
    with pytest.raises(ValueError, match="control character") as refused:
        Settings.model_validate({"api_key": "secret-part\x01more-secret"})
    assert "secret" not in str(refused.value)


# -- the key file ---------------------------------------------------------------------------------


def test_a_rotated_key_file_is_read_again_and_a_broken_one_keeps_the_last_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "api-key"
    path.write_text("first-key-0001\n")
    redactor = Redactor()
    source = ApiKeyFile(str(path), redactor)
    first = source()
    assert first.get_secret_value() == "first-key-0001"
    assert source() is first, "unchanged file: not read again"

    path.write_text("second-key-0002\n")
    os.utime(path, ns=(1, 1))  # a new mtime even within the file system's resolution
    assert source().get_secret_value() == "second-key-0002"

    path.write_text("third\x07key-0003")
    os.utime(path, ns=(2, 2))
    with caplog.at_level(logging.WARNING):
        assert source().get_secret_value() == "second-key-0002"
    assert "cannot be used" in caplog.text
    assert "third" not in caplog.text
    assert redactor.redact("first-key-0001 second-key-0002") == f"{REDACTED} {REDACTED}"


async def test_the_client_sends_the_rotated_key() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"events": [], "page": 0, "total": 0, "totalPages": 0})

    keys = iter([SecretStr("first-key-0001"), SecretStr("second-key-0002")])
    current = [next(keys)]
    async with CortexClient(
        BASE_URL,
        current[0],
        transport=httpx.MockTransport(answer),
        api_key_source=lambda: current[0],
    ) as client:
        await client.list_events("svc")
        current[0] = next(keys)
        await client.list_events("svc")
    assert seen == ["Bearer first-key-0001", "Bearer second-key-0002"]


# -- the one point every client error passes -----------------------------------------------------


async def _fail_with(*answers: httpx.Response | Exception) -> CortexError:
    script = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async with CortexClient(
        BASE_URL, SecretStr(KEY), transport=httpx.MockTransport(answer), max_retries=0
    ) as client:
        with pytest.raises(CortexError) as caught:
            await client.list_events("svc")
    return caught.value


@pytest.mark.parametrize(
    "failure",
    [
        httpx.LocalProtocolError(f"Illegal header value {(f'Bearer {KEY}' + chr(10)).encode()!r}"),
        httpx.ConnectError(f"cannot connect for {quote(KEY, safe='')}"),
        httpx.Response(401, json={"message": f"bad token {json.dumps(KEY)}"}),
        httpx.Response(500, text="x" * 480 + base64.b64encode(f"Bearer {KEY}".encode()).decode()),
    ],
    ids=["header refused", "connection", "401 JSON", "500 cut after the key"],
)
async def test_no_client_error_carries_the_key_or_chains_the_text_that_did(
    failure: httpx.Response | Exception,
) -> None:
    error = await _fail_with(failure)
    texts = [str(error), repr(error), error.message]
    assert all("0123456789" not in text for text in texts), texts
    assert REDACTED in error.message
    assert len(error.message) <= MAX_MESSAGE_CHARS
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


# -- what the operator writes to Kubernetes ------------------------------------------------------


class _ApiClient:
    """The two calls `cortex_events.kube.client.call` makes, recording each body."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def param_serialize(self, method: str, path: str, **options: Any) -> tuple[Any, ...]:
        self.bodies.append(options["body"])
        return (method, path)

    def call_api(self, *_: Any, **__: Any) -> Any:
        class Answer:
            status = 201
            data = b"{}"

            def read(self) -> None:
                return None

        return Answer()


async def test_every_string_written_to_kubernetes_is_redacted_before_an_event_is_cut() -> None:
    api = _ApiClient()
    redactor = Redactor([KEY])
    kube = KubeClient(api, redact=redactor.redact)  # type: ignore[arg-type]
    await kube.patch_status(
        ("cortex.io", "v1alpha1", "cortexentities"),
        "shop",
        "web",
        {"conditions": [{"message": f"refused {KEY}"}], "n": 1},
    )
    poster = EventPoster(kube, redact=redactor.redact)
    about = InvolvedObject("v1", "Pod", "shop", "web", "u")
    long_message = "x" * 1000 + quote(KEY, safe="")  # the cut at 1024 falls inside the key
    body = poster.body(about, "Warning", "Failed", long_message)
    await kube.request("POST", "/api/v1/namespaces/shop/events", body)
    written = json.dumps(api.bodies)
    assert "0123456789" not in written
    assert "%22" not in written, "no part of the encoded key is left where the cut fell"
    assert written.count(REDACTED) == 2
    assert api.bodies[0]["status"]["n"] == 1
