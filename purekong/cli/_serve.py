"""``purekong serve``: the mTLS-aware HTTPS gateway. See docs/serve.md.

Settings come from flags, else from ``PUREKONG_*`` environment variables
(kong.conf's ``KONG_*`` convention), else the defaults below. Entities
(services, routes, plugins, certificates, consumers) come from a Kong
declarative file (``-c kong.yml``); with neither a file nor listeners the
embedded default starts (a dev PKI and a page showing each request's TLS).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from purekong.server._settings import ClientTimeouts, Limits, ServeOptions

if TYPE_CHECKING:
    from purekong.gateway import Declarative
    from purekong.runner import PluginSpec

T = TypeVar("T")
_DEFAULTS = Limits()
_TIMEOUTS = ClientTimeouts()
_PLUGIN_THREADS = ServeOptions.plugin_threads
_PLUGIN_TIMEOUT = ServeOptions.plugin_timeout


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"PUREKONG_{name}", default)


def _typed(kind: Callable[[str], T], name: str, default: T) -> T:
    value = _env(name)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        raise SystemExit(f"purekong serve: error: PUREKONG_{name}={value!r}: expected {getattr(kind, '__name__', 'a value')}") from None


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the gateway: Kong config, plugins, mTLS, proxying and ASGI apps",
        description=(
            "An HTTPS gateway with Kong's configuration model on the purekong TLS engine. "
            "Without -c it starts the embedded default: a development CA and certificates in "
            "the state directory, https://127.0.0.1:8443 (unless --listen says otherwise), a page "
            "showing each request's TLS and client certificate. Every flag can also be set with "
            "the PUREKONG_<FLAG> environment variable (e.g. PUREKONG_LISTEN)."
        ),
    )
    parser.add_argument("-c", "--declarative-config", metavar="kong.yml", default=_env("DECLARATIVE_CONFIG"),
                        help="Kong declarative configuration (YAML or JSON)")
    parser.add_argument("--listen", action="append", metavar="'HOST:PORT[ ssl]'",
                        help="a listener (repeatable; PUREKONG_LISTEN takes a comma-separated list). "
                             "Default with -c: Kong's '0.0.0.0:8000' and '0.0.0.0:8443 ssl'")
    parser.add_argument("--plugins-dir", metavar="DIR", default=_env("PLUGINS_DIR"),
                        help="directory of Kong Python PDK plugin modules")
    parser.add_argument("--access-log", metavar="FILE", default=_env("ACCESS_LOG"),
                        help="append one kong.log.serialize() JSON object per request")
    parser.add_argument("--workers", type=int, default=_typed(int, "WORKERS", 1), metavar="N", help="worker processes sharing the listeners (default 1)")
    parser.add_argument("--verify-depth", type=int, default=_typed(int, "VERIFY_DEPTH", None), metavar="N",
                        help="nginx ssl_verify_depth for client_verify (default: Kong's 0; the embedded default uses 1)")
    parser.add_argument("--state-dir", metavar="DIR", default=_env("STATE_DIR"),
                        help="where the dev PKI lives (default $XDG_STATE_HOME/purekong or ~/.local/state/purekong)")
    parser.add_argument("--handshake-timeout", type=float, default=_typed(float, "HANDSHAKE_TIMEOUT", _TIMEOUTS.handshake), metavar="S")
    parser.add_argument("--idle-timeout", type=float, default=_typed(float, "IDLE_TIMEOUT", _TIMEOUTS.idle), metavar="S",
                        help="keep-alive timeout between requests")
    parser.add_argument("--client-timeout", type=float, default=_typed(float, "CLIENT_TIMEOUT", _TIMEOUTS.client), metavar="S",
                        help="longest wait for the client while reading a request or writing a response")
    parser.add_argument("--max-request-head", type=int, default=_typed(int, "MAX_REQUEST_HEAD", _DEFAULTS.max_request_head), metavar="BYTES")
    parser.add_argument("--max-body-size", type=int, default=_typed(int, "MAX_BODY_SIZE", _DEFAULTS.max_body_size), metavar="BYTES",
                        help="largest request body, 0 for no limit")
    parser.add_argument("--max-connections", type=int, default=_typed(int, "MAX_CONNECTIONS", _DEFAULTS.max_connections), metavar="N",
                        help="open connections per worker")
    parser.add_argument("--request-buffering", choices=("on", "off"), default=_env("REQUEST_BUFFERING", "on"),
                        help="on (Kong's default): plugins see the whole request body; off: bodies are "
                             "streamed to the upstream as they arrive and plugins see none")
    parser.add_argument("--grace", type=float, default=_typed(float, "GRACE", 10.0), metavar="S",
                        help="seconds in-flight requests get on SIGTERM/SIGINT")
    parser.add_argument("--plugin-style", default=_env("PLUGIN_STYLE", "lua"), metavar="lua|python",
                        help="how Kong Python plugins get PDK results: lua (kong-pdk's default, (value, err) "
                             "tuples) or python (kong-pdk's --no-lua-style: values, PDKException on error); "
                             "a plugin module's own lua_style = True/False wins")
    parser.add_argument("--plugin-threads", type=int, default=_typed(int, "PLUGIN_THREADS", _PLUGIN_THREADS), metavar="N",
                        help=f"threads per worker that Kong Python plugins' phases run on, so a blocking plugin "
                             f"stalls only its own request (default {_PLUGIN_THREADS})")
    parser.add_argument("--plugin-timeout", type=float, default=_typed(float, "PLUGIN_TIMEOUT", _PLUGIN_TIMEOUT), metavar="S",
                        help=f"longest one plugin call may take before its request gets a 500 (default {_PLUGIN_TIMEOUT:g})")
    parser.add_argument("--log-level", default=_env("LOG_LEVEL", "info"), choices=("debug", "info", "warning", "error"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from purekong.server import _config, _default, _processes
    from purekong.server._settings import Listener, ServeConfigError, ServeOptions

    _processes.stderr_logging(getattr(logging, args.log_level.upper()))

    def fail(message: str) -> int:
        print(f"purekong serve: error: {message}", file=sys.stderr)
        return 1

    listen = args.listen or [p.strip() for p in (_env("LISTEN") or "").split(",") if p.strip()]
    embedded = not args.declarative_config
    try:
        for name in ("workers", "max_connections", "max_request_head"):
            if getattr(args, name) < 1:
                raise ServeConfigError(f"--{name.replace('_', '-')}: must be at least 1")
        for name in ("handshake_timeout", "idle_timeout", "client_timeout"):
            if getattr(args, name) <= 0:
                raise ServeConfigError(f"--{name.replace('_', '-')}: must be positive")
        if args.plugin_style not in ("lua", "python"):
            raise ServeConfigError(f"--plugin-style: expected 'lua' or 'python', got {args.plugin_style!r}")
        if args.plugin_threads < 1:
            raise ServeConfigError("--plugin-threads: must be at least 1")
        if args.plugin_timeout <= 0:
            raise ServeConfigError("--plugin-timeout: must be positive")
        if args.request_buffering not in ("on", "off"):
            raise ServeConfigError(f"--request-buffering: expected 'on' or 'off', got {args.request_buffering!r}")
        if args.max_body_size < 0 or (args.verify_depth is not None and args.verify_depth < 0):
            raise ServeConfigError("--max-body-size and --verify-depth must not be negative")
        if not listen:
            listen = [_default.DEFAULT_LISTEN] if embedded else ["0.0.0.0:8000", "0.0.0.0:8443 ssl"]
        listeners = [Listener.parse(text) for text in listen]
        state_dir = Path(args.state_dir) if args.state_dir else _default.default_state_dir()
        options = ServeOptions(
            listeners=listeners,
            declarative=Path(args.declarative_config) if args.declarative_config else None,
            plugins_dir=Path(args.plugins_dir) if args.plugins_dir else None,
            access_log=Path(args.access_log) if args.access_log else None,
            workers=args.workers,
            verify_depth=args.verify_depth,
            state_dir=state_dir,
            limits=Limits(
                timeouts=ClientTimeouts(handshake=args.handshake_timeout, idle=args.idle_timeout, client=args.client_timeout),
                max_request_head=args.max_request_head,
                max_body_size=args.max_body_size,
                max_connections=args.max_connections,
                request_buffering=args.request_buffering == "on",
            ),
            grace=args.grace,
            plugin_style=args.plugin_style,
            plugin_threads=args.plugin_threads,
            plugin_timeout=args.plugin_timeout,
            announce=lambda line: print(line, flush=True),
        )
        # The dev PKI: the default certificate of every TLS listener (Kong
        # makes a self-signed one too), and the whole show in the embedded default.
        paths, created = _default.ensure_dev_pki(state_dir) if any(l.ssl for l in listeners) or embedded else ({}, False)
        default_cert = None
        if paths:
            from purekong.engine import CertifiedKey

            default_cert = CertifiedKey.load(paths["server.pem"], paths["server-key.pem"])
        extra: dict[str, PluginSpec] = {}
        if embedded:
            declarative, extra = _embedded(paths)
            if options.verify_depth is None:
                options.verify_depth = _default.DEFAULT_VERIFY_DEPTH
        else:
            assert options.declarative is not None
            if not options.declarative.is_file():
                raise ServeConfigError(f"-c {options.declarative}: no such file")
            declarative = _config.load_declarative(options.declarative)
        config = _config.load_config(declarative, options, default_cert=default_cert, extra_plugins=extra)
        if options.access_log is not None:
            try:
                open(options.access_log, "a").close()
            except OSError as exc:
                raise ServeConfigError(f"--access-log {options.access_log}: {exc.strerror}") from None
        sockets = _processes.bind(listeners)
    except ServeConfigError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}")

    summary = _processes.summary_lines(config, options, sockets)
    if embedded:
        port = next((l.port for l, _ in sockets if l.ssl), None)
        summary.append(f"  embedded default: dev PKI in {state_dir} ({'created' if created else 'reused'})")
        if port is not None:
            summary.append("  try it (without, then with the client certificate):")
            summary += [f"    {cmd}" for cmd in _default.curl_commands(paths, port)]
    summary.append("  ready (SIGTERM or Ctrl-C stops, letting requests in flight finish)")
    return _processes.serve(config, options, sockets, summary)


def _embedded(paths: dict[str, Path]) -> tuple[Declarative, dict[str, PluginSpec]]:
    """The embedded default's entities: one route to the TLS info page."""
    from purekong.gateway import parse_declarative
    from purekong.runner import plugin_from_class
    from purekong.server import _default

    name = _default.RequestDevClientCert.name
    declarative = parse_declarative(
        {
            "_format_version": "3.0",
            "services": [{
                "name": "purekong-info",
                "asgi": "purekong.server._default:info_app",
                "routes": [{"name": "purekong-info", "paths": ["/"], "strip_path": False}],
            }],
            "plugins": [{"name": name, "config": {"ca_pem": paths["ca.pem"].read_text()}}],
        },
        source="<embedded default>",
    )
    return declarative, {name: plugin_from_class(_default.RequestDevClientCert)}
