"""The kit's throw-away PKI: one CA, an ECDSA and an RSA server certificate, a client certificate.

Made once per process (RSA key generation takes a moment) and never written
to disk. Certificates are valid for ``localhost`` (and 127.0.0.1, ::1).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from purekong._devpki import issue
from purekong.engine import CertifiedKey, ClientConfig, ServerConfig

HOST = "localhost"


@dataclass(frozen=True)
class KitPKI:
    ca: x509.Certificate
    server_ec: CertifiedKey  # ECDSA P-256, CN/SAN localhost
    server_rsa: CertifiedKey  # RSA-2048, CN/SAN localhost
    client: CertifiedKey  # ECDSA P-256, clientAuth

    @property
    def servers(self) -> dict[str, CertifiedKey]:
        return {"ec": self.server_ec, "rsa": self.server_rsa}


@functools.lru_cache(maxsize=1)
def kit_pki() -> KitPKI:
    """The process-wide test PKI (built on first use)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("purekong.testing CA", ca_key, None, None, days=30, ca=True)
    sans = [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_key = ec.generate_private_key(ec.SECP256R1())
    return KitPKI(
        ca=ca,
        server_ec=CertifiedKey((issue(HOST, ec_key, ca, ca_key, days=30, sans=sans),), ec_key),
        server_rsa=CertifiedKey((issue(HOST, rsa_key, ca, ca_key, days=30, sans=sans),), rsa_key),
        client=CertifiedKey((issue("purekong.testing client", client_key, ca, ca_key, days=30, client=True),), client_key),
    )


def kit_server_config(**overrides: Any) -> ServerConfig:
    """A ``ServerConfig`` with the kit's ECDSA certificate; keyword arguments override fields."""
    return ServerConfig(**{"certificates": (kit_pki().server_ec,), **overrides})


def kit_client_config(**overrides: Any) -> ClientConfig:
    """A ``ClientConfig`` that trusts the kit's CA; keyword arguments override fields."""
    return ClientConfig(**{"trusted_certificates": (kit_pki().ca,), **overrides})
