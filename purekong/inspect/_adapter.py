"""From a ``Capture`` (what the scenarios and the live client collect) to the
shared ``Recording``.

The Recording model is the inspect-core side's; this is the one place the
views' own capture is mapped onto it. Decisions keep their structured
details in ``Decision.details`` (JSON values).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509

from purekong import __version__

from ._capture import Capture
from ._recording import CertificatePhase, Decision, Peer, Finding, Recording, Secret


def recording_from_capture(capture: Capture) -> Recording:
    """Dissect and decrypt the capture (inspect-core's reading) and attach what the capture knew."""
    meta = capture.meta
    ours = f"purekong {__version__}" if meta.get("source") == "scenario" else None
    implementation = meta.get("implementation", {"client": ours, "server": ours})
    recording = Recording.from_transcript(
        [(chunk.direction, chunk.data) for chunk in capture.chunks],
        capture.keylog(),
        client_trace=capture.traces["client"],
        server_trace=capture.traces["server"],
        secrets=[Secret(name, value, source="inspector") for name, value in capture.extra_secrets],
        decisions=[_decision(d) for d in capture.decisions],
        certificate_phase=_certificate_phase(capture.certificate_phase),
        scenario=meta.get("scenario"),
        seed=meta.get("seed_number"),
        client=Peer("client", _address(capture.client_address), implementation.get("client")),
        server=Peer("server", _address(capture.server_address), implementation.get("server")),
    )
    findings = [Finding("capture", message) for message in capture.findings]
    findings += _compare_plaintext(capture, recording)
    return recording.with_findings(findings) if findings else recording


def _compare_plaintext(capture: Capture, recording: Recording) -> list[Finding]:
    """The inspector's decryption against what the receiving engine handed its application."""
    out = []
    for direction in ("client_to_server", "server_to_client"):
        delivered = b"".join(data for d, data in capture.plaintext if d == direction)
        if not delivered:
            continue
        decrypted = b"".join(r.decrypted.plaintext for r in recording.records
                             if r.direction == direction and r.decrypted is not None and r.decrypted.inner_content_type == 23)
        if decrypted != delivered:
            out.append(Finding("mismatch", f"{direction.replace('_', ' ')}: the inspector decrypted {len(decrypted)} bytes of "
                                           f"application data, the receiving engine delivered {len(delivered)} different ones",
                               subject="application data"))
    return out


def _address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _decision(decision: Any) -> Decision:
    rfc = ""
    if "(RFC " in decision.why:
        rfc = decision.why[decision.why.index("(RFC ") + 1:].split(")")[0]
    details = {str(k): _json(v) for k, v in decision.details.items()}
    return Decision(decision.topic, decision.what, decision.why, rfc, decision.who, details)


def _json(value: Any) -> Any:
    """A detail as a JSON value (lists stay lists; anything else not JSON becomes its text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return str(value)


def _certificate_phase(chosen: dict[str, Any] | None) -> CertificatePhase | None:
    if chosen is None:
        return None
    cas: list[x509.Certificate] = list(chosen.get("client_ca_certificates", ()))
    return CertificatePhase(
        certificate_chain=tuple(chosen.get("certificate_chain", ())),
        request_client_certificate=bool(chosen.get("request_client_certificate", False)),
        client_ca_names=tuple(ca.subject.public_bytes() for ca in cas),
        session_reuse=chosen.get("session_reuse", True) is not False,
        alpn_protocols=tuple(chosen.get("alpn_protocols", ())),
        server_name=chosen.get("server_name"),
    )
