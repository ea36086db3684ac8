"""How long `purekong inspect` takes to show the recording of a 10 MB transfer.

Target (issue 11): rendering in the terminal and in HTML each under 2 s, the
HTML page a few MB at most (application data is summarised). Building the
recording (splitting ~640 records and decrypting every one with keys the
inspector derives itself) is timed apart: it is not rendering.

    python3 benchmarks/bench_inspect.py [--mb 10] [--repeat 3]

Prints a table and, last, one JSON line with every figure. Not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from purekong.inspect._adapter import recording_from_capture  # noqa: E402
from purekong.inspect._html import render_html  # noqa: E402
from purekong.inspect._scenarios import transfer_capture  # noqa: E402
from purekong.inspect._terminal import Options, make_console, render  # noqa: E402


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)
    start = time.perf_counter()
    capture = transfer_capture(size)
    transfer = time.perf_counter() - start
    build, recording = best(lambda: recording_from_capture(capture), args.repeat)

    def terminal() -> str:
        stream = io.StringIO()
        render(recording, make_console(stream), Options(data=True, why=True, keys=True))
        return stream.getvalue()

    term_s, text = best(terminal, args.repeat)
    html_s, page = best(lambda: render_html(recording), args.repeat)
    figures = {
        "transfer_bytes": size, "records": len(recording.records), "transfer_s": round(transfer, 3),
        "build_recording_s": round(build, 3), "terminal_s": round(term_s, 3), "terminal_lines": text.count("\n"),
        "html_s": round(html_s, 3), "html_bytes": len(page.encode()),
    }
    print(f"{'what':<40} {'figure':>12}")
    print(f"{'transfer (two purekong engines)':<40} {figures['transfer_s']:>10.3f} s")
    print(f"{'build the recording (split + decrypt)':<40} {figures['build_recording_s']:>10.3f} s   {figures['records']} records")
    print(f"{'terminal view (--data --why --keys)':<40} {figures['terminal_s']:>10.3f} s   {figures['terminal_lines']} lines")
    print(f"{'HTML page':<40} {figures['html_s']:>10.3f} s   {figures['html_bytes'] / 1e6:.2f} MB")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
