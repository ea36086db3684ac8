"""Configuration errors that tell the truth, and real configuration files
(decK and Konnect exports), through the real ``purekong serve``.

The plugin files are in ``wild_plugins/``, written as plugins in the wild are:
one with a syntax error, one raising in ``__init__``, one with a typed schema,
one calling a PDK name Kong does not have.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from _serve_helpers import REPO, TIMEOUT, start_gateway

WILD = Path(__file__).parent / "wild_plugins"


def serve_fails(tmp: Path, config: str, *extra: str) -> str:
    (tmp / "kong.yml").write_text(config)
    out = subprocess.run([sys.executable, "-m", "purekong.cli", "serve", "-c", "kong.yml", "--listen", "127.0.0.1:0",
                          "--state-dir", str(tmp / "st"), *extra],
                         capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode != 0
    assert "listening" not in out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    return out.stderr


def plugins_dir(tmp: Path, *names: str) -> Path:
    directory = tmp / "plugins"
    directory.mkdir()
    for name in names:
        shutil.copy(WILD / f"{name}.py", directory)
    return directory


ALL_WRONG = """\
_format_version: "3.0"
services:
- name: api
  url: http://127.0.0.1:1
  routes:
  - name: r0
    paths: [/a]
  - name: r1
    paths: [/b]
    plugins:
    - name: broken
plugins:
- name: bad-config
  config: {count: "three"}
- name: init-raises
- name: nowhere
"""


def test_every_plugin_problem_at_once_each_at_its_entry(tmp_path):
    directory = plugins_dir(tmp_path, "broken", "init-raises", "bad-config")
    err = serve_fails(tmp_path, ALL_WRONG, "--plugins-dir", str(directory))
    assert "invalid configuration (4 problems)" in err
    lines = err.splitlines()
    # the nested plugin with its full path, the file, the line and the exception
    broken = next(line for line in lines if "broken" in line and "failed to load" in line)
    assert broken.strip().startswith('services[0] (name "api").routes[1] (name "r1").plugins[0] (name "broken").name:')
    assert f"{directory / 'broken.py'}:8: SyntaxError" in broken
    assert any(line.strip().startswith('plugins[0] (name "bad-config").config: schema violation (config.count: '
                                       'expected an integer)') for line in lines)
    assert any(line.strip().startswith('plugins[1] (name "init-raises"): plugin \'init-raises\' raised in __init__: '
                                       "KeyError: 'endpoint'") for line in lines)
    assert any(line.strip().startswith('plugins[2] (name "nowhere").name: unknown plugin \'nowhere\'') for line in lines)


def test_a_plugin_raising_in_init_shows_its_traceback_at_debug(tmp_path):
    directory = plugins_dir(tmp_path, "init-raises")
    config = '_format_version: "3.0"\nplugins:\n- name: init-raises\n'
    assert "Traceback" not in serve_fails(tmp_path, config, "--plugins-dir", str(directory))
    out = subprocess.run([sys.executable, "-m", "purekong.cli", "serve", "-c", "kong.yml", "--listen", "127.0.0.1:0",
                          "--state-dir", str(tmp_path / "st"), "--plugins-dir", str(directory), "--log-level", "debug"],
                         capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode != 0
    assert "Traceback" in out.stderr and 'self.endpoint = config["endpoint"]' in out.stderr


DECK_EXPORT = """\
_format_version: "3.0"
_info:
  defaults: {{}}
  select_tags: [team-a]
_konnect:
  control_plane_name: default
services:
- name: app
  asgi: hello_app:app
  connect_timeout: 60000
  read_timeout: 60000
  write_timeout: 60000
  retries: 5
  enabled: true
  tags: [team-a]
  routes:
  - name: hello
    paths: [/hello]
    protocols: [http, https]
    https_redirect_status_code: 426
    path_handling: v0
    preserve_host: false
    regex_priority: 0
    request_buffering: true
    response_buffering: true
    strip_path: true
    tags: [team-a]
routes:
- name: other
  paths: [/other]
  service:
    name: app
plugins:
- name: missing-in-kong
  enabled: true
  protocols: [grpc, grpcs, http, https]
  route:
    name: other
"""

HELLO_APP = """\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello from next to the config"})
"""


def test_a_deck_export_loads_and_its_asgi_module_imports_from_the_config_directory(tmp_path):
    """decK/Konnect metadata keys are ignored (one info line each), ``{name: ...}``
    references resolve, and ``asgi:`` finds the module beside kong.yml with the
    working directory elsewhere and no PYTHONPATH for it."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "kong.yml").write_text(DECK_EXPORT.format())
    (conf / "hello_app.py").write_text(HELLO_APP)
    directory = plugins_dir(tmp_path, "missing-in-kong")
    g = start_gateway(tmp_path, ["-c", str(conf / "kong.yml"), "--listen", "127.0.0.1:0",
                                 "--state-dir", str(tmp_path / "st"), "--plugins-dir", str(directory)])
    try:
        with httpx.Client(timeout=TIMEOUT) as c:
            hello = c.get(g.url("/hello", tls=False))
            other = c.get(g.url("/other", tls=False))
        assert hello.status_code == 200 and hello.text == "hello from next to the config"
        # the plugin on the route named by {name: other} ran; its unknown PDK
        # name answered (None, None) as Kong's bridge does, and the request went on
        assert other.status_code == 200 and other.headers["x-missing-answer"] == "(None, None)"
    finally:
        assert g.stop() == 0
    err = g.stderr_path.read_text()
    assert "_info is decK's own metadata; ignored" in err
    assert "_konnect is Konnect's own metadata; ignored" in err
    assert "could not find pdk method: kong.log.error" in err


def retarget_config(dead: int, upstream: int, extra: str = "") -> str:
    return f"""\
_format_version: "3.0"
services:
- name: nowhere
  url: http://127.0.0.1:{dead}/
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: retarget
      id: 0b5f8a34-7a43-4b2c-9a8e-3f4f1b7c2d10
      config: {{host: 127.0.0.1, port: {upstream}{extra}}}
consumers:
- username: alice
"""


def test_set_target_and_set_timeouts_change_where_and_how_the_request_is_proxied(tmp_path, upstream):
    """The service points at a dead port; the plugin's set_target sends the
    request to the real upstream, and its set_timeouts cuts a slow one short."""
    directory = plugins_dir(tmp_path, "retarget")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = sock.getsockname()[1]
    sock.close()
    (tmp_path / "kong.yml").write_text(retarget_config(dead, upstream))
    g = start_gateway(tmp_path, ["-c", "kong.yml", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "st"),
                                 "--plugins-dir", str(directory)])
    try:
        with httpx.Client(timeout=TIMEOUT) as c:
            first = c.get(g.url("/api/x", tls=False))
            second = c.get(g.url("/api/y", tls=False))
    finally:
        assert g.stop() == 0
    assert first.status_code == 200 and first.json()["path"] == "/x"  # the upstream answered
    report = [json.loads(r.headers["x-retarget"]) for r in (first, second)]
    assert [r["seen"] for r in report] == [1, 2]  # kong.nginx.shared lives across requests
    assert report[0]["consumer"] == "alice" and report[0]["prefix"] == "/api"
    assert report[1]["total_requests"] == report[0]["total_requests"] + 1 and report[0]["active"] >= 1
    assert report[0]["plugin_id"] == "0b5f8a34-7a43-4b2c-9a8e-3f4f1b7c2d10"

    (tmp_path / "kong.yml").write_text(retarget_config(dead, upstream, ", read_timeout: 200"))
    g = start_gateway(tmp_path, ["-c", "kong.yml", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "st"),
                                 "--plugins-dir", str(directory)])
    try:
        with httpx.Client(timeout=TIMEOUT) as c:
            slow = c.get(g.url("/api/slow", tls=False))  # the upstream sleeps 3 s
    finally:
        assert g.stop() == 0
    assert slow.status_code == 504
