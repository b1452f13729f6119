"""The control plane's certificates and keys, made with the openssl command.

One CA signs the API server's serving certificate (for 127.0.0.1 and localhost) and a client
certificate per component; a separate key pair signs ServiceAccount tokens. EC P-256 keys keep
generation fast.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "3650"
CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Identity:
    """A client certificate: common name (the user) and organisations (its groups)."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.folder / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.folder / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.folder / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.folder / "sa.pub"

    def identity(self, name: str) -> Identity:
        return Identity(self.folder / f"{name}.crt", self.folder / f"{name}.key")


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(  # noqa: S603
        ["openssl", *args],  # noqa: S607 (openssl from PATH)
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _sign(pki: Pki, name: str, subject: str, extensions: str) -> None:
    folder = pki.folder
    ext = folder / f"{name}.ext"
    ext.write_text(extensions)
    _openssl(
        "req",
        "-new",
        *CURVE,
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        subject,
        cwd=folder,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        DAYS,
        "-out",
        f"{name}.crt",
        "-extfile",
        ext.name,
        cwd=folder,
    )


def create(folder: Path, clients: dict[str, tuple[str, ...]]) -> Pki:
    """A CA, the serving certificate, ``clients`` (name -> (user, *groups)) and the SA keys."""
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder)
    _openssl(
        "req",
        "-x509",
        "-new",
        *CURVE,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        DAYS,
        "-subj",
        "/CN=testbed-ca",
        cwd=folder,
    )
    _sign(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,"
        "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n",
    )
    for name, (user, *groups) in clients.items():
        subject = f"/CN={user}" + "".join(f"/O={group}" for group in groups)
        _sign(
            pki,
            name,
            subject,
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=clientAuth\n",
        )
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-out",
        "sa.key",
        cwd=folder,
    )
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=folder)
    return pki
