"""Helpers shared by the benchmark scripts (not a benchmark itself).

Everything here is plain stdlib so that importing it never pulls tlslite,
purekong or a monkeypatch into a process that measures something else.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def child_env() -> dict:
    """Environment for benchmark subprocesses: the repo on sys.path, so they
    measure this checkout's purekong even when it is not installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    # tlslite-ng 0.8 imports asyncore; the DeprecationWarning is noise here.
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    return env


def run_json_worker(script: str, args: list[str], timeout: float) -> dict:
    """Run ``python3 benchmarks/<script> <args>`` in a fresh interpreter and
    return the JSON object it prints as its last stdout line.

    A fresh process per implementation means a monkeypatch (purekong's
    tlslite backend) cannot leak into the plain-tlslite or stdlib figures, and
    memory figures start from a clean heap. Errors come back as
    ``{"error": ...}`` instead of aborting the whole suite.
    """
    cmd = [sys.executable, os.path.join(HERE, script)] + args
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after %.0f s" % timeout}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": "exit %s: %s" % (proc.returncode, " | ".join(tail))}
    return json.loads(lines[-1])


def raise_nofile(wanted: int = 1 << 20) -> int:
    """Raise the soft RLIMIT_NOFILE as far as the hard limit allows; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (VmRSS from /proc), in bytes."""
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for %s" % pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time consumed so far by a process (from /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3), so utime/stime (14/15) are at 11/12
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_certificates(directory: str) -> None:
    """The same certificates bench_handshake uses (ECDSA P-256, RSA-2048)."""
    sys.path.insert(0, HERE)
    import bench_handshake

    bench_handshake.write_certificates(directory)


def machine_info() -> dict:
    """What the figures were measured on and with."""
    import importlib.metadata as metadata
    import ssl

    info = {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "platform": platform.platform(), "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)), "ssl_openssl": ssl.OPENSSL_VERSION}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        info["cpu"] = platform.processor() or "?"
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    # uvicorn and hypercorn are bench_asgi's peers; h11 and h2 are the HTTP
    # libraries both they and purekong run on.
    for dist in ("tlslite-ng", "cryptography", "ecdsa", "purekong", "matplotlib", "uvicorn", "hypercorn", "h11", "h2"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = None
    try:  # bench_asgi's client
        out = subprocess.run(["h2load", "--version"], capture_output=True, text=True, timeout=10).stdout.split()
        info["h2load"] = out[-1] if out else None
    except (OSError, subprocess.SubprocessError):
        info["h2load"] = None
    # purekong is usually run from the checkout, not installed: read the
    # version from the package and say which commit (and whether the engine
    # had uncommitted changes) was measured.
    sys.path.insert(0, REPO)
    try:
        import purekong

        info["purekong"] = info["purekong"] or getattr(purekong, "__version__", None)
    except ImportError:
        pass
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                            text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "purekong"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        info["purekong_uncommitted_changes"] = bool(dirty)
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        info["cryptography_openssl"] = backend.openssl_version_text()
    except Exception:  # noqa: BLE001 - informational only
        info["cryptography_openssl"] = None
    try:
        from tlslite.utils import cryptomath

        info["tlslite_gmpy2"] = cryptomath.GMPY2_LOADED
        info["tlslite_m2crypto"] = cryptomath.m2cryptoLoaded
    except Exception:  # noqa: BLE001
        pass
    return info


# ---------------------------------------------------------------------------
# Servers for the loopback benchmarks
# ---------------------------------------------------------------------------

SERVERS = ("purekong", "stdlib")


def start_server(kind: str, certs: str, flags: list[str], cert: str = "p256", timeout: float = 30.0):
    """Start ``purekong tls-server`` or the stdlib reference server on
    127.0.0.1, a free port; return ``(Popen, port)``.

    The child's soft RLIMIT_NOFILE is raised before exec (limits survive
    exec), since purekong tls-server does not raise it itself. Its
    per-connection log lines (stderr) go to /dev/null, for both servers.
    """
    if kind == "purekong":
        cmd = [sys.executable, "-m", "purekong.cli", "tls-server"]
    else:
        cmd = [sys.executable, os.path.join(HERE, "stdlib_tls_server.py")]
    cmd += ["--host", "127.0.0.1", "--port", "0", "--cert", os.path.join(certs, cert + ".crt"),
            "--key", os.path.join(certs, cert + ".key")] + flags
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env(),
                            preexec_fn=raise_nofile)
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("listening on "):
        stop_server(proc)
        raise RuntimeError("%s server did not start: %r" % (kind, line))
    return proc, int(line.rsplit(":", 1)[1])


def stop_server(proc) -> None:
    """SIGTERM (both servers exit cleanly on it), then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


def run_loadgen(script: str, args: list[str], server_pid: int, seconds: float) -> dict:
    """Run ``script --loadgen ARGS`` as the client process and measure the server.

    The load generator prints "ready" once connected-up, then one JSON line
    with its results; the server's CPU time over that span is added as
    ``server_cpu``. Returns ``{"error": ...}`` when the client fails.
    """
    cmd = [sys.executable, os.path.abspath(script), "--loadgen", *args]
    client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        first = client.stdout.readline()
        cpu0 = cpu_seconds(server_pid)
        out, err = client.communicate(timeout=seconds + 60)
        cpu1 = cpu_seconds(server_pid)
    except subprocess.TimeoutExpired:
        client.kill()
        client.communicate()
        return {"error": "load generator timed out"}
    if first.strip() != "ready" or client.returncode != 0:
        return {"error": "load generator failed: %s" % (err.strip().splitlines()[-1:] or first)}
    result = json.loads(out.strip().splitlines()[-1])
    result["server_cpu"] = cpu1 - cpu0
    return result
