"""Kong Python plugins written by others, run unchanged through the real
``purekong serve`` over TLS: blocking plugins stall only their own request, a
plugin may call back into the same one-worker gateway, a plugin that never
returns is cut off, and both kong-pdk call styles work.

The plugin files are in ``wild_plugins/``, written as plugins in the wild are.
"""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path

import httpx

from _serve_helpers import TIMEOUT, start_gateway

WILD = Path(__file__).parent / "wild_plugins"


def setup(tmp: Path, config: str, *names: str) -> Path:
    directory = tmp / "plugins"
    directory.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(WILD / f"{name}.py", directory)
    (tmp / "kong.yml").write_text('_format_version: "3.0"\n' + config)
    return directory


def serve(tmp: Path, directory: Path, *extra: str):
    return start_gateway(tmp, ["-c", "kong.yml", "--listen", "127.0.0.1:0 ssl", "--listen", "127.0.0.1:0",
                               "--state-dir", str(tmp / "st"), "--plugins-dir", str(directory), *extra])


def https() -> httpx.Client:
    return httpx.Client(verify=False, timeout=TIMEOUT)


def asgi_app(tmp: Path) -> None:
    (tmp / "pong_app.py").write_text(
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'x-upstream', b'pong')]})\n"
        "    await send({'type': 'http.response.body', 'body': scope['path'].encode()})\n")


def test_a_sleeping_plugin_stalls_only_its_own_request(tmp_path):
    asgi_app(tmp_path)
    directory = setup(tmp_path, """\
services:
- name: pong
  asgi: pong_app:app
  routes:
  - name: slow
    paths: [/slow]
    plugins:
    - name: sleepy
      config: {seconds: 3}
  - name: fast
    paths: [/fast]
""", "sleepy")
    g = serve(tmp_path, directory)
    slow_done = threading.Event()
    result = {}

    def slow():
        with https() as c:
            result["slow"] = c.get(g.url("/slow"))
        slow_done.set()

    try:
        thread = threading.Thread(target=slow)
        thread.start()
        with https() as c:
            # The slow request is in its plugin's sleep while these run.
            fast = [c.get(g.url("/fast")) for _ in range(5)]
            assert not slow_done.is_set()
        thread.join(TIMEOUT)
    finally:
        assert g.stop() == 0
    assert all(r.status_code == 200 and r.headers["x-upstream"] == "pong" for r in fast)
    assert result["slow"].status_code == 200 and result["slow"].headers["x-slept"] == "3"


def test_a_plugin_calling_back_into_the_same_one_worker_gateway(tmp_path):
    asgi_app(tmp_path)
    directory = setup(tmp_path, """\
services:
- name: pong
  asgi: pong_app:app
  routes:
  - name: outer
    paths: [/outer]
    plugins:
    - name: sync-http
      config: {url: "http://127.0.0.1:PORT/inner"}
  - name: inner
    paths: [/inner]
""", "sync-http")
    # The plugin's URL needs the plain listener's port: serve once to learn it
    # is not possible before start, so point it at a fixed free port.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "kong.yml").write_text((tmp_path / "kong.yml").read_text().replace("PORT", str(port)))
    g = start_gateway(tmp_path, ["-c", "kong.yml", "--listen", "127.0.0.1:0 ssl", "--listen", f"127.0.0.1:{port}",
                                 "--state-dir", str(tmp_path / "st"), "--plugins-dir", str(directory), "--workers", "1"])
    try:
        with https() as c:
            r = c.get(g.url("/outer"))
    finally:
        assert g.stop() == 0
    # the plugin's own request reached the ASGI app through the same worker
    assert r.status_code == 200 and r.headers["x-lookup-status"] == "200" and r.headers["x-upstream"] == "pong"


def test_a_plugin_that_never_returns_is_cut_off_and_sigterm_still_stops(tmp_path):
    asgi_app(tmp_path)
    directory = setup(tmp_path, """\
services:
- name: pong
  asgi: pong_app:app
  routes:
  - name: stuck
    paths: [/stuck]
    plugins:
    - name: stuck
  - name: fine
    paths: [/fine]
""", "stuck")
    g = serve(tmp_path, directory, "--plugin-timeout", "1", "--grace", "2")
    try:
        with https() as c:
            stuck = c.get(g.url("/stuck/here"))
            fine = c.get(g.url("/fine"))
    finally:
        code = g.stop(signal.SIGTERM)  # returns once the process exited
    assert stuck.status_code == 500 and stuck.json() == {"message": "An unexpected error occurred"}
    assert fine.status_code == 200
    assert code == 0
    err = g.stderr()
    line = next(line for line in err.splitlines() if "timed out" in line)
    assert "'stuck'" in line and "access phase" in line and "GET /stuck/here" in line
    # the access line says what the client got
    assert any('"GET /stuck/here HTTP/1.1" 500' in line for line in err.splitlines())


HELLO_ROUTES = """\
services:
- name: pong
  asgi: pong_app:app
  routes:
  - name: lua
    paths: [/lua]
    plugins:
    - name: hello-lua-style
  - name: python
    paths: [/python]
    plugins:
    - name: hello-python-style
  - name: declares
    paths: [/declares]
    plugins:
    - name: hello-declares-python
"""


def test_both_call_styles(tmp_path):
    """The same plugin written both ways: each works under its own style, the
    server's flag picks the style, and a module's own lua_style wins."""
    asgi_app(tmp_path)
    directory = setup(tmp_path, HELLO_ROUTES, "hello-lua-style", "hello-python-style", "hello-declares-python")
    answers = {}
    for style in ("lua", "python"):
        g = serve(tmp_path, directory, "--plugin-style", style)
        try:
            with https() as c:
                answers[style] = {path: c.get(g.url(f"/{path}"), headers={"Host": "example.test"})
                                  for path in ("lua", "python", "declares")}
        finally:
            assert g.stop() == 0
    for style, path in (("lua", "lua"), ("python", "python"), ("lua", "declares"), ("python", "declares")):
        r = answers[style][path]
        assert r.status_code == 200 and r.headers["x-hello"] == "hello to example.test", (style, path)
    # each plugin under the other style goes wrong the way it does under kong-pdk:
    # unpacking a plain value fails (a 500), and a tuple is used as the value
    assert answers["python"]["lua"].status_code == 500
    assert answers["lua"]["python"].headers["x-hello"] == "hello to ('example.test', None)"


def test_bad_plugin_flags_name_the_flag(tmp_path):
    import os
    import subprocess
    import sys

    from _serve_helpers import REPO

    for flags, message in ((["--plugin-style", "ruby"], "--plugin-style: expected 'lua' or 'python', got 'ruby'"),
                           (["--plugin-threads", "0"], "--plugin-threads: must be at least 1"),
                           (["--plugin-timeout", "0"], "--plugin-timeout: must be positive")):
        out = subprocess.run([sys.executable, "-m", "purekong.cli", "serve", "--listen", "127.0.0.1:0",
                              "--state-dir", str(tmp_path / "st"), *flags],
                             capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_the_log_phase_runs_after_the_response_went_out(tmp_path):
    """A log plugin that waits for the test: the client has its whole answer
    while the plugin is still waiting, and the log phase then sees the status."""
    asgi_app(tmp_path)
    gate, done = tmp_path / "gate", tmp_path / "done"
    directory = setup(tmp_path, f"""\
services:
- name: pong
  asgi: pong_app:app
  routes:
  - name: logged
    paths: [/logged]
    plugins:
    - name: log-waits
      config: {{gate: "{gate}", done: "{done}"}}
""", "log-waits")
    g = serve(tmp_path, directory, "--plugin-timeout", "30")
    try:
        with https() as c:
            r = c.get(g.url("/logged"))
            assert r.status_code == 200 and not done.exists()  # answered; the log phase still waits
            gate.write_text("go")
            for _ in range(3000):
                if done.exists() and done.read_text():
                    break
                threading.Event().wait(0.01)
    finally:
        assert g.stop() == 0
    assert done.read_text() == "200"
