#!/usr/bin/env python3
"""purekong's performance suite: every figure of the performance issue, one command.

    python3 benchmarks/run.py            # full: about 10 minutes on 2 cores
    python3 benchmarks/run.py --quick    # smaller samples: about 3 minutes

Runs, one after another (never two measurements at once):

1. ``handshake`` - server CPU per full handshake, in memory (bench_handshake.py);
2. ``bulk``      - application data MB/s, seal + open, 16 KiB records (bench_bulk.py);
3. ``memory``    - bytes per idle established server connection (bench_memory.py),
                   and one ``purekong tls-server`` holding 10,000 idle TLS
                   connections (bench_idle.py);
4. ``tcp``       - loopback TCP: new handshakes/s and echo MB/s, purekong
                   tls-server vs a stdlib-ssl asyncio server (bench_tcp.py);
5. ``serve``     - loopback HTTPS requests/s, ``purekong serve`` vs a
                   stdlib-ssl asyncio HTTPS server (bench_serve.py; no target);
6. ``asgi``      - ``purekong serve`` vs uvicorn ``--http h11`` on the same ASGI
                   apps, h2load as the client, keep-alive and a new connection
                   per request; the plugin rows; HTTP/2 vs hypercorn
                   (bench_asgi.py; skipped with a note without h2load, a
                   missing uvicorn or hypercorn leaves purekong alone in its rows).

Prints one table (purekong, stdlib ssl, plain tlslite-ng, the ratios, the
targets and whether each is met), then the asgi rows' table (purekong, its
peer, the ratios per wall second and per server CPU second), and writes
``docs/bench/results.json``, ``docs/bench/results.md`` (the tables) and, with
matplotlib (``pip install -e '.[bench]'``), ``docs/bench/results.png``.
Every implementation is measured in its own subprocess. See
benchmarks/README.md for what each figure means and how it is measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _common  # noqa: E402
import bench_asgi  # noqa: E402
import bench_bulk  # noqa: E402
import bench_handshake  # noqa: E402
import bench_idle  # noqa: E402
import bench_memory  # noqa: E402
import bench_serve  # noqa: E402
import bench_tcp  # noqa: E402

SECTIONS = ("handshake", "bulk", "memory", "tcp", "serve", "asgi")
IMPLS = ("purekong", "stdlib", "plain")
IMPL_LABELS = {"purekong": "purekong", "stdlib": "stdlib ssl", "plain": "plain tlslite"}

# The targets.
HANDSHAKE_VS_STDLIB = 0.5
HANDSHAKE_VS_PLAIN = 20.0
BULK_VS_STDLIB = 0.8
IDLE_BYTES = 16 * 1024
IDLE_CONNECTIONS = 10_000
TCP_VS_STDLIB = 0.5
ASGI_KEEP_ALIVE_VS_UVICORN = bench_asgi.KEEP_ALIVE_VS_UVICORN
ASGI_NEW_CONNECTION_VS_UVICORN = bench_asgi.NEW_CONNECTION_VS_UVICORN


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a and b else None


def check(label, value, op, target):
    """One target: ``value op target``; met is None when value is missing."""
    met = None if value is None else (value >= target if op == ">=" else value <= target)
    return {"label": label, "value": value, "op": op, "target": target, "met": met}


def row(section, case, unit, values, checks=(), note=None, fmt="%.0f"):
    values = {k: values.get(k) for k in IMPLS}
    return {"section": section, "case": case, "unit": unit, "values": values,
            "vs_stdlib": ratio(values["purekong"], values["stdlib"]),
            "vs_plain": ratio(values["purekong"], values["plain"]),
            "checks": list(checks), "note": note, "fmt": fmt}


# ---------------------------------------------------------------------------
# Sections: run the benchmark, turn its raw data into rows
# ---------------------------------------------------------------------------

def section_handshake(certs, quick):
    # ~0.5 ms each: 200 make a run of about 0.1 s, long enough to be steady
    runs, handshakes = (3, 40) if quick else (5, 200)
    raw = bench_handshake.collect(certs, ["plain", "stdlib", "engine"], handshakes, runs)
    column = {"purekong": "engine", "stdlib": "stdlib", "plain": "plain"}
    rows = []
    for version, kind in bench_handshake.CASES:
        case = "%s %s" % (version, kind)
        values = {}
        for impl, col in column.items():
            entry = raw.get(col, {}).get("results", {}).get(case, {})
            values[impl] = median(entry["rates"]) if "rates" in entry else None
        r = row("handshake", case + " x25519", "handshakes/s (server CPU)", values)
        r["checks"] = [check("vs stdlib", r["vs_stdlib"], ">=", HANDSHAKE_VS_STDLIB),
                       check("vs plain", r["vs_plain"], ">=", HANDSHAKE_VS_PLAIN)]
        rows.append(r)
    return raw, rows


def section_bulk(certs, quick):
    raw = bench_bulk.collect(certs, quick)
    column = {"purekong": "engine", "stdlib": "stdlib", "plain": "plain"}
    rows = []
    for version, cipher in bench_bulk.CASES:
        case = bench_bulk.case_name(version, cipher)
        values = {}
        for impl, col in column.items():
            entry = raw.get(col, {}).get("results", {}).get(case, {})
            values[impl] = median(entry["rates"]) if "rates" in entry else None
        note = None
        if version == "TLS1.3":
            note = ("stdlib: OpenSSL's default TLS 1.3 suite (the ssl module cannot choose TLS 1.3 suites)"
                    if cipher == "AES_256_GCM" else "stdlib cannot select this TLS 1.3 suite")
        r = row("bulk", case.replace("_", "-").replace("TLS1", "TLS1"), "MB/s seal+open", values, note=note,
                fmt="%.1f")
        if r["vs_stdlib"] is not None:
            r["checks"] = [check("vs stdlib", r["vs_stdlib"], ">=", BULK_VS_STDLIB)]
        rows.append(r)
    return raw, rows


def section_memory(certs, quick):
    column = {"purekong": "engine", "stdlib": "stdlib", "plain": "plain"}
    per_conn = bench_memory.collect(certs, quick)
    idle = bench_idle.collect(certs, quick)
    rows = []
    for mode, label in (("tracemalloc", "tracemalloc"), ("rss", "RSS")):
        for tickets in ("tickets off", "tickets on"):
            values = {impl: median(per_conn.get(col, {}).get(tickets, {}).get(mode, []))
                      for impl, col in column.items()}
            note = None
            if mode == "tracemalloc":
                note = "stdlib: tracemalloc cannot see OpenSSL's C allocations (lower bound)"
            r = row("memory", "idle conn, %s, %s" % (label, tickets), "bytes/conn", values, note=note)
            r["vs_stdlib"] = r["vs_plain"] = None  # a ratio of bytes says little here
            if mode == "tracemalloc":
                r["checks"] = [check("purekong", values["purekong"], "<=", IDLE_BYTES)]
            rows.append(r)
    total = next((v.get("target_connections") for v in idle.values()), IDLE_CONNECTIONS)
    alive = {k: (v.get("alive") if v.get("ok") is not None else None) for k, v in idle.items()}
    r = row("memory", "tls-server --echo: idle conns held", "connections", alive,
            note="stdlib: benchmarks/stdlib_tls_server.py (asyncio + ssl)")
    r["vs_stdlib"] = r["vs_plain"] = None
    ok = idle.get("purekong", {}).get("ok")
    r["checks"] = [check("all alive+echo", (1.0 if ok else 0.0) if ok is not None else None, ">=", 1.0)]
    if total != IDLE_CONNECTIONS:
        r["checks"][0]["label"] += " (%d, not %d)" % (total, IDLE_CONNECTIONS)
    rows.append(r)
    rss = {k: v.get("rss_per_connection") for k, v in idle.items()}
    r = row("memory", "tls-server --echo: RSS per idle conn", "bytes/conn", rss)
    r["vs_stdlib"] = ratio(rss.get("purekong"), rss.get("stdlib"))
    r["vs_plain"] = None
    rows.append(r)
    total_rss = {k: (v.get("server_rss") / 1e6 if v.get("server_rss") else None) for k, v in idle.items()}
    r = row("memory", "tls-server --echo: server RSS, %d conns" % total, "MB", total_rss, fmt="%.1f")
    r["vs_stdlib"] = r["vs_plain"] = None
    rows.append(r)
    return {"per_connection": per_conn, "idle_server": idle}, rows


def section_tcp(certs, quick):
    raw = bench_tcp.collect(certs, quick)
    rows = []
    hs = {k: raw.get(k, {}).get("handshakes", {}).get("per_second") for k in ("purekong", "stdlib")}
    r = row("tcp", "new handshakes/s (32 concurrent)", "conn/s wall", hs, note="TLS 1.3, ECDSA P-256, tickets off")
    r["checks"] = [check("vs stdlib", r["vs_stdlib"], ">=", TCP_VS_STDLIB)]
    rows.append(r)
    # The same work per second of the *server's* CPU: on 2 cores the client
    # can be the bottleneck for the faster server, which flatters the wall
    # ratio; this one does not depend on the client. Same target, shown too.
    cpu_note = "per second of server CPU (utime+stime): independent of the client's speed"
    cpu = {k: raw.get(k, {}).get("handshakes", {}).get("per_server_cpu_second") for k in ("purekong", "stdlib")}
    r = row("tcp", "handshakes per server CPU second", "conn/server-CPU-s", cpu, note=cpu_note)
    r["checks"] = [check("vs stdlib", r["vs_stdlib"], ">=", TCP_VS_STDLIB)]
    rows.append(r)
    echo = {k: raw.get(k, {}).get("echo", {}).get("mb_per_second") for k in ("purekong", "stdlib")}
    r = row("tcp", "echo throughput (8 conns)", "MB/s wall", echo, fmt="%.1f")
    r["checks"] = [check("vs stdlib", r["vs_stdlib"], ">=", TCP_VS_STDLIB)]
    rows.append(r)
    echo_cpu = {k: raw.get(k, {}).get("echo", {}).get("mb_per_server_cpu_second") for k in ("purekong", "stdlib")}
    r = row("tcp", "echo MB per server CPU second", "MB/server-CPU-s", echo_cpu, note=cpu_note, fmt="%.1f")
    r["checks"] = [check("vs stdlib", r["vs_stdlib"], ">=", TCP_VS_STDLIB)]
    rows.append(r)
    return raw, rows


def section_serve(certs, quick):
    # Optional in the issue, no target: the gateway (routing, Kong phases,
    # ASGI page) on purekong against the bare page on stdlib ssl.
    raw = bench_serve.collect(quick)
    note = "purekong serve (whole gateway) vs benchmarks/stdlib_https_server.py (bare page); no target"
    rows = []
    for mode in ("new connections", "keep-alive"):
        wall = {k: raw.get(k, {}).get(mode, {}).get("per_second") for k in ("purekong", "stdlib")}
        rows.append(row("serve", "GET /, %s (32 concurrent)" % mode, "req/s wall", wall, note=note))
        cpu = {k: raw.get(k, {}).get(mode, {}).get("per_server_cpu_second") for k in ("purekong", "stdlib")}
        rows.append(row("serve", "GET /, %s, per server CPU s" % mode, "req/server-CPU-s", cpu, note=note))
    return raw, rows


ASGI_NOTES = {
    "h1": "no access line on either side: purekong serve --log-level warning (its access line is at info), "
          "uvicorn --log-level warning --no-access-log",
    "defaults": "each server's default logging: one access line per request at info (uvicorn's to stdout, "
                "purekong's combined line to stderr), both into a file; no target",
    "plugins": "purekong alone: a Kong Python plugin (access phase, sets a header), and with it "
               "tls-metadata-headers (h2load sends no client certificate: Kong's two error lines per request "
               "are logged); no target",
    "h2": "h2load -m 10 over ALPN h2 vs hypercorn --log-level warning (no access log by default); no target",
}


def asgi_row(entry):
    """One bench_asgi row: purekong and its peer, per wall second and per server CPU second."""
    pk, peer, kind = entry.get("purekong") or {}, entry.get("peer"), entry.get("peer_kind")
    notes = [ASGI_NOTES[entry["group"]]]
    for side, name in ((pk, "purekong"), (peer, kind)):
        if side and "error" in side:
            notes.append("%s not measured: %s" % (name, side["error"]))
        elif side and side.get("failed"):
            notes.append("%s: %d requests failed (not counted)" % (name, side["failed"]))
    wall = {"purekong": pk.get("rps"), "peer": (peer or {}).get("rps")}
    cpu = {"purekong": pk.get("per_cpu_second"), "peer": (peer or {}).get("per_cpu_second")}
    busy = {"purekong": pk.get("busy"), "peer": (peer or {}).get("busy")}
    r = {"section": "asgi", "case": entry["row"], "peer": kind, "wall": wall, "cpu": cpu, "busy": busy,
         "vs_peer": ratio(wall["purekong"], wall["peer"]), "vs_peer_cpu": ratio(cpu["purekong"], cpu["peer"]),
         "checks": [], "note": "; ".join(notes), "fmt": "%.0f"}
    if entry.get("target") is not None:
        r["checks"] = [check("vs %s" % kind, r["vs_peer"], ">=", entry["target"]),
                       check("vs %s per CPU s" % kind, r["vs_peer_cpu"], ">=", entry["target"])]
    return r


def section_asgi(certs, quick):
    # Progress lines on stderr, like the other sections'; the rows go in the table.
    raw = bench_asgi.collect(quick, certs, log=lambda line: print("asgi: " + line, file=sys.stderr, flush=True))
    return raw, [asgi_row(entry) for entry in raw["rows"]]


RUNNERS = {"handshake": section_handshake, "bulk": section_bulk, "memory": section_memory, "tcp": section_tcp,
           "serve": section_serve, "asgi": section_asgi}


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def fmt_value(value, fmt):
    if value is None:
        return "-"
    return fmt % value if value >= 10 or fmt != "%.1f" else "%.2f" % value


def fmt_checks(checks):
    parts = []
    for c in checks:
        target = ("%.1fx" if c["target"] < 10 else "%gx") % c["target"] if c["label"].startswith("vs") \
            else "%g" % c["target"]
        if c["label"] == "purekong":
            target = "%d B" % c["target"]
        verdict = "n/a" if c["met"] is None else ("yes" if c["met"] else "NO")
        if c["label"].startswith("all alive"):
            parts.append("%s: %s" % (c["label"], verdict))
        else:
            parts.append("%s %s %s: %s" % (c["label"], c["op"], target, verdict))
    return "; ".join(parts)


def note_numbers(rows):
    """Notes are numbered in order of first use; the number follows the case."""
    notes = []
    for r in rows:
        if r["note"] and r["note"] not in notes:
            notes.append(r["note"])
    return notes


def case_label(r, notes):
    return r["case"] + (" (%d)" % (notes.index(r["note"]) + 1) if r["note"] else "")


def split(rows):
    """The rows with stdlib/plain columns, and the rows against a peer server (asgi)."""
    return [r for r in rows if "peer" not in r], [r for r in rows if "peer" in r]


def main_cells(r, notes):
    """The main table's cells before the targets: case, unit, the three figures and the two ratios."""
    v = r["values"]
    return (case_label(r, notes), r["unit"], fmt_value(v["purekong"], r["fmt"]), fmt_value(v["stdlib"], r["fmt"]),
            fmt_value(v["plain"], r["fmt"]), "%.3fx" % r["vs_stdlib"] if r["vs_stdlib"] else "-",
            "%.1fx" % r["vs_plain"] if r["vs_plain"] else "-")


def peer_cells(r):
    """The asgi table's cells after the case: peer, wall and per-CPU figures and ratios, busy."""
    ratio_text = lambda x: "%.2fx" % x if x else "-"  # noqa: E731
    busy = "/".join("%.0f%%" % (100 * b) if b is not None else "-" for b in (r["busy"]["purekong"], r["busy"]["peer"]))
    return (r["peer"] or "-", fmt_value(r["wall"]["purekong"], r["fmt"]), fmt_value(r["wall"]["peer"], r["fmt"]),
            ratio_text(r["vs_peer"]), fmt_value(r["cpu"]["purekong"], r["fmt"]),
            fmt_value(r["cpu"]["peer"], r["fmt"]), ratio_text(r["vs_peer_cpu"]), busy)


ASGI_TITLE = ("asgi: purekong serve vs a peer on the same ASGI app, h2load (16 clients, TLS 1.3, ECDSA P-256); "
              "requests per second of wall time and per second of the server's CPU; busy: each server's CPU "
              "over its runs' wall time, purekong/peer (100% = one core; far below it, the server was held back "
              "by the client or by other load, and its wall figure is the machine's, not the server's)")


def table(rows, skipped=None):
    main_rows, peer_rows = split(rows)
    notes = note_numbers(main_rows + peer_rows)
    lines = []
    if main_rows:
        head = ("%-46s %-25s %9s %10s %13s %8s %9s  %s" %
                ("case", "unit", "purekong", "stdlib ssl", "plain tlslite", "pk/ssl", "pk/plain", "targets"))
        lines += [head, "-" * len(head)]
        section = None
        for r in main_rows:
            if r["section"] != section:
                section = r["section"]
                lines.append("[%s]" % section)
            lines.append("%-46s %-25s %9s %10s %13s %8s %9s  %s" % (main_cells(r, notes) + (fmt_checks(r["checks"]),)))
    if peer_rows:
        head = ("%-66s %-9s %9s %9s %7s %10s %10s %7s %9s  %s" %
                ("case", "peer", "purekong", "peer", "pk/peer", "pk/CPU-s", "peer/CPU-s", "pk/peer", "busy",
                 "targets"))
        lines += ["", "[%s]" % ASGI_TITLE, head, "-" * len(head)]
        for r in peer_rows:
            lines.append("%-66s %-9s %9s %9s %7s %10s %10s %7s %9s  %s" % (
                (case_label(r, notes),) + peer_cells(r) + (fmt_checks(r["checks"]),)))
    for section, why in (skipped or {}).items():
        lines += ["", "[%s] skipped: %s" % (section, why)]
    if notes:
        lines.append("")
        lines.extend("(%d) %s" % (i + 1, n) for i, n in enumerate(notes))
    return "\n".join(lines)


MACHINE_LABELS = (("cpu", "CPU"), ("usable_cores", "cores"), ("memory_gib", "memory (GiB)"), ("platform", "OS"),
                  ("python", "Python"), ("ssl_openssl", "OpenSSL of `ssl`"),
                  ("cryptography_openssl", "OpenSSL of `cryptography`"), ("cryptography", "cryptography"),
                  ("tlslite-ng", "tlslite-ng"), ("tlslite_gmpy2", "tlslite gmpy2"), ("purekong", "purekong"),
                  ("uvicorn", "uvicorn"), ("hypercorn", "hypercorn"), ("h11", "h11"), ("h2", "h2"),
                  ("h2load", "h2load"), ("git_commit", "git commit"),
                  ("purekong_uncommitted_changes", "uncommitted engine changes"),
                  ("loadavg_before", "load average before the run"))


def markdown(rows, machine, result, skipped=None):
    """The same tables as Markdown (docs/bench/results.md), with the machine."""
    main_rows, peer_rows = split(rows)
    notes = note_numbers(main_rows + peer_rows)
    out = ["<!-- Generated by benchmarks/run.py; do not edit. -->", "",
           "# Benchmark results", "",
           "`%s`, %s (UTC); see `benchmarks/README.md` for the methodology." % (result["command"],
                                                                                result["generated"]), "",
           "| Machine | |", "| --- | --- |"]
    out += ["| %s | %s |" % (label, machine.get(key)) for key, label in MACHINE_LABELS]

    def md_checks(checks):
        return fmt_checks(checks).replace("NO", "**NO**").replace(">=", "≥").replace("<=", "≤")

    if main_rows:
        out += ["", "| Case | Unit | purekong | stdlib ssl | plain tlslite | purekong / ssl | purekong / plain "
                    "| Targets |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        section = None
        for r in main_rows:
            if r["section"] != section:
                section = r["section"]
                out.append("| **%s** | | | | | | | |" % section)
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (main_cells(r, notes) + (md_checks(r["checks"]),)))
    if peer_rows:
        out += ["", "**%s**" % ASGI_TITLE.replace("asgi: purekong serve", "asgi: `purekong serve`"), "",
                "| Case | Peer | purekong req/s | peer req/s | purekong / peer | purekong req/server-CPU-s "
                "| peer req/server-CPU-s | purekong / peer | busy | Targets |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in peer_rows:
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                (case_label(r, notes),) + peer_cells(r) + (md_checks(r["checks"]),)))
    for section, why in (skipped or {}).items():
        out += ["", "**%s** skipped: %s" % (section, why)]
    out.append("")
    out.extend("(%d) %s  " % (i + 1, n) for i, n in enumerate(notes))
    out.append("")
    return "\n".join(out)


def update_docs(md):
    """Put the generated tables into docs/performance.md, between its markers."""
    path = os.path.join(_common.REPO, "docs", "performance.md")
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        print("not updated: %s has no %s/%s markers" % (path, begin, end))
        return
    # Drop the generated file's own title and banner: the doc has its headings.
    body = md.split("\n", 4)[4].strip()
    head, rest = text.split(begin, 1)
    text = head + begin + "\n" + body + "\n" + end + rest.split(end, 1)[1]
    with open(path, "w") as f:
        f.write(text)
    print("updated %s" % os.path.relpath(path))


def chart(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"purekong": "#1f77b4", "stdlib": "#7f7f7f", "plain": "#ff7f0e"}
    panels = [
        ("handshake", None, "Full handshakes/s, server CPU (log)", True),
        ("bulk", None, "Application data MB/s, seal+open (log)", True),
        ("memory", "tracemalloc", "Idle server conn, tracemalloc bytes", False),
        ("memory", "RSS", "Idle server conn, RSS bytes (log)", True),
        ("tcp", None, "Loopback TCP: tls-server, serve (log)", True),
    ]
    main_rows, peer_rows = split(rows)
    fig, axes = plt.subplots(2, 4, figsize=(26, 11))
    for ax, (section, needle, title, log) in zip(axes.flat, panels):
        selected = [r for r in main_rows if r["section"] == section and (needle is None or needle in r["case"] or
                    (needle == "RSS" and "RSS per" in r["case"]))]
        if section == "memory" and needle == "RSS":
            selected = [r for r in main_rows if r["section"] == "memory" and ("RSS" in r["case"]) and
                        "server RSS," not in r["case"]]
        if section == "tcp":
            selected = [r for r in main_rows if r["section"] in ("tcp", "serve")]
        width = 0.27
        for i, impl in enumerate(IMPLS):
            xs = [j + (i - 1) * width for j in range(len(selected))]
            ys = [r["values"][impl] or 0 for r in selected]
            if any(ys):
                ax.bar(xs, ys, width, label=IMPL_LABELS[impl], color=colours[impl])
        ax.set_xticks(range(len(selected)))
        ax.set_xticklabels([textwrap.fill(r["case"].replace(" x25519", "").replace("idle conn, ", "")
                                          .replace("tls-server --echo: ", "tls-server: "), 14)
                            for r in selected], fontsize=6)
        if log:
            ax.set_yscale("log")
        if section == "memory" and needle == "tracemalloc":
            ax.axhline(IDLE_BYTES, color="red", linestyle="--", linewidth=1, label="target 16 KiB")
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:  # a section left out by --only has no bars
            ax.legend(fontsize=7)
        for j, r in enumerate(selected):
            if r["vs_stdlib"]:
                top = max(v for v in r["values"].values() if v)
                ax.annotate("%.2fx" % r["vs_stdlib"], (j, top), ha="center", va="bottom", fontsize=7)
    for ax, key, title in ((axes.flat[5], "wall", "ASGI apps, h2load: req/s wall (log)"),
                           (axes.flat[6], "cpu", "ASGI apps, h2load: req per server CPU s (log)")):
        asgi_panel(ax, peer_rows, key, title, colours["purekong"], colours["stdlib"])
    # Last panel: every targeted ratio against its target.
    ax = axes.flat[7]
    checks = [(r["section"] + ": " + r["case"].replace(" x25519", "") + " " + c["label"], c)
              for r in rows for c in r["checks"] if c["value"] is not None and c["label"].startswith("vs")]
    names = [n for n, _ in checks]
    ax.barh(range(len(checks)), [c["value"] / c["target"] for _, c in checks],
            color=["#2ca02c" if c["met"] else "#d62728" for _, c in checks])
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(checks)))
    ax.set_yticklabels(names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_title("Ratio / target (>= 1 means met)", fontsize=10)
    fig.suptitle("purekong benchmarks (%s)" % datetime.date.today().isoformat())
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def asgi_panel(ax, rows, key, title, pk_colour, peer_colour):
    """purekong against its peer (uvicorn, hypercorn), one pair of bars per asgi row."""
    ax.set_title(title, fontsize=10)
    if not rows:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        return
    width = 0.4
    for offset, side, label, colour in ((-0.5, "purekong", "purekong serve", pk_colour),
                                        (0.5, "peer", "uvicorn / hypercorn", peer_colour)):
        ax.bar([j + offset * width for j in range(len(rows))], [r[key][side] or 0 for r in rows], width,
               label=label, color=colour)
    ratio_key = "vs_peer" if key == "wall" else "vs_peer_cpu"
    for j, r in enumerate(rows):
        if r[ratio_key]:
            ax.annotate("%.2fx" % r[ratio_key], (j, max(r[key].values())), ha="center", va="bottom", fontsize=7)
    short = (("upload 64 KiB + stream 1 MiB", "upload"), ("new connection", "new conn"),
             ("Python plugin + tls-metadata-headers", "py plugin + tls-md"), ("one Python plugin", "py plugin"))

    def label(r):
        text = r["case"]
        for long, abbreviation in short:
            text = text.replace(long, abbreviation)
        return text + (" vs " + r["peer"] if r["peer"] else "")

    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([label(r) for r in rows], rotation=35, ha="right", fontsize=6)
    ax.set_yscale("log")
    ax.legend(fontsize=7)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (about 3 minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections to run (default: all): " + ", ".join(SECTIONS))
    parser.add_argument("--out", default=None,
                        help="directory for results.json/.md/.png (default docs/bench for a full run; "
                             "a --quick or --only run writes there only when --out says so, so it "
                             "cannot overwrite the committed full results)")
    parser.add_argument("--update-docs", action="store_true",
                        help="also replace the generated block of docs/performance.md (between its "
                             "'results:begin' and 'results:end' markers) with the new table")
    args = parser.parse_args(argv)
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error("unknown section(s): %s" % ", ".join(sorted(unknown)))
    partial = args.quick or sections != list(SECTIONS)
    if args.update_docs and partial:
        parser.error("--update-docs needs a full run (no --quick, no --only)")
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="purekong-bench-") if partial else os.path.join(_common.REPO, "docs", "bench")

    started = time.monotonic()
    machine = _common.machine_info()
    # Other work on the machine skews every figure: keep a trace of it.
    machine["loadavg_before"] = "%.2f %.2f %.2f" % os.getloadavg()
    raw, rows, durations = {}, [], {}
    with tempfile.TemporaryDirectory() as certs:
        _common.write_certificates(certs)  # one set of certificates for every benchmark
        for section in sections:
            t0 = time.monotonic()
            print("== %s" % section, file=sys.stderr, flush=True)
            raw[section], section_rows = RUNNERS[section](certs, args.quick)
            rows.extend(section_rows)
            durations[section] = round(time.monotonic() - t0, 1)
    durations["total"] = round(time.monotonic() - started, 1)
    machine["loadavg_after"] = "%.2f %.2f %.2f" % os.getloadavg()

    print()
    print("purekong benchmarks%s: each figure is the median of several runs (see benchmarks/README.md)" %
          (" (--quick)" if args.quick else ""))
    print("machine: %s, %s cores, Python %s, ssl: %s, cryptography %s (%s), tlslite-ng %s, purekong %s (%s%s)" % (
        machine.get("cpu"), machine.get("usable_cores"), machine.get("python"), machine.get("ssl_openssl"),
        machine.get("cryptography"), machine.get("cryptography_openssl"), machine.get("tlslite-ng"),
        machine.get("purekong"), machine.get("git_commit"),
        ", engine has uncommitted changes" if machine.get("purekong_uncommitted_changes") else ""))
    if "asgi" in sections:
        print("asgi: uvicorn %s, hypercorn %s, h11 %s, h2 %s, h2load %s" % tuple(
            machine.get(k) for k in ("uvicorn", "hypercorn", "h11", "h2", "h2load")))
    print()
    skipped = {s: raw[s]["skipped"] for s in sections if isinstance(raw[s], dict) and raw[s].get("skipped")}
    text = table(rows, skipped)
    print(text)
    print()
    print("took %.0f s (%s)" % (durations["total"], ", ".join("%s %.0f s" % kv for kv in durations.items()
                                                                if kv[0] != "total")))

    os.makedirs(args.out, exist_ok=True)
    result = {"generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": "python3 benchmarks/run.py" + (" --quick" if args.quick else "") +
                         ("" if sections == list(SECTIONS) else " --only " + ",".join(sections)),
              "quick": args.quick, "machine": machine, "durations_seconds": durations,
              "targets": {"handshake_vs_stdlib": HANDSHAKE_VS_STDLIB, "handshake_vs_plain": HANDSHAKE_VS_PLAIN,
                          "bulk_vs_stdlib": BULK_VS_STDLIB, "idle_connection_bytes": IDLE_BYTES,
                          "idle_connections": IDLE_CONNECTIONS, "tcp_vs_stdlib": TCP_VS_STDLIB,
                          "asgi_keep_alive_vs_uvicorn": ASGI_KEEP_ALIVE_VS_UVICORN,
                          "asgi_new_connection_vs_uvicorn": ASGI_NEW_CONNECTION_VS_UVICORN},
              "rows": [{k: v for k, v in r.items() if k != "fmt"} for r in rows], "table": text, "raw": raw}
    json_path = os.path.join(args.out, "results.json")
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    print("wrote %s" % os.path.relpath(json_path))
    md_path = os.path.join(args.out, "results.md")
    with open(md_path, "w") as f:
        f.write(markdown(rows, machine, result, skipped))
    print("wrote %s" % os.path.relpath(md_path))
    if args.update_docs:
        update_docs(markdown(rows, machine, result, skipped))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("no chart: matplotlib is not installed (pip install -e '.[bench]' or pip install matplotlib)")
        return 0
    png_path = os.path.join(args.out, "results.png")
    chart(rows, png_path)
    print("wrote %s" % os.path.relpath(png_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
