"""Kong's phase flags and checker (spec kong-client-tls.md §2.1, §2.2)."""

import pytest

from purekong.pdk import LuaError, PDKException, Phase, check_not_phase, check_phase, phase_mask, phase_names


def test_flags_are_kongs():
    assert {p.name: p.value for p in Phase} == {
        "init_worker": 0x00000001,
        "certificate": 0x00000002,
        "client_hello": 0x00000008,
        "rewrite": 0x00000010,
        "access": 0x00000020,
        "balancer": 0x00000040,
        "response": 0x00000080,
        "cluster_listener": 0x00000100,
        "header_filter": 0x00000200,
        "body_filter": 0x00000400,
        "log": 0x00002000,
        "preread": 0x00004000,
        "error": 0x01000000,
        "admin_api": 0x10000000,
    }


def test_names_in_ascending_bit_order_not_construction_order():
    mask = phase_mask("log", "balancer", "rewrite", "response", "access")
    assert phase_names(mask) == "rewrite, access, balancer, response, log"


def test_allowed_phase_passes():
    check_phase(Phase.access, Phase.rewrite | Phase.access)


def test_rejected_phase_message():
    with pytest.raises(LuaError) as e:
        check_phase(Phase.header_filter, Phase.access | Phase.rewrite)
    assert str(e.value) == "function cannot be called in header_filter phase (only in: rewrite, access)"


def test_unknown_current_phase_is_quoted():
    with pytest.raises(LuaError) as e:
        check_phase(Phase.access | Phase.log, Phase.certificate)
    assert str(e.value) == "function cannot be called in 'unknown phase' phase (only in: certificate)"


def test_no_phase_message_has_kongs_comma():
    with pytest.raises(LuaError) as e:
        check_phase(None, Phase.rewrite | Phase.access)
    assert str(e.value) == "no phase in ngx.ctx.KONG_PHASE, (need one of rewrite, access)"


def test_checks_off_passes_anything():
    check_phase(None, Phase.certificate, enabled=False)
    check_phase(Phase.log, Phase.certificate, enabled=False)


def test_check_not_phase():
    check_not_phase(Phase.access, Phase.init_worker)
    with pytest.raises(LuaError) as e:
        check_not_phase(Phase.init_worker, Phase.init_worker | Phase.log)
    assert str(e.value) == (
        "function cannot be called in init_worker phase "
        "(can be called in any phases except: init_worker, log)"
    )


def test_request_alias_and_unknown_alias():
    assert phase_names(phase_mask("request")) == (
        "rewrite, access, balancer, response, cluster_listener, header_filter, "
        "body_filter, log, error, admin_api"
    )
    with pytest.raises(LuaError, match=r"^unknown phase or phase alias: nope$"):
        phase_mask("nope")


def test_lua_errors_are_pdk_exceptions():
    # so a plugin's `except PDKException` also catches Kong's thrown errors
    assert issubclass(LuaError, PDKException)
