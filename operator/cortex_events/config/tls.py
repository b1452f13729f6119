"""Whom the Cortex client trusts: the usual certificate authorities, and the user's own.

A self-hosted Cortex, or a proxy that inspects TLS, presents a certificate signed by a private
CA. `trust` adds such a CA bundle to the CAs trusted by default (certifi's Mozilla bundle, as
httpx uses, and the system's, with OpenSSL's ``SSL_CERT_FILE``/``SSL_CERT_DIR``), rather than
putting it in their place (as ``SSL_CERT_FILE`` does for httpx): the public Cortex API stays
reachable beside it.
"""

from __future__ import annotations

import ssl

import certifi


class CaBundleError(ValueError):
    """The CA bundle cannot be used; the message says why in one line."""


def trust(ca_bundle: str = "") -> ssl.SSLContext:
    """A TLS context that verifies servers against the default CAs and those of ``ca_bundle``
    (a PEM file of one or more certificates; empty: none)."""
    context = ssl.create_default_context(cafile=certifi.where())
    context.load_default_certs()
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except ssl.SSLError:  # an OSError too: this one first
            raise CaBundleError(
                f"the CA bundle {ca_bundle} holds no PEM certificate "
                "(-----BEGIN CERTIFICATE----- ...)"
            ) from None
        except OSError as error:
            raise CaBundleError(
                f"cannot read the CA bundle {ca_bundle}: {error.strerror or error}"
            ) from None
    return context
