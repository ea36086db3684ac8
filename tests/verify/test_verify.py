"""client_verify: Kong's scenarios and every failure reason, with exact strings.

The scenarios (``KONG_TABLE``, ``CASES``) are in _verify_cases.py, shared with
test_verify_differential.py, which replays them against real OpenSSL.
"""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from _pki import make_ca, make_intermediate, make_leaf, pool_key
from _verify_cases import (
    CASES,
    INTER_DN,
    KONG_TABLE,
    LEAF_DN,
    TOO_SHORT_TIMES,
    kong_inputs,
    kong_pki,
    plain_pki,
    with_leaf,
    with_time,
)
from purekong.cli import main
from purekong.verify import CertificateDecodeError, client_verify, load_pem_certificates


@pytest.mark.parametrize("ca_list,sends,depth,expected", KONG_TABLE)
def test_kong_request_client_certificate_table(ca_list, sends, depth, expected):
    chain, trusted = kong_inputs(ca_list, sends)
    assert client_verify([c.der for c in chain], trusted, depth=depth) == expected


def test_kong_dn_shapes():
    # As `openssl s_client` prints them in 6.B.6: C, ST, O, CN.
    pki = kong_pki()
    assert [a.oid._name for a in pki.root.cert.subject] == ["countryName", "stateOrProvinceName",
                                                             "organizationName", "commonName"]
    assert pki.inter.cert.subject.rfc4514_string() == INTER_DN
    assert pki.leaf.cert.subject.rfc4514_string() == LEAF_DN
    assert pki.leaf.cert.issuer == pki.inter.cert.subject


def test_not_requested_is_none():  # 6.B.1
    assert client_verify(None, [kong_pki().root.cert]) == "NONE"


def test_default_depth_is_kongs_zero():
    pki = kong_pki()
    chain = [pki.leaf.cert, pki.inter.cert]
    assert client_verify(chain, [pki.root.cert]) == client_verify(chain, [pki.root.cert], depth=0)
    assert client_verify(chain, [pki.root.cert]) == "FAILED:unable to get local issuer certificate"


# --- every failure reason, each with a hand-built chain ---------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reason(case):
    assert case.build().run() == case.expected


def test_depth_counts_intermediates_between_leaf_and_anchor():
    root = make_ca("Root", key=pool_key("ec", 0))
    cas = [root]
    for i in range(3):
        cas.append(make_intermediate(cas[-1], f"Intermediate {i}", key=pool_key("ec", 1 + i)))
    leaf = make_leaf(cas[-1], "Leaf", key=pool_key("ec", 5))
    chain = [leaf.cert] + [c.cert for c in reversed(cas[1:])]
    results = [client_verify(chain, [root.cert], depth=d) for d in range(5)]
    assert results == ["FAILED:unable to get local issuer certificate"] * 3 + ["SUCCESS"] * 2


def test_now_sets_the_verification_time():
    scenario = with_leaf(days=(1, 30))
    assert scenario.run() == "FAILED:certificate is not yet valid"
    scenario.now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    assert scenario.run() == "SUCCESS"
    scenario.now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=31)
    assert scenario.run() == "FAILED:certificate has expired"


def test_validity_boundaries_are_openssl_3_4s():
    scenario = with_leaf(days=(-1, 30))  # inside its CAs' validity
    leaf = scenario.chain[0].cert
    scenario.now = leaf.not_valid_before_utc  # valid from notBefore on...
    assert scenario.run() == "SUCCESS"
    scenario.now = leaf.not_valid_before_utc - dt.timedelta(seconds=1)
    assert scenario.run() == "FAILED:certificate is not yet valid"
    scenario.now = leaf.not_valid_after_utc - dt.timedelta(seconds=1)
    assert scenario.run() == "SUCCESS"
    scenario.now = leaf.not_valid_after_utc  # ...and expired at notAfter
    assert scenario.run() == "FAILED:certificate has expired"


def test_duplicate_trusted_certs_are_ignored():
    root, inter, leaf = plain_pki()
    assert client_verify([leaf.der, inter.der], [root.cert, root.cert], depth=1) == "SUCCESS"


def test_undecodable_certificate_raises():
    root, inter, leaf = plain_pki()
    with pytest.raises(CertificateDecodeError, match="#1"):
        client_verify([leaf.der, b"\x30\x03\x02\x01\x00"], [root.cert])
    with pytest.raises(ValueError):
        client_verify([leaf.der], [root.cert], depth=-1)




@pytest.mark.parametrize("tag,value", TOO_SHORT_TIMES)
def test_times_too_short_to_parse_raise(tag, value):
    root, inter, leaf = plain_pki()
    with pytest.raises(CertificateDecodeError):
        client_verify([with_time(leaf, inter.key, 0, tag, value).der, inter.der], [root.cert])


def test_load_pem_certificates():
    root, inter, leaf = plain_pki()
    assert load_pem_certificates(leaf.pem + inter.pem) == [leaf.cert, inter.cert]
    assert load_pem_certificates(root.pem.encode()) == [root.cert]
    with pytest.raises(ValueError):
        load_pem_certificates("not a certificate")


# --- the CLI -----------------------------------------------------------------


def test_cli_verify(tmp_path, capsys):
    pki = kong_pki()
    chain = tmp_path / "chain.pem"
    chain.write_text(pki.leaf.pem + pki.inter.pem)
    cas = tmp_path / "cas.pem"
    cas.write_text(pki.inter.pem + pki.root.pem)
    root = tmp_path / "root.pem"
    root.write_text(pki.root.pem)

    assert main(["verify", "--ca", str(cas), str(chain)]) == 0
    assert capsys.readouterr().out == "FAILED:unable to get issuer certificate\n"
    assert main(["verify", str(chain)]) == 0
    assert capsys.readouterr().out == "FAILED:unable to get local issuer certificate\n"
    assert main(["verify", "--ca", str(root), "--depth", "1", str(chain)]) == 0
    assert capsys.readouterr().out == "SUCCESS\n"
    intermediate = tmp_path / "inter.pem"
    intermediate.write_text(pki.inter.pem)
    assert main(["verify", "--ca", str(intermediate), "--partial-chain", str(chain)]) == 0
    assert capsys.readouterr().out == "SUCCESS\n"


def test_cli_verify_unreadable_files(tmp_path, capsys):
    chain = tmp_path / "chain.pem"
    chain.write_text(kong_pki().leaf.pem)
    missing = tmp_path / "missing.pem"
    assert main(["verify", "--ca", str(missing), str(chain)]) == 2
    assert str(missing) in capsys.readouterr().err
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    assert main(["verify", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert str(garbage) in err and "no PEM certificate" in err


def test_cli_verify_reads_certificates_cryptography_refuses(tmp_path, capsys):
    root, inter, leaf = plain_pki()
    odd = with_time(leaf, inter.key, 0, 0x17, b"251301000000Z")
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(odd.der).decode() + "-----END CERTIFICATE-----\n"
    chain = tmp_path / "chain.pem"
    chain.write_text(pem + inter.pem)
    ca = tmp_path / "ca.pem"
    ca.write_text(root.pem)
    assert main(["verify", "--ca", str(ca), "--depth", "1", str(chain)]) == 0
    assert capsys.readouterr().out == "FAILED:format error in certificate's notBefore field\n"

    chain.write_text("-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n")
    assert main(["verify", "--ca", str(ca), str(chain)]) == 2
    err = capsys.readouterr().err
    assert "not a valid X.509 certificate" in err and str(chain) in err


