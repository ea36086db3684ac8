"""Loading Kong Python PDK plugins unchanged, the kong_pdk shim, schema defaults."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import purekong.pdk
from purekong.runner import (
    NativePlugin,
    PluginLoadError,
    SchemaViolation,
    configure,
    fill_config,
    load_plugin_file,
    load_plugins_dir,
    plugin_from_class,
)

PLUGINS = Path(__file__).parent / "plugins"
REPO = Path(__file__).parent.parent.parent


def write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_docs_example_loads_without_kong_pdk_installed():
    spec = load_plugin_file(PLUGINS / "py-hello.py")
    assert (spec.name, spec.version, spec.priority) == ("py-hello", "0.1.0", 0)
    assert spec.phases == {"access"}
    assert spec.schema == ({"message": {"type": "string"}},)
    assert not spec.native


def test_main_block_never_runs(tmp_path):
    path = write(tmp_path, "guarded.py", """
        class Plugin:
            def __init__(self, config): pass
        if __name__ == "__main__":
            raise SystemExit("ran __main__")
    """)
    assert load_plugin_file(path).name == "guarded"


def test_shim_serves_type_hints_and_our_exception():
    load_plugin_file(PLUGINS / "py-hello.py")  # installs the shim if needed
    import kong_pdk.exception
    import kong_pdk.pdk.kong as kong_stub

    if getattr(kong_pdk.exception, "__purekong_shim__", False):
        assert kong_pdk.exception.PDKException is purekong.pdk.PDKException
        assert kong_stub.kong.request.get_header is not None  # deep annotations work
    else:  # the real package is installed: we must be raising its class
        assert purekong.pdk.PDKException is kong_pdk.exception.PDKException


def test_real_kong_pdk_wins_over_the_shim(tmp_path):
    # A fake "installed" kong_pdk on the path: purekong must use its PDKException
    # and must not install the shim.
    pkg = tmp_path / "site" / "kong_pdk"
    (pkg / "pdk").mkdir(parents=True)
    (pkg / "__init__.py").write_text("REAL = True\n")
    (pkg / "exception.py").write_text("class PDKException(Exception):\n    pass\n")
    (pkg / "pdk" / "__init__.py").write_text("from kong_pdk.exception import PDKException\n")
    (pkg / "pdk" / "kong.py").write_text("class kong:\n    pass\n")
    code = textwrap.dedent(f"""
        import json, sys
        import purekong.pdk, purekong.runner._shim as shim
        from purekong.runner import load_plugin_file
        spec = load_plugin_file({str(PLUGINS / "py-gatekeeper.py")!r})
        import kong_pdk, kong_pdk.exception
        print(json.dumps({{
            "real": getattr(kong_pdk, "REAL", False),
            "same": purekong.pdk.PDKException is kong_pdk.exception.PDKException,
            "shim": shim._FINDER in sys.meta_path,
        }}))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(REPO)]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"real": True, "same": True, "shim": False}


def test_only_kong_pdk_phases_count_and_inherited_ones_do(tmp_path):
    path = write(tmp_path, "phases.py", """
        class Base:
            def log(self, kong): pass
        class Plugin(Base):
            def __init__(self, config): pass
            def access(self, kong): pass
            def header_filter(self, kong): pass   # not recognised by kong_pdk
            def balancer(self, kong): pass        # not recognised by kong_pdk
    """)
    assert load_plugin_file(path).phases == {"access", "log"}


def test_plugin_named_like_a_stdlib_module_does_not_shadow_it(tmp_path):
    path = write(tmp_path, "json.py", """
        class Plugin:
            def __init__(self, config): pass
    """)
    load_plugin_file(path)
    import json as real_json

    assert hasattr(real_json, "dumps") and "json" in sys.modules and sys.modules["json"] is real_json


def test_missing_plugin_class(tmp_path, caplog):
    write(tmp_path, "noplugin.py", "x = 1\n")
    write(tmp_path, "broken.py", "raise RuntimeError('boom')\n")
    write(tmp_path, "good.py", "class Plugin:\n    def __init__(self, c): pass\n    def access(self, kong): pass\n")
    with pytest.raises(PluginLoadError, match="no Plugin class"):
        load_plugin_file(tmp_path / "noplugin.py")
    with pytest.raises(PluginLoadError, match="boom"):
        load_plugin_file(tmp_path / "broken.py")
    assert list(load_plugins_dir(tmp_path)) == ["good"]
    assert "noplugin.py" in caplog.text and "broken.py" in caplog.text


def test_directory_of_fixtures():
    specs = load_plugins_dir(PLUGINS)
    assert {"py-hello", "py-gatekeeper", "py-chain"} <= set(specs)
    assert specs["py-chain"].phases == {"certificate", "access"}


def test_native_plugin_spec():
    class Native(NativePlugin):
        name = "native"
        priority = 5
        schema = ({"n": {"type": "integer", "default": 3}},)

        def client_hello(self, kong): pass
        def header_filter(self, kong): pass
        def body_filter(self, kong): pass

    spec = plugin_from_class(Native)
    assert spec.native and spec.lua_style is False
    assert spec.phases == {"client_hello", "header_filter", "body_filter"}
    inst = configure(spec)
    assert inst.plugin.config == {"n": 3}


SCHEMA = (
    {"message": {"type": "string", "default": "hello"}},
    {"optional": {"type": "string"}},
    {"count": {"type": "integer", "default": 1}},
    {"mode": {"type": "string", "default": "a", "one_of": ["a", "b"]}},
    {"nested": {"type": "record", "fields": [{"depth": {"type": "integer", "default": 2}}, {"name": {"type": "string"}}]}},
    {"items": {"type": "array", "default": ["x"]}},
)


def test_schema_defaults_like_kongs_stored_config():
    assert fill_config(SCHEMA, None) == {
        "message": "hello",
        "optional": None,  # ngx.null -> None
        "count": 1,
        "mode": "a",
        "nested": {"depth": 2, "name": None},
        "items": ["x"],
    }
    filled = fill_config(SCHEMA, {"message": "hi", "nested": {"name": "n"}})
    assert filled["message"] == "hi" and filled["nested"] == {"depth": 2, "name": "n"}
    a, b = fill_config(SCHEMA, None), fill_config(SCHEMA, None)
    a["items"].append("y")
    assert b["items"] == ["x"]  # defaults are copied


@pytest.mark.parametrize(
    "config, message",
    [
        ({"nope": 1}, "schema violation (config.nope: unknown field)"),
        ({"count": "3"}, "schema violation (config.count: expected an integer)"),
        ({"count": True}, "schema violation (config.count: expected an integer)"),
        ({"mode": "c"}, "schema violation (config.mode: expected one of: a, b)"),
        ({"nested": {"depth": "x"}}, "schema violation (config.nested.depth: expected an integer)"),
    ],
)
def test_schema_violations(config, message):
    with pytest.raises(SchemaViolation) as e:
        fill_config(SCHEMA, config)
    assert str(e.value) == message


def test_required_field():
    spec = load_plugin_file(PLUGINS / "py-gatekeeper.py")
    with pytest.raises(SchemaViolation, match=r"config.token: required field missing"):
        configure(spec)
    assert configure(spec, {"token": "t"}).config == {"header": "x-token", "token": "t", "upstream_header": "x-authenticated"}
