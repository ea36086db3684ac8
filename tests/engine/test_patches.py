"""The patch registry (purekong/engine/_tlslite/_patches.py) is complete and current.

A change to tlslite that is not in the registry fails here (the scans look
at what purekong actually changed, not at what the registry says), and so
does a tlslite upgrade that moves or removes a patched attribute.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import subprocess
import sys

import purekong.engine  # noqa: F401  (installs the patches, as in production)
import tlslite
from purekong.engine._tlslite import _hooked, _patches
from purekong.engine._tlslite._patches import Kind
from purekong.engine._tlslite._transport import MemoryTransport
from tlslite.tlsconnection import TLSConnection

#: Every change purekong makes to tlslite. A new one is added here on purpose.
PINNED = [
    "tlslite.utils.python_aesgcm:new",
    "tlslite.utils.python_chacha20_poly1305:new",
    "tlslite.utils.python_aesccm:new",
    "tlslite.keyexchange:x25519",
    "tlslite.keyexchange:x448",
    "tlslite.keyexchange:ECDHKeyExchange.get_random_private_key",
    "tlslite.keyexchange:ECDHKeyExchange.calc_public_value",
    "tlslite.keyexchange:ECDHKeyExchange.calc_shared_key",
    "tlslite.utils.keyfactory:_createPublicRSAKey",
    "tlslite.utils.keyfactory:_create_public_ecdsa_key",
    "tlslite.utils.keyfactory:_create_public_eddsa_key",
    "tlslite.x509:_createPublicRSAKey",
    "tlslite.x509:_create_public_ecdsa_key",
    "tlslite.x509:_create_public_eddsa_key",
    "tlslite.x509:X509._ecdsa_pubkey_parsing",
    "tlslite.x509:X509._eddsa_pubkey_parsing",
    "tlslite.utils.cryptomath:secureHMAC",
    "tlslite.utils.cryptomath:HKDF_expand",
    "tlslite.utils.cryptomath:HKDF_expand_label",
    "tlslite.mathtls:P_hash",
    "tlslite.utils.cryptomath:getRandomBytes",
    "tlslite.constants:CipherSuite._filterSuites",
    "tlslite.tlsconnection:is_valid_hostname",
    "tlslite.extensions:CustomNameExtension.__setattr__",
    "tlslite.utils.codec:Parser.get",
    "tlslite.messages:HelloMessage.getExtension",
    "tlslite.constants:TLSEnum._recursiveVars",
    "tlslite.constants:TLSEnum.toRepr",
    "tlslite.defragmenter:Defragmenter.add_data",
    "tlslite.defragmenter:Defragmenter.add_static_size",
    "tlslite.defragmenter:Defragmenter.add_dynamic_size",
    "tlslite.messages:Certificate.create",
    "tlslite.tlsrecordlayer:HandshakeHashes",
    "tlslite.tlsconnection:HandshakeHashes",
    "tlslite.tlsrecordlayer:ClientHello",
    "tlslite.tlsconnection:ClientHello",
    "tlslite.tlsconnection:SessionTicketPayload",
    "tlslite.tlsconnection:derive_secret",
    "tlslite.messages:CompressedCertificate._decompress",
    "tlslite.tlsrecordlayer:TLSRecordLayer._handshakeDone",
    "tlslite.tlsconnection:TLSConnection._serverSendTickets",
    "tlslite.tlsrecordlayer:TLSRecordLayer.heartbeat_supported",
    "tlslite.tlsconnection:TLSConnection._tryDecrypt",
    "tlslite.tlsrecordlayer:TLSRecordLayer._queue_message",
    "tlslite.tlsrecordlayer:TLSRecordLayer._sendMsg",
    "tlslite.tlsconnection:TLSConnection._pickServerKeyExchangeSig",
    "tlslite.tlsconnection:TLSConnection._handshakeWrapperAsync",
    "tlslite.tlsconnection:TLSConnection._clientGetServerHello",
    "tlslite.tlsconnection:TLSConnection._clientGetKeyFromChain",
    "tlslite.tlsconnection:TLSConnection._clientResume",
    "tlslite.tlsrecordlayer:TLSRecordLayer._calcPendingStates",
    "tlslite.tlsrecordlayer:TLSRecordLayer._handle_keyupdate_request",
    "tlslite.tlsrecordlayer:TLSRecordLayer._getNextRecord",
    "tlslite.recordlayer:RecordLayer.calcTLS1_3PendingState",
    "tlslite.recordlayer:RecordLayer._decryptSSL2",
    "tlslite.recordlayer:RecordSocket._recvHeader",
    "tlslite.recordlayer:RecordSocket.recv",
]


def by_kind(*kinds: Kind) -> list[_patches.Patch]:
    return [p for p in _patches.patched() if p.kind in kinds]


def _unwrap(value: object) -> object:
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    if isinstance(value, property):
        return value.fget
    return value


def _is_purekong(value: object) -> bool:
    return (getattr(_unwrap(value), "__module__", None) or "").startswith("purekong")


def test_the_registry_is_pinned():
    assert [p.target for p in _patches.patched()] == PINNED
    assert len(set(PINNED)) == len(PINNED)
    for patch in _patches.patched():
        assert patch.reason.strip(), patch.target


def test_every_patch_was_written_for_the_installed_tlslite_minor():
    installed = tlslite.__version__.split(".")[:2]
    for patch in _patches.patched():
        assert patch.written_for.split(".")[:2] == installed, (
            f"{patch.target} was written for tlslite {patch.written_for}; re-check it against {tlslite.__version__}")


def test_every_original_still_exists_in_the_installed_tlslite():
    plain = TLSConnection(MemoryTransport())
    for patch in _patches.patched():
        owner, name = _patches.resolve(patch)  # ImportError/AttributeError: tlslite moved it
        if patch.kind in (Kind.MODULE, Kind.CLASS):
            pure = _patches.original(owner, name)
            assert pure is not None and not _is_purekong(pure), patch.target
            assert inspect.getattr_static(owner, name) is patch.replacement, patch.target
        elif patch.kind is Kind.SUBCLASS:
            assert isinstance(owner, type) and issubclass(TLSConnection, owner), patch.target
            assert name in vars(owner) or name in vars(plain), f"{patch.target}: tlslite no longer has it"
        else:
            assert isinstance(owner, type) and name in vars(owner), patch.target


def test_no_module_or_class_patch_is_unregistered():
    """Scan every tlslite module and class for purekong's objects."""
    found = set()
    classes = {}
    for module_name, module in list(sys.modules.items()):
        if module_name.partition(".")[0] != "tlslite":
            continue
        for name, value in vars(module).items():
            if _is_purekong(value):
                found.add((id(module), name))
            if isinstance(value, type) and value.__module__.partition(".")[0] == "tlslite":
                classes[id(value)] = value
    for cls in classes.values():
        for name, value in vars(cls).items():
            if _is_purekong(value):
                found.add((id(cls), name))
    registered = {(id(owner), name) for owner, name in _patches.applied()}
    assert found == registered


def test_every_hookedtlsconnection_override_is_registered():
    overrides = {
        name: value for name, value in vars(_hooked.HookedTLSConnection).items()
        if not name.startswith("__") and (hasattr(TLSConnection, name) or name in vars(TLSConnection(MemoryTransport())))
    }
    registered = {p.path[-1]: p.replacement for p in by_kind(Kind.SUBCLASS)}
    assert overrides == registered


def test_every_record_layer_hook_is_registered():
    tls = _hooked.HookedTLSConnection(MemoryTransport(), _hooked.Hooks())
    layer = tls._recordLayer
    hooks = {}
    for owner in (layer, layer._recordSocket):
        hooked, tlslite_class = type(owner), type(owner).__mro__[1]
        assert hooked.__module__ == _hooked.__name__ and tlslite_class.__module__ == "tlslite.recordlayer"
        assert owner._pk_tls() is tls
        assert not [name for name, value in vars(owner).items() if callable(value) and name != "_pk_tls"]  # no instance-level hooks
        for name, value in vars(hooked).items():
            if name.startswith("_tlslite_"):
                assert value in vars(tlslite_class).values()  # tlslite's own method, kept under another name
            elif callable(value):
                assert hasattr(tlslite_class, name)
                hooks[(tlslite_class.__name__, name)] = value
    registered = {p.path: p.replacement for p in by_kind(Kind.RECORD_LAYER)}
    assert hooks.keys() == registered.keys()
    for path, override in hooks.items():
        assert registered[path].__name__ in override.__code__.co_names  # the override calls its registered hook


def test_importing_the_engine_patches_tlslite_for_the_whole_process():
    code = (
        "import tlslite.mathtls as m; before = m.P_hash\n"
        "from purekong.engine._tlslite import _patches\n"
        "assert _patches.installed() and m.P_hash is not before and m.P_hash.__module__.startswith('purekong')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


ENGINE = pathlib.Path(purekong.engine.__file__).parent


def test_install_is_called_once_from_the_engine_package():
    callers = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "install":
                callers.append(path.relative_to(ENGINE).as_posix())
    assert callers == ["__init__.py"]


def test_nothing_outside_tlslite_adapter_touches_tlslite():
    """Outside engine/_tlslite/, the Driver's methods are the way in."""
    for path in ENGINE.parent.rglob("*.py"):
        if ENGINE / "_tlslite" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.partition(".")[0] == "tlslite" for n in names), path
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "_driver":
                assert node.attr not in ("tls", "transport", "records"), f"{path}: _driver.{node.attr}"
