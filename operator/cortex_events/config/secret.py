"""The operator's one secret, the Cortex API key: the rule a key follows, the file it may be
read from, and every form in which text could carry it.

`clean_api_key` strips the whitespace a Secret made from a file carries (a trailing newline)
and refuses a key that holds anything else than printable ASCII: such a key cannot go into an
``Authorization`` header, and the HTTP library's refusal would quote it.

A secret does not only leak verbatim. An HTTP library quotes a header it refuses as a bytes
``repr`` (``b'Bearer key\\n'``), a JSON encoder escapes it, a URL percent-encodes it, and an
``Authorization: Basic`` header or a debugging proxy base64-encodes it, whole or inside a
longer text. `Redactor` knows all of these forms for each secret it is given and replaces
them, in one pass, with ``[REDACTED]``.

One `Redactor` is made per process from the settings. The Cortex client passes every error it
raises through it (the only place that holds the key and meets HTTP-layer text), and the log
handler, the Kubernetes Events and status the operator writes, and ``cortex-events check``'s
table pass through it again.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

logger = logging.getLogger("cortex_events.config.settings")

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 6
"""A shorter secret would blank out ordinary words; real API keys are far longer."""
_MIN_BASE64_CORE = 8
"""The shortest base64 run (characters) worth matching: shorter ones occur by chance."""


def _base64_cores(data: bytes) -> set[str]:
    """The base64 characters that encode ``data`` wherever it sits in a longer text.

    A text that holds ``data`` at a byte offset of 0, 1 or 2 (mod 3) encodes it with one of
    three alignments; in each, the characters whose six bits come from ``data`` alone are the
    same whatever surrounds it. Both alphabets (standard and URL-safe) are covered.
    """
    cores: set[str] = set()
    size = len(data)
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        first = -(-8 * shift // 6)  # the first character entirely within data
        last = (8 * (shift + size)) // 6  # one past the last such character
        core = encoded[first:last]
        if len(core) >= _MIN_BASE64_CORE:
            cores.add(core)
            cores.add(core.translate(str.maketrans("+/", "-_")))
    return cores


def secret_forms(secret: str) -> set[str]:
    """Every form of ``secret`` that `Redactor` replaces."""
    forms = {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        secret.encode("unicode_escape").decode("ascii"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(secret))[3:-3],  # JSON inside JSON
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    forms |= {form.lower() for form in list(forms) if "%" in form}
    raw = secret.encode("utf-8", "backslashreplace")
    for text in (raw, b"Bearer " + raw):
        forms |= _base64_cores(text)
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Redactor:
    """Replaces every known form of the secrets it holds (see `secret_forms`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Redact ``secret`` too from now on (a key that replaced another one, say); the
        secrets added before stay redacted."""
        if len(secret) < MIN_SECRET_LENGTH:
            return
        new = secret_forms(secret) - self._forms
        if not new:
            return
        self._forms |= new
        # Longest first, so that a form inside a longer one never leaves that one's rest.
        ordered = sorted(self._forms, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(re.escape(form) for form in ordered))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def __repr__(self) -> str:
        return f"Redactor({len(self._forms)} forms)"


def clean_api_key(value: str) -> str:
    """The key without surrounding whitespace; a ValueError, which never quotes the key, when
    it is empty or holds a character that cannot be in a Bearer token."""
    key = value.strip()
    if not key:
        raise ValueError("the Cortex API key is empty")
    for position, char in enumerate(key, start=1):
        if "!" <= char <= "~":
            continue
        where = f"character {position} of {len(key)}"
        if unicodedata.category(char) == "Cc":
            what = f"a control character (U+{ord(char):04X}, {where})"
        elif char.isspace():
            what = f"whitespace ({where})"
        else:
            what = f"a character that is not ASCII ({where})"
        raise ValueError(
            f"the Cortex API key holds {what}: a key is printable ASCII on one line; "
            "copy it again into its Secret or file (surrounding whitespace and a final "
            "newline are removed)"
        )
    return key


class ApiKeyFile:
    """The key in a file that may be replaced while the operator runs (a mounted Secret that
    the kubelet updates): read again whenever the file changes. A new content that is no key
    is logged once and the last good key kept."""

    def __init__(self, path: str, redactor: Redactor) -> None:
        self.path = path
        self._redactor = redactor
        self._seen: tuple[int, int, int] | None = None
        self._key = SecretStr(self._read())  # the first read's problems are the caller's

    def _read(self) -> str:
        with open(self.path, encoding="utf-8", errors="strict") as handle:
            stat = os.fstat(handle.fileno())
            text = handle.read()
        self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        key = clean_api_key(text)
        self._redactor.add(key)
        return key

    def __call__(self) -> SecretStr:
        """The current key: the same object while the file is unchanged."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return self._key  # being replaced (the kubelet swaps a symlink): the last key
        if (stat.st_ino, stat.st_mtime_ns, stat.st_size) == self._seen:
            return self._key
        try:
            self._key = SecretStr(self._read())
        except (OSError, ValueError) as error:
            # A decoding error quotes the byte it met: only its kind is said.
            reason = type(error).__name__ if isinstance(error, (OSError, UnicodeError)) else error
            logger.warning(
                "The API key file %s changed but cannot be used (%s); keeping the previous key",
                self.path,
                reason,
            )
        else:
            logger.info("The API key file %s changed: using the new key", self.path)
        return self._key
