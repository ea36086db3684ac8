"""The alerts a purekong client sends for a server's bad handshake messages.

tlslite raises a bare exception (TLSIllegalParameterException,
TLSDecryptionFailed, ...) for some checks of the server's messages, which the
engine used to answer with internal_error. Each must get the alert the RFC
names (RFC 8446 §4.4.3, §4.4.4, §6.2; RFC 5246 §7.2.2), and the server must
be able to read it.
"""

from __future__ import annotations

import pytest

from purekong.engine import AlertDescription
from purekong.testing import AttackerPeer, Edit, kit_client_config, kit_pki, kit_server_config, purekong_pair


def _certificate_verify(scheme: int, signature: bytes) -> bytes:
    body = scheme.to_bytes(2, "big") + len(signature).to_bytes(2, "big") + signature
    return b"\x0f" + len(body).to_bytes(3, "big") + body


def _run(server_key: str, edit: Edit, **peer: object) -> AttackerPeer:
    server = kit_server_config(versions=("TLSv1.3",), certificates=(kit_pki().servers[server_key],), ciphers=("AES_128_GCM",))
    return AttackerPeer(server, kit_client_config(versions=("TLSv1.3",)), edits=[edit], **peer).run()


def _assert_client_refused(peer: AttackerPeer, alert: AlertDescription) -> None:
    assert peer.client.alert == alert, (peer.client.failure, "\n".join(peer.log))
    assert not peer.client.established
    assert alert in peer.server.peer_alerts, "the server did not receive the client's alert"
    assert "client -> server: Finished" not in "\n".join(peer.log)


@pytest.mark.parametrize("server_key, scheme, size", [("ec", 0x0403, 72), ("rsa", 0x0804, 256)])
def test_a_bad_server_signature_is_decrypt_error(server_key, scheme, size):
    """RFC 8446 §4.4.3: a CertificateVerify that does not verify -> decrypt_error (was internal_error)."""
    peer = _run(server_key, Edit("replace", "server", "CertificateVerify", data=_certificate_verify(scheme, bytes(size))))
    _assert_client_refused(peer, AlertDescription.decrypt_error)


@pytest.mark.parametrize("server_key, scheme, size", [
    ("ec", 0x0203, 64),  # ecdsa_sha1: not offered
    ("rsa", 0x0201, 256),  # rsa_pkcs1_sha1: not offered
    ("rsa", 0x0401, 256),  # rsa_pkcs1_sha256: offered (for certificates), never a TLS 1.3 CertificateVerify
    ("rsa", 0x0807, 64),  # ed25519: offered, not what an RSA key makes
    ("ec", 0x0804, 256),  # rsa_pss_rsae_sha256 with an ECDSA key
])
def test_a_server_signature_with_a_scheme_the_client_did_not_offer_is_illegal_parameter(server_key, scheme, size):
    """RFC 8446 §4.4.3: the server's scheme MUST be one the client offered, and one
    its key makes (OpenSSL: WRONG_SIGNATURE_TYPE, illegal_parameter). tlslite
    checked an RSA signature with rsa_pkcs1_sha1 all the same (a bad one was
    decrypt_error, a good one accepted) and crashed on ed25519 with an RSA key."""
    peer = _run(server_key, Edit("replace", "server", "CertificateVerify", data=_certificate_verify(scheme, bytes(size))))
    _assert_client_refused(peer, AlertDescription.illegal_parameter)


def test_a_bad_server_finished_is_decrypt_error():
    """RFC 8446 §4.4.4: a Finished that does not verify -> decrypt_error (was internal_error)."""
    finished = b"\x14\x00\x00\x20" + bytes(32)
    peer = _run("ec", Edit("replace", "server", "Finished", data=finished), fix_finished=False)
    _assert_client_refused(peer, AlertDescription.decrypt_error)


def _with_server_hello_extension(ext_type: int, body: bytes, *, replace: bool = False):
    """A ServerHello rewrite: the extension appended (or, with ``replace``, put in place of the one of that type)."""
    def rewrite(raw: bytes) -> bytes:
        at = 4 + 2 + 32
        at += 1 + raw[at] + 2 + 1  # session ID, cipher suite, compression
        block, extensions = raw[at + 2:], []
        while block:
            kind, size = int.from_bytes(block[:2], "big"), int.from_bytes(block[2:4], "big")
            extensions.append((kind, block[4:4 + size]))
            block = block[4 + size:]
        if replace:
            extensions = [(k, body if k == ext_type else b) for k, b in extensions]
        else:
            extensions.append((ext_type, body))
        encoded = b"".join(k.to_bytes(2, "big") + len(b).to_bytes(2, "big") + b for k, b in extensions)
        message = raw[4:at] + len(encoded).to_bytes(2, "big") + encoded
        return raw[:1] + len(message).to_bytes(3, "big") + message

    return rewrite


@pytest.mark.parametrize("version, ext_type, body", [("TLSv1.3", 41, b"\x00\x00"), ("TLSv1.2", 0x1234, b""), ("TLSv1.3", 0x1234, b"")])
def test_a_server_hello_extension_the_client_did_not_offer_is_unsupported_extension(version, ext_type, body):
    """RFC 8446 §4.2, RFC 5246 §7.4.1.4. A pre_shared_key the client never offered
    crashed tlslite (AttributeError: internal_error); an unknown one was ignored."""
    edit = Edit("rewrite", "server", "ServerHello", rewrite=_with_server_hello_extension(ext_type, body))
    peer = AttackerPeer(kit_server_config(versions=(version,)), kit_client_config(versions=(version,)), edits=[edit]).run()
    _assert_client_refused(peer, AlertDescription.unsupported_extension)


def test_a_psk_identity_the_client_did_not_offer_is_illegal_parameter():
    """RFC 8446 §4.2.11: selected_identity outside the client's list (tlslite: IndexError, internal_error)."""
    server, client = kit_server_config(versions=("TLSv1.3",)), kit_client_config(versions=("TLSv1.3",))
    first = purekong_pair(server, client).handshake()
    first.pump()
    session = first.client.connection.session
    assert session is not None
    edit = Edit("rewrite", "server", "ServerHello", rewrite=_with_server_hello_extension(41, b"\x00\x07", replace=True))
    peer = AttackerPeer(server, client, edits=[edit], session=session).run()
    _assert_client_refused(peer, AlertDescription.illegal_parameter)
