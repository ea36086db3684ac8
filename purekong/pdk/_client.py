"""``kong.client`` (without ``tls``): the peer and the authenticated consumer."""

from __future__ import annotations

import re

from ._errors import LuaError
from ._phases import Phase
from ._registry import pdk_function

AUTH_AND_LATER = Phase.access | Phase.header_filter | Phase.response | Phase.body_filter | Phase.log


def _peer(ctx) -> tuple[str, int]:
    if ctx.request is None and ctx.hello is not None:  # certificate/client_hello
        return ctx.hello.client_ip, ctx.hello.client_port
    return ctx.conn.client_ip, ctx.conn.client_port


@pdk_function("kong.client.get_ip", rejected=Phase.init_worker)
def get_ip(ctx):
    return _peer(ctx)[0], None


@pdk_function("kong.client.get_port", rejected=Phase.init_worker)
def get_port(ctx):
    return _peer(ctx)[1], None


# purekong trusts no proxy (Kong's default trusted_ips is empty), so the
# forwarded values are the peer's.
@pdk_function("kong.client.get_forwarded_ip", rejected=Phase.init_worker)
def get_forwarded_ip(ctx):
    return _peer(ctx)[0], None


@pdk_function("kong.client.get_forwarded_port", rejected=Phase.init_worker)
def get_forwarded_port(ctx):
    return _peer(ctx)[1], None


@pdk_function("kong.client.get_protocol", AUTH_AND_LATER)
def get_protocol(ctx, allow_terminated=None):
    return ("https" if ctx.conn.tls.is_tls else "http"), None


@pdk_function("kong.client.get_consumer", AUTH_AND_LATER)
def get_consumer(ctx):
    return ctx.consumer, None


@pdk_function("kong.client.get_credential", AUTH_AND_LATER)
def get_credential(ctx):
    return ctx.credential, None


@pdk_function("kong.client.authenticate", Phase.access)
def authenticate(ctx, consumer=None, credential=None):
    if consumer is not None and not isinstance(consumer, dict):
        raise LuaError("consumer must be a table or nil")
    if credential is not None and not isinstance(credential, dict):
        raise LuaError("credential must be a table or nil")
    if consumer is None and credential is None:
        raise LuaError("either credential or consumer must be provided")
    ctx.consumer = consumer
    ctx.credential = credential
    return None, None


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


@pdk_function("kong.client.load_consumer", AUTH_AND_LATER)
def load_consumer(ctx, consumer_id, search_by_username=None):
    if not isinstance(consumer_id, str) or not consumer_id:
        raise LuaError("consumer_id must be a string")
    is_uuid = bool(_UUID.match(consumer_id))
    if not is_uuid and not search_by_username:
        raise LuaError("cannot load a consumer with an id that is not a uuid")
    find = ctx.find_consumer
    if find is None:
        return None, None
    if is_uuid:
        found = find("id", consumer_id)
        if found is not None:
            return found, None
    if search_by_username:
        return find("username", consumer_id), None
    return None, None
