"""lua-resty-openssl's ``store:verify()``: the chain check mtls-auth makes.

mtls-auth does not use ``$ssl_client_verify``: in the access phase it runs
``X509_verify_cert`` itself on a bare ``X509_STORE`` holding its configured
CAs (``trust_table.store:verify(leaf, intermediates, true, nil, nil, flags)``).
That differs from what nginx computes during the handshake
(``client_verify``) in three ways, all from OpenSSL 3's
x509_vfy.c:

* the default verify callback: verification **stops at the first error**, and
  that error is the one reported (nginx's accept-all callback reports the last);
* no purpose is set, so a leaf without the clientAuth extended key usage is
  fine (intermediates must still be CAs: ``invalid CA certificate``);
* no security level (``auth_level`` is -1 outside an SSL connection), so weak
  keys and digests are not flagged; the depth is OpenSSL's default, 100.

The chain building, trust, validity and signature rules are ``_chain``'s
(an OpenSSL 3.4 transcription); this module only swaps those three policies,
by changing what a failed check does.
"""

from __future__ import annotations

from datetime import datetime, timezone

from cryptography import x509

from . import _errors as E
from ._cert import Cert
from ._chain import _Abort, _Verification

DEFAULT_DEPTH = 100  # X509_VERIFY_PARAM "default"


# Errors only the purpose check and the security-level checks produce: with
# no purpose and no auth level, OpenSSL never runs those checks.
_NOT_CHECKED = frozenset({E.INVALID_PURPOSE, E.EE_KEY_TOO_SMALL, E.CA_KEY_TOO_SMALL, E.CA_MD_TOO_WEAK})


class _StoreVerification(_Verification):
    def fail(self, reason: str) -> None:
        if reason in _NOT_CHECKED:
            return  # a check this verification does not make
        # OpenSSL's default callback returns "not ok": X509_verify_cert stops,
        # and run() reports this first error.
        self.error = reason
        raise _Abort


def store_verify(
    leaf: x509.Certificate,
    untrusted: list[x509.Certificate],
    store: list[x509.Certificate],
    *,
    partial_chain: bool = False,
    now: datetime | None = None,
) -> tuple[list[x509.Certificate] | None, str | None]:
    """``(proof_chain, None)`` on success (leaf first, trust anchor last), else
    ``(None, "<OpenSSL verify error string>")``."""
    sent = [Cert.load(leaf)] + [Cert.load(c) for c in untrusted]
    unique: list[Cert] = []
    for cert in (Cert.load(c) for c in store):
        if not any(cert.same_as(other) for other in unique):  # X509_STORE_add_cert
            unique.append(cert)
    verification = _StoreVerification(
        sent, unique, DEFAULT_DEPTH, now or datetime.now(timezone.utc), partial_chain
    )
    error = verification.run()
    if error is not None:
        return None, error
    return [cert.cert for cert in verification.chain], None
