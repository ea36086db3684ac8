"""nginx's ``$ssl_client_verify``, computed in pure Python.

Kong asks for a client certificate with a verify callback that accepts
everything, so the handshake goes on whatever the client sends, and nginx then
reports what OpenSSL's chain verification concluded::

    >>> client_verify(None, [])
    'NONE'
    >>> client_verify([leaf, intermediate], [intermediate, root])   # doctest: +SKIP
    'FAILED:unable to get issuer certificate'
    >>> client_verify([leaf, intermediate], [root], depth=1)         # doctest: +SKIP
    'SUCCESS'

The reason strings are OpenSSL 3.4's. See docs/verify.md for what is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from cryptography import x509

from ._cert import Cert
from ._chain import verify
from ._store import store_verify

__all__ = ["client_verify", "store_verify", "load_pem_certificates", "CertificateDecodeError"]


class CertificateDecodeError(ValueError):
    """A certificate the client sent is not valid DER.

    OpenSSL rejects such a Certificate message with a ``decode_error`` alert
    before any verification, so the handshake fails and nginx never computes
    ``$ssl_client_verify``: there is no string to report.
    """


def client_verify(
    chain: Sequence[bytes | x509.Certificate] | None,
    trusted: Sequence[bytes | x509.Certificate],
    *,
    depth: int = 0,
    now: datetime | None = None,
    allow_partial_chain: bool = False,
) -> str:
    """The value of ``$ssl_client_verify`` for a client that sent ``chain``.

    ``chain`` is the client's certificates exactly as sent, leaf first (DER
    bytes or parsed certificates); ``None`` or empty means it sent none.
    ``trusted`` is the verify store (DER or parsed). ``depth`` is nginx's
    ``ssl_verify_depth``: how many intermediates may sit between the leaf and
    the trust anchor. It defaults to 0 because Kong's
    ``request_client_certificate`` forces 0.
    ``allow_partial_chain`` is X509_V_FLAG_PARTIAL_CHAIN: any trusted cert,
    not only a self-signed one, may anchor the chain.

    Returns ``"NONE"``, ``"SUCCESS"`` or ``"FAILED:<reason>"``. Raises
    :class:`CertificateDecodeError` for a certificate that does not parse.
    """
    if not chain:
        return "NONE"
    if depth < 0:
        raise ValueError("depth must be >= 0 (nginx's ssl_verify_depth)")
    sent = [_load(item, f"certificate #{i} of the chain") for i, item in enumerate(chain)]
    store = [_load(item, f"trusted certificate #{i}") for i, item in enumerate(trusted)]
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)  # naive datetimes are UTC, as in X.509
    now = now.replace(microsecond=0)  # OpenSSL compares whole seconds (time_t)
    error = verify(sent, store, depth=depth, now=now, partial_chain=allow_partial_chain)
    return "SUCCESS" if error is None else f"FAILED:{error}"


def load_pem_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """All certificates in PEM text, in order. Raises ValueError if none."""
    if isinstance(pem, str):
        pem = pem.encode("ascii")
    return x509.load_pem_x509_certificates(pem)


def _load(item: bytes | x509.Certificate, what: str) -> Cert:
    try:
        return Cert.load(item)
    except ValueError as exc:
        # cryptography parses some fields lazily, so errors can surface here too.
        raise CertificateDecodeError(f"{what} is not a valid X.509 certificate: {exc}") from exc
