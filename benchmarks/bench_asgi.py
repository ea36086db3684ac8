#!/usr/bin/env python3
"""``purekong serve`` against uvicorn (and hypercorn for HTTP/2) on the same ASGI apps, TLS 1.3.

    python3 benchmarks/bench_asgi.py [--quick] [--groups h1,defaults,plugins,h2] [--json FILE]

Needs ``h2load`` (Debian's ``nghttp2-client``) and, for the peers, uvicorn
and hypercorn (``pip install '.[bench]'``); a missing peer leaves purekong's
figure alone in its rows, a missing h2load skips everything, with a message.
Every server runs one process on 127.0.0.1 with the same ECDSA P-256
certificate (``_common.write_certificates``, the one ``run.py`` uses
everywhere); ``h2load`` is the client, 16 clients, SNI ``localhost``.

Apps (``benchmarks/asgi_apps.py``): ``hello`` answers a small JSON document;
``upload`` reads a 64 KiB request body and streams a 1 MiB response in 16
chunks. purekong routes ``/`` and ``/upload`` to them (``asgi:`` services);
uvicorn and hypercorn run one process per app.

Groups of rows, each with requests per second of wall time and per second
of the server's CPU (the server process and its children, from /proc):

* ``h1``: hello and upload, ``h2load --h1``, keep-alive (every client on one
  connection) and a new connection per request (``Connection: close``, a
  full TLS handshake each), against uvicorn ``--http h11 --loop asyncio``;
  neither server writes an access line (``QUIET``);
* ``defaults``: the two hello rows with each server's default logging (one
  access line per request, into a file), since the two defaults differ in cost;
* ``plugins``: purekong alone with one Kong Python plugin, and with it
  ``tls-metadata-headers``, on the route (no peer: what plugins cost);
* ``h2``: hello over ALPN h2, ``h2load -m 10``, against hypercorn.

The servers of a group are started together (an idle server costs nothing)
and measured in turns, run by run, alternating which goes first, so that a
change in the machine's load hits both sides alike. Each figure is the median
of the runs (3 with ``--quick``, else 5); h2load's failed requests are
counted and only succeeded ones count towards the rates. ``busy`` is the
server's CPU over the wall time of its runs (1.0 = one core): well below 1,
the server waited (for the client, or for a core on a loaded machine), and
its wall figure says more about the machine than about the server.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import child_env, machine_info, raise_nofile, stop_server, write_certificates  # noqa: E402

CLIENTS = 16
GROUPS = ("h1", "defaults", "plugins", "h2")
KEEP_ALIVE_VS_UVICORN = 1.0  # the targets
NEW_CONNECTION_VS_UVICORN = 0.8

# The per-request logging of each server, by setting. "quiet": no access line
# is written. purekong has no switch that skips its access record: its line is
# logged at info, so --log-level warning silences it (the record is still
# built). uvicorn's --log-level warning alone leaves its access logger on but
# filtered; --no-access-log removes it (measured the same within noise).
# hypercorn writes no access line unless --access-logfile is given.
QUIET = {"purekong": ["--log-level", "warning"], "uvicorn": ["--log-level", "warning", "--no-access-log"],
         "hypercorn": ["--log-level", "warning"]}
DEFAULTS: dict[str, list[str]] = {"purekong": [], "uvicorn": [], "hypercorn": []}
LOGGING = {"quiet": QUIET, "defaults": DEFAULTS}

PLUGIN = '''\
import kong_pdk.pdk.kong as kong

Schema = ({"header": {"type": "string", "default": "X-Bench"}},)
version = "1.0"
priority = 10


class Plugin:
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        kong.service.request.set_header(self.config["header"], "1")
'''

CONFIGS = {  # purekong config file -> the plugins on every route
    "kong.yml": "",
    "kong-python-plugin.yml": "    plugins:\n    - name: bench-header\n",
    "kong-plugins.yml": ("    plugins:\n    - name: bench-header\n    - name: tls-metadata-headers\n"
                         "      config: {inject_client_cert_details: true}\n"),
}


@dataclass(frozen=True)
class Server:
    kind: str  # purekong | uvicorn | hypercorn
    app: str = "hello"  # the peers serve one app per process; purekong routes both
    config: str = "kong.yml"
    logging: str = "quiet"

    @property
    def name(self) -> str:
        if self.kind == "purekong":
            return f"purekong {self.config} {self.logging}"
        return f"{self.kind} {self.app} {self.logging}"


@dataclass(frozen=True)
class Load:
    app: str
    close: bool  # Connection: close, a new TLS connection per request
    requests: int  # per run, at scale 1
    streams: int | None = None  # HTTP/2 with -m streams, else --h1

    @property
    def path(self) -> str:
        return "/upload" if self.app == "upload" else "/"


@dataclass(frozen=True)
class Row:
    group: str
    label: str
    load: Load
    purekong: Server
    peer: Server | None = None
    target: float | None = None  # vs the peer, wall and per CPU


def rows() -> list[Row]:
    # At scale 1 (--quick) a run is at least ~0.2 s of server CPU (/proc counts 10 ms ticks)
    hello_ka, hello_new = Load("hello", False, 1500), Load("hello", True, 200)
    upload_ka, upload_new = Load("upload", False, 80), Load("upload", True, 50)
    out = []
    for label, load, target in (("hello, keep-alive", hello_ka, KEEP_ALIVE_VS_UVICORN),
                                ("hello, new connection", hello_new, NEW_CONNECTION_VS_UVICORN),
                                ("upload 64 KiB + stream 1 MiB, keep-alive", upload_ka, KEEP_ALIVE_VS_UVICORN),
                                ("upload 64 KiB + stream 1 MiB, new connection", upload_new,
                                 NEW_CONNECTION_VS_UVICORN)):
        out.append(Row("h1", label, load, Server("purekong"), Server("uvicorn", load.app), target))
    for label, load in (("hello, keep-alive, defaults", hello_ka), ("hello, new connection, defaults", hello_new)):
        out.append(Row("defaults", label, load, Server("purekong", logging="defaults"),
                       Server("uvicorn", load.app, logging="defaults")))
    out += [Row("plugins", "hello, keep-alive, one Python plugin", hello_ka,
                Server("purekong", config="kong-python-plugin.yml")),
            Row("plugins", "hello, keep-alive, Python plugin + tls-metadata-headers", hello_ka,
                Server("purekong", config="kong-plugins.yml")),
            Row("plugins", "hello, new connection, Python plugin + tls-metadata-headers", hello_new,
                Server("purekong", config="kong-plugins.yml")),
            Row("h2", "hello, HTTP/2 (-m 10)", Load("hello", False, 1500, streams=10), Server("purekong"),
                Server("hypercorn"))]
    return out


def write_fixtures(directory: str, certs: str | None = None) -> None:
    """Certificates (``certs``'s, or new ones), the apps, the plugin, the three purekong configs."""
    if certs is None:
        certs = os.path.join(directory, "certs")
        os.makedirs(certs)
        write_certificates(certs)
    shutil.copy(os.path.join(certs, "p256.crt"), os.path.join(directory, "cert.pem"))  # leaf + CA
    shutil.copy(os.path.join(certs, "p256.key"), os.path.join(directory, "key.pem"))
    with open(os.path.join(directory, "cert.pem")) as f:
        cert_pem = f.read()
    with open(os.path.join(directory, "key.pem")) as f:
        key_pem = f.read()
    shutil.copy(os.path.join(HERE, "asgi_apps.py"), directory)
    os.makedirs(os.path.join(directory, "plugins"), exist_ok=True)
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    with open(os.path.join(directory, "plugins", "bench-header.py"), "w") as f:
        f.write(PLUGIN)
    with open(os.path.join(directory, "body.bin"), "wb") as body:
        body.write(os.urandom(64 * 1024))

    def indent(text: str) -> str:
        return "".join("    " + line + "\n" for line in text.splitlines())

    for config_name, route_plugins in CONFIGS.items():
        services = []
        for app, path in (("hello", "/"), ("upload", "/upload")):
            services.append(f"- name: {app}\n  asgi: asgi_apps:{app}\n  routes:\n  - name: {app}\n"
                            f"    paths: [{path}]\n{route_plugins}")
        yml = ('_format_version: "3.0"\nservices:\n' + "".join(services)
               + "certificates:\n- cert: |\n" + indent(cert_pem) + "  key: |\n" + indent(key_pem)
               + "  snis:\n  - name: localhost\n")
        with open(os.path.join(directory, config_name), "w") as f:
            f.write(yml)


def missing(kind: str) -> str | None:
    """Why ``kind`` cannot run here, or None."""
    if kind == "h2load":
        return None if shutil.which("h2load") else "h2load not found (apt-get install nghttp2-client)"
    if kind != "purekong" and importlib.util.find_spec(kind) is None:
        return f"{kind} not installed (pip install '.[bench]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start listening")


def command(server: Server, directory: str, port: int) -> list[str]:
    if server.kind == "hypercorn":
        cmd = [sys.executable, "-m", "hypercorn", f"asgi_apps:{server.app}", "--bind", f"127.0.0.1:{port}",
               "--certfile", "cert.pem", "--keyfile", "key.pem"]
    elif server.kind == "uvicorn":
        # --loop asyncio: the same event loop as purekong, even where uvloop is installed
        cmd = [sys.executable, "-m", "uvicorn", f"asgi_apps:{server.app}", "--http", "h11", "--loop", "asyncio",
               "--host", "127.0.0.1", "--port", str(port), "--ssl-certfile", "cert.pem", "--ssl-keyfile", "key.pem"]
    else:
        cmd = [sys.executable, "-m", "purekong.cli", "serve", "-c", server.config, "--listen",
               f"127.0.0.1:{port} ssl", "--state-dir", os.path.join(directory, "state"),
               "--plugins-dir", "plugins", "--max-body-size", str(1 << 20)]
    return cmd + LOGGING[server.logging][server.kind]


class Running:
    """One server process; its stdout and stderr go to a file in ``logs/``."""

    def __init__(self, server: Server, directory: str) -> None:
        self.port = free_port()
        self.command = command(server, directory, self.port)
        self.log_path = os.path.join(directory, "logs", server.name.replace(" ", "_") + ".log")
        env = child_env()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [directory, env.get("PYTHONPATH")]))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command, cwd=directory, env=env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, preexec_fn=raise_nofile)
        try:
            wait_listening(self.port, self.proc)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> int:
        """Stop the server; return how many lines it logged."""
        stop_server(self.proc)
        with open(self.log_path, "rb") as f:
            return sum(1 for _ in f)


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (utime + stime, reaped children too)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))  # ppid, u+s+cu+cs
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _) in stats.items():
            if ppid == parent and child not in family:
                family.add(child)
                frontier.append(child)
    return sum(stats[p][1] for p in family if p in stats) / ticks


def h2load(port: int, load: Load, requests: int, directory: str) -> dict:
    """One h2load run: HTTP/1.1 (``--h1``), or HTTP/2 with ``load.streams`` streams per connection."""
    cmd = ["h2load", "-c", str(CLIENTS), "-n", str(requests), "-t", "1"]
    cmd += ["-m", str(load.streams)] if load.streams else ["--h1"]
    if load.close:
        cmd += ["-H", "Connection: close"]
    if load.app == "upload":
        cmd += ["-d", os.path.join(directory, "body.bin")]
    cmd.append(f"https://localhost:{port}{load.path}")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    except subprocess.TimeoutExpired:
        return {"error": "h2load timed out after 300 s"}
    finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if not finished or not counts:
        return {"error": "h2load: " + " | ".join(out.strip().splitlines()[-3:])}
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    succeeded = int(counts.group(2))
    return {"seconds": seconds, "succeeded": succeeded, "failed": int(counts.group(3)) + int(counts.group(4)),
            "rps": succeeded / seconds if seconds else float("nan")}


def one_run(running: Running, load: Load, requests: int, directory: str) -> dict:
    cpu0 = tree_cpu(running.proc.pid)
    result = h2load(running.port, load, requests, directory)
    cpu = tree_cpu(running.proc.pid) - cpu0
    if "error" not in result:
        result["server_cpu"] = cpu
        result["per_cpu_second"] = result["succeeded"] / cpu if cpu else float("nan")
        result["busy"] = cpu / result["seconds"] if result["seconds"] else float("nan")  # share of one core
    return result


def summary(runs: list[dict]) -> dict:
    good = [r for r in runs if "error" not in r]
    if not good:
        return {"error": runs[0]["error"] if runs else "not measured", "runs": runs}
    return {"rps": statistics.median(r["rps"] for r in good),
            "per_cpu_second": statistics.median(r["per_cpu_second"] for r in good),
            "busy": statistics.median(r["busy"] for r in good), "failed": sum(r["failed"] for r in good),
            "runs": runs}


def run_group(group: list[Row], directory: str, runs: int, scale: int, log=print) -> tuple[list[dict], dict]:
    """Measure one group's rows: servers started together, measured in turns."""
    servers = {s.name: s for row in group for s in (row.purekong, row.peer) if s is not None}
    skipped = {name: missing(s.kind) for name, s in servers.items()}
    running: dict[str, Running] = {}
    errors: dict[str, str] = {}
    for name in servers:
        if skipped[name] is None:
            try:
                running[name] = Running(servers[name], directory)
            except RuntimeError as exc:
                errors[name] = f"{name}: {exc}"
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for row in group:
            requests = row.load.requests * scale
            sides = [s.name for s in (row.purekong, row.peer) if s is not None and s.name in running]
            for name in sides:  # warm-up
                h2load(running[name].port, row.load, max(CLIENTS * 4, requests // 10), directory)
            for i in range(runs):
                for name in sides if i % 2 == 0 else sides[::-1]:
                    results.setdefault((row.label, name), []).append(one_run(running[name], row.load, requests,
                                                                             directory))
    finally:
        lines = {name: r.stop() for name, r in running.items()}
    out = []
    for row in group:
        entry: dict = {"group": row.group, "row": row.label, "target": row.target, "app": row.load.app,
                       "new_connection": row.load.close, "streams": row.load.streams,
                       "requests_per_run": row.load.requests * scale, "runs": runs}
        for side, server in (("purekong", row.purekong), ("peer", row.peer)):
            if server is None:
                continue
            if side == "peer":
                entry["peer_kind"] = server.kind
            name = server.name
            if skipped[name] or name in errors:
                entry[side] = {"error": skipped[name] or errors[name], "skipped": bool(skipped[name])}
            else:
                entry[side] = summary(results.get((row.label, name), []))
        out.append(entry)
        log(format_row(entry))
    info = {name: {"command": running[name].command if name in running else None,
                   "log_lines": lines.get(name), "skipped": skipped[name], "error": errors.get(name)}
            for name in servers}
    return out, info


def collect(quick: bool = False, certs: str | None = None, groups=GROUPS, log=print) -> dict:
    """Every row of the chosen groups; ``{"skipped": why}`` alone when h2load is missing."""
    why = missing("h2load")
    if why:
        return {"skipped": why, "rows": []}
    runs, scale = (3, 1) if quick else (5, 3)
    data: dict = {"clients": CLIENTS, "runs": runs, "rows": [], "servers": {}}
    log(HEADER)
    with tempfile.TemporaryDirectory() as directory:
        write_fixtures(directory, certs)
        for group in groups:
            group_rows, servers = run_group([r for r in rows() if r.group == group], directory, runs, scale, log)
            data["rows"] += group_rows
            data["servers"].update(servers)
    return data


HEADER = (f"{'row':62} {'purekong':>9} {'peer':>9} {'ratio':>6}   {'pk/CPU s':>9} {'peer/CPU s':>10} {'ratio':>6}"
          "  peer")


def format_row(entry: dict) -> str:
    pk, peer = entry.get("purekong", {}), entry.get("peer") or {}
    if "error" in pk:
        return f"{entry['row']:62} purekong: {pk['error']}"
    peer_ok = bool(peer) and "error" not in peer
    failed = pk["failed"] + (peer["failed"] if peer_ok else 0)
    return (f"{entry['row']:62} {pk['rps']:9.0f} "
            + (f"{peer['rps']:9.0f} {pk['rps'] / peer['rps']:5.2f}x" if peer_ok else f"{'-':>9} {'-':>6}")
            + f"   {pk['per_cpu_second']:9.0f} "
            + (f"{peer['per_cpu_second']:10.0f} {pk['per_cpu_second'] / peer['per_cpu_second']:5.2f}x"
               if peer_ok else f"{'-':>10} {'-':>6}")
            + f"  {entry.get('peer_kind', '')}"
            + (f" ({peer['error']})" if peer and not peer_ok else "")
            + (f"  [{failed} failed]" if failed else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and requests")
    parser.add_argument("--groups", default=",".join(GROUPS), help="comma-separated: " + ", ".join(GROUPS))
    parser.add_argument("--json", metavar="FILE", help="write the results here")
    args = parser.parse_args()
    groups = [g for g in args.groups.split(",") if g]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error("--groups: unknown group(s): " + ", ".join(sorted(unknown)))
    data = collect(args.quick, groups=groups)
    if data.get("skipped"):
        print("skipped: " + data["skipped"], file=sys.stderr)
        return 2
    data["machine"] = machine_info()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
