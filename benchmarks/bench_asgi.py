#!/usr/bin/env python3
"""``purekong serve`` against uvicorn on the same ASGI apps, same certificate, TLS 1.3.

    python3 benchmarks/bench_asgi.py [--quick] [--json FILE]

Needs ``h2load`` (Debian's ``nghttp2-client``) and uvicorn (``pip install
'.[bench]'``). Both servers run one process on 127.0.0.1 with the same ECDSA
P-256 certificate; ``h2load`` is the client, with SNI ``localhost``.

Apps (``benchmarks/asgi_apps.py``): ``hello`` answers a small JSON document;
``upload`` reads a 64 KiB request body and streams a 1 MiB response in 16
chunks.

Rows, each with requests per second of wall time and per second of the
server's CPU (the server process and its children, from /proc):

* ``keep-alive``: ``h2load --h1 -c 16``, every client on one connection;
* ``new connection``: the same with ``Connection: close``, so every request
  pays a full TLS handshake;
* for purekong, the same two rows with one Kong Python plugin and
  ``tls-metadata-headers`` on the route (reported, no peer: what plugins cost);
* ``HTTP/2``: ``h2load`` over ALPN h2, ``-m 10`` streams per connection,
  against hypercorn (uvicorn has no HTTP/2).

Each figure is the median of three runs; every run's failed-request count is
kept, and a row with failures says so.
"""

from __future__ import annotations

import argparse
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import child_env, machine_info, raise_nofile, stop_server  # noqa: E402

CLIENTS = 16

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


def write_fixtures(directory: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    with open(os.path.join(directory, "cert.pem"), "w") as f:
        f.write(cert_pem)
    with open(os.path.join(directory, "key.pem"), "w") as f:
        f.write(key_pem)
    shutil.copy(os.path.join(HERE, "asgi_apps.py"), directory)
    os.makedirs(os.path.join(directory, "plugins"), exist_ok=True)
    with open(os.path.join(directory, "plugins", "bench-header.py"), "w") as f:
        f.write(PLUGIN)

    def indent(text: str) -> str:
        return "".join("    " + line + "\n" for line in text.splitlines())

    variants = {  # config file -> the plugins on every route
        "kong.yml": "",
        "kong-python-plugin.yml": "    plugins:\n    - name: bench-header\n",
        "kong-plugins.yml": ("    plugins:\n    - name: bench-header\n    - name: tls-metadata-headers\n"
                             "      config: {inject_client_cert_details: true}\n"),
    }
    for config_name, route_plugins in variants.items():
        services = []
        for app, path in (("hello", "/"), ("upload", "/upload")):
            services.append(f"- name: {app}\n  asgi: asgi_apps:{app}\n  routes:\n  - name: {app}\n"
                            f"    paths: [{path}]\n{route_plugins}")
        yml = ('_format_version: "3.0"\nservices:\n' + "".join(services)
               + "certificates:\n- cert: |\n" + indent(cert_pem) + "  key: |\n" + indent(key_pem)
               + "  snis:\n  - name: localhost\n")
        with open(os.path.join(directory, config_name), "w") as f:
            f.write(yml)


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


def start(kind: str, directory: str, app: str, plugins: str = "kong.yml") -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [directory, env.get("PYTHONPATH")]))
    if kind == "hypercorn":
        cmd = [sys.executable, "-m", "hypercorn", f"asgi_apps:{app}", "--bind", f"127.0.0.1:{port}",
               "--certfile", "cert.pem", "--keyfile", "key.pem", "--log-level", "warning"]
    elif kind == "uvicorn":
        cmd = [sys.executable, "-m", "uvicorn", f"asgi_apps:{app}", "--http", "h11", "--host", "127.0.0.1",
               "--port", str(port), "--ssl-certfile", "cert.pem", "--ssl-keyfile", "key.pem",
               "--log-level", "warning", "--no-access-log"]
    else:
        cmd = [sys.executable, "-m", "purekong.cli", "serve", "-c", plugins, "--listen", f"127.0.0.1:{port} ssl",
               "--state-dir", os.path.join(directory, "state"), "--log-level", "warning",
               "--plugins-dir", "plugins", "--max-body-size", str(1 << 20)]
    proc = subprocess.Popen(cmd, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=raise_nofile)
    wait_listening(port, proc)
    return proc, port


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


def h2load(port: int, path: str, requests: int, *, close: bool, body_file: str | None, streams: int | None = None) -> dict:
    """HTTP/1.1 (``--h1``), or HTTP/2 with ``streams`` concurrent streams per connection."""
    cmd = ["h2load", "-c", str(CLIENTS), "-n", str(requests), "-t", "1"]
    cmd += ["-m", str(streams)] if streams else ["--h1"]
    if close:
        cmd += ["-H", "Connection: close"]
    if body_file:
        cmd += ["-d", body_file]
    cmd.append(f"https://localhost:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if not finished or not counts:
        return {"error": out[-400:]}
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    return {"seconds": seconds, "rps": float(finished.group(3)), "succeeded": int(counts.group(2)),
            "failed": int(counts.group(3)) + int(counts.group(4))}


def measure(kind: str, directory: str, app: str, *, close: bool, requests: int, plugins: str = "kong.yml",
            streams: int | None = None) -> dict:
    path = "/upload" if app == "upload" else "/"
    body_file = os.path.join(directory, "body.bin") if app == "upload" else None
    if body_file and not os.path.exists(body_file):
        with open(body_file, "wb") as f:
            f.write(os.urandom(64 * 1024))
    proc, port = start(kind, directory, app, plugins)
    try:
        h2load(port, path, max(CLIENTS * 4, requests // 10), close=close, body_file=body_file, streams=streams)  # warm-up
        runs = []
        for _ in range(3):
            cpu0 = tree_cpu(proc.pid)
            result = h2load(port, path, requests, close=close, body_file=body_file, streams=streams)
            cpu = tree_cpu(proc.pid) - cpu0
            if "error" in result:
                return result
            result["server_cpu"] = cpu
            result["per_cpu_second"] = result["succeeded"] / cpu if cpu else float("nan")
            runs.append(result)
    finally:
        stop_server(proc)
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "per_cpu_second": statistics.median(r["per_cpu_second"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
        "runs": runs,
    }


def compared(row: str, pk: dict, peer_name: str, peer: dict) -> dict:
    """Print one row (purekong, the peer, the ratios) and return its JSON entry."""
    entry = {"row": row, "purekong": pk, peer_name: peer}
    if "error" in pk or "error" in peer:
        print(f"{row:44} error: {pk.get('error') or peer.get('error')}")
        return entry
    entry["ratio"] = pk["rps"] / peer["rps"]
    entry["ratio_per_cpu"] = pk["per_cpu_second"] / peer["per_cpu_second"]
    failed = f"  ({pk['failed']} / {peer['failed']} failed)" if pk["failed"] or peer["failed"] else ""
    print(f"{row:44} {pk['rps']:10.0f} {peer['rps']:10.0f} {entry['ratio']:5.2f}x   "
          f"{pk['per_cpu_second']:9.0f} {entry['ratio_per_cpu']:5.2f}x{failed}")
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per run")
    parser.add_argument("--json", metavar="FILE", help="write the results here")
    args = parser.parse_args()
    if not shutil.which("h2load"):
        print("h2load not found: apt-get install nghttp2-client", file=sys.stderr)
        return 2
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        print("uvicorn not installed: pip install '.[bench]'", file=sys.stderr)
        return 2
    scale = 1 if args.quick else 4
    cases = [  # (row, app, close, requests per run)
        ("hello, keep-alive", "hello", False, 2000 * scale),
        ("hello, new connection", "hello", True, 200 * scale),
        ("upload 64 KiB + stream 1 MiB, keep-alive", "upload", False, 50 * scale),
    ]
    results = {"machine": machine_info(), "rows": []}
    with tempfile.TemporaryDirectory() as directory:
        write_fixtures(directory)
        print(f"{'row':44} {'purekong':>10} {'uvicorn':>10} {'ratio':>6}   {'per CPU s':>9} {'ratio':>6}")
        for row, app, close, requests in cases:
            pk = measure("purekong", directory, app, close=close, requests=requests)
            uv = measure("uvicorn", directory, app, close=close, requests=requests)
            results["rows"].append(compared(row, pk, "uvicorn", uv))
        for (row, app, close, requests), (config_name, what) in [
            (cases[0], ("kong-python-plugin.yml", "one Python plugin (the thread hand-off)")),
            (cases[0], ("kong-plugins.yml", "Python plugin + tls-metadata-headers")),
            (cases[1], ("kong-plugins.yml", "Python plugin + tls-metadata-headers")),
        ]:
            pk = measure("purekong", directory, app, close=close, requests=requests, plugins=config_name)
            label = f"{row}, {what}"
            if "error" in pk:
                print(f"{label:44} error: {pk['error']}")
            else:
                print(f"{label:44} {pk['rps']:10.0f} {'':>10} {'':>6}   {pk['per_cpu_second']:9.0f}")
            results["rows"].append({"row": label, "purekong": pk})
        try:
            import hypercorn  # noqa: F401
        except ImportError:
            print("HTTP/2 row skipped: hypercorn not installed (pip install '.[bench]')")
        else:
            row = "hello, HTTP/2 (-m 10), vs hypercorn"
            pk = measure("purekong", directory, "hello", close=False, requests=2000 * scale, streams=10)
            hc = measure("hypercorn", directory, "hello", close=False, requests=2000 * scale, streams=10)
            results["rows"].append(compared(row, pk, "hypercorn", hc))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
