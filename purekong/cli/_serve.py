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

from purekong.server._settings import ClientTimeouts, Limits, Listener, ServeOptions

if TYPE_CHECKING:
    from purekong.engine import CertifiedKey
    from purekong.gateway import Declarative
    from purekong.runner import PluginSpec

T = TypeVar("T")
_DEFAULTS = Limits()
_TIMEOUTS = ClientTimeouts()
_PLUGIN_THREADS = ServeOptions.plugin_threads
_PLUGIN_TIMEOUT = ServeOptions.plugin_timeout
_LOG_LEVELS = ("debug", "info", "warning", "error")


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
                        help="also append each request to FILE (stderr always gets its combined line at info level)")
    parser.add_argument("--access-log-format", default=_env("ACCESS_LOG_FORMAT", "json"), metavar="json|combined",
                        help="--access-log's lines: json (one kong.log.serialize() object, the default) or "
                             "combined (nginx's combined format plus TLS version, client_verify, request time)")
    parser.add_argument("--admin-listen", metavar="HOST:PORT", default=_env("ADMIN_LISTEN"),
                        help="serve Kong's status endpoints, the DB-less Admin API (read endpoints and POST /config) "
                             "and /metrics on this plain-HTTP address (off by default; loopback only unless "
                             "--admin-allow-public)")
    parser.add_argument("--admin-allow-public", action="store_true", default=_env("ADMIN_ALLOW_PUBLIC", "") in ("1", "on", "true", "yes"),
                        help="allow --admin-listen on a non-loopback address (anyone who reaches it can replace the configuration)")
    parser.add_argument("--ssl-cert", metavar="FILE", default=_env("SSL_CERT"),
                        help="the default certificate chain (PEM), for clients whose SNI matches no certificate "
                             "(kong.conf's ssl_cert); default with -c: a self-signed one in the state directory")
    parser.add_argument("--ssl-cert-key", metavar="FILE", default=_env("SSL_CERT_KEY"),
                        help="the default certificate's private key (kong.conf's ssl_cert_key)")
    parser.add_argument("--inspect", metavar="DIR", default=_env("INSPECT"),
                        help="write one handshake recording per TLS connection to DIR (read with 'purekong inspect FILE')")
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
    parser.add_argument("--log-level", default=_env("LOG_LEVEL", "info"), metavar="|".join(_LOG_LEVELS),
                        help="stderr's level (default info: one access line per request)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from purekong.server import _processes
    from purekong.server._settings import ServeConfigError

    def fail(message: str) -> int:
        print(f"purekong serve: error: {message}", file=sys.stderr)
        return 1

    if args.log_level not in _LOG_LEVELS:
        where = "--log-level" if "--log-level" in sys.argv else "PUREKONG_LOG_LEVEL"
        return fail(f"{where} {args.log_level!r}: expected one of {', '.join(_LOG_LEVELS)}")
    _processes.stderr_logging(getattr(logging, args.log_level.upper()))
    try:
        prepared = _prepare(args)
    except ServeConfigError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}")
    return _processes.serve(*prepared)


def _check_flags(args: argparse.Namespace) -> None:
    from purekong.server._access_log import ACCESS_LOG_FORMATS
    from purekong.server._settings import ServeConfigError

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
    if args.access_log_format not in ACCESS_LOG_FORMATS:
        raise ServeConfigError(f"--access-log-format: expected 'json' or 'combined', got {args.access_log_format!r}")
    if args.max_body_size < 0:
        raise ServeConfigError("--max-body-size: must not be negative")
    if args.verify_depth is not None and args.verify_depth < 0:
        raise ServeConfigError("--verify-depth: must not be negative")
    if bool(args.ssl_cert) != bool(args.ssl_cert_key):
        raise ServeConfigError("--ssl-cert and --ssl-cert-key go together")
    if args.grace < 0:
        raise ServeConfigError("--grace: must not be negative")


def _admin_listener(text: str, allow_public: bool) -> Listener:
    import ipaddress

    from purekong.server._settings import Listener, ServeConfigError

    try:
        listener = Listener.parse(text)
    except ServeConfigError as exc:
        raise ServeConfigError(f"--admin-listen {text!r}: expected HOST:PORT") from None
    if listener.ssl:
        raise ServeConfigError(f"--admin-listen {text!r}: the admin listener is plain HTTP (no 'ssl')")
    try:
        loopback = listener.host == "localhost" or ipaddress.ip_address(listener.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_public:
        raise ServeConfigError(f"--admin-listen {text!r}: not a loopback address; the Admin API can replace the "
                               "configuration, so add --admin-allow-public if you mean it")
    return listener


def _state_dir_call(state_dir: Path, make: Callable[[Path], T]) -> T:
    from purekong.server._settings import ServeConfigError

    try:
        return make(state_dir)
    except OSError as exc:
        raise ServeConfigError(f"--state-dir {state_dir}: {exc.strerror or exc}") from None


def _default_certificate(args: argparse.Namespace, embedded: bool, listeners: list[Listener], state_dir: Path
                         ) -> tuple[CertifiedKey | None, dict[str, Path], bool, str]:
    """The certificate for clients whose SNI matches none: --ssl-cert; else the
    embedded default's dev PKI; else (-c, a TLS listener) a self-signed one, as
    Kong's. Returns it, the dev PKI's paths, whether they were just made, and
    what the summary says about it."""
    from purekong.engine import CertifiedKey
    from purekong.server import _default
    from purekong.server._settings import ServeConfigError

    paths: dict[str, Path] = {}
    created = False
    if args.ssl_cert:
        try:
            cert = CertifiedKey.load(args.ssl_cert, args.ssl_cert_key)
        except (OSError, ValueError) as exc:
            raise ServeConfigError(f"--ssl-cert {args.ssl_cert} / --ssl-cert-key {args.ssl_cert_key}: {getattr(exc, 'strerror', None) or exc}") from None
        label = f"--ssl-cert {args.ssl_cert}"
    if embedded:
        paths, created = _state_dir_call(state_dir, _default.ensure_dev_pki)
        if not args.ssl_cert:
            cert, label = CertifiedKey.load(paths["server.pem"], paths["server-key.pem"]), "the dev PKI's"
        return cert, paths, created, label
    if args.ssl_cert:
        return cert, paths, created, label
    if not any(listener.ssl for listener in listeners):
        return None, paths, created, ""
    cert_path, key_path = _state_dir_call(state_dir, _default.ensure_fallback_cert)
    return CertifiedKey.load(cert_path, key_path), paths, created, f"self-signed, {cert_path}"


def _prepare(args: argparse.Namespace) -> tuple:
    """Every flag checked, the configuration loaded, the sockets bound: serve()'s arguments."""
    from purekong.server import _default, _processes
    from purekong.server._reload import ConfigSource
    from purekong.server._settings import Listener, ServeConfigError, ServeOptions

    _check_flags(args)
    listen = args.listen or [p.strip() for p in (_env("LISTEN") or "").split(",") if p.strip()]
    embedded = not args.declarative_config
    if not listen:
        listen = [_default.DEFAULT_LISTEN] if embedded else ["0.0.0.0:8000", "0.0.0.0:8443 ssl"]
    listeners = [Listener.parse(text) for text in listen]
    admin = _admin_listener(args.admin_listen, args.admin_allow_public) if args.admin_listen else None
    state_dir = Path(args.state_dir) if args.state_dir else _default.default_state_dir()
    options = ServeOptions(
        listeners=listeners,
        declarative=Path(args.declarative_config) if args.declarative_config else None,
        plugins_dir=Path(args.plugins_dir) if args.plugins_dir else None,
        access_log=Path(args.access_log) if args.access_log else None,
        access_log_format=args.access_log_format,
        admin_listen=admin,
        inspect_dir=Path(args.inspect) if args.inspect else None,
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
    if options.inspect_dir is not None:
        try:
            options.inspect_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServeConfigError(f"--inspect {options.inspect_dir}: {exc.strerror or exc}") from None
    if options.access_log is not None:
        try:
            open(options.access_log, "a").close()
        except OSError as exc:
            raise ServeConfigError(f"--access-log {options.access_log}: {exc.strerror}") from None

    default_cert, paths, created, cert_label = _default_certificate(args, embedded, listeners, state_dir)

    if embedded:
        declarative, extra = _embedded(paths)
        if options.verify_depth is None:
            options.verify_depth = _default.DEFAULT_VERIFY_DEPTH
        source = ConfigSource(options, default_cert, declarative, extra)
    else:
        source = ConfigSource(options, default_cert)
    config = source.load()
    sockets = _processes.bind(listeners)
    admin_socket = None
    if admin is not None:
        try:
            [(admin, admin_socket)] = _processes.bind([admin], "--admin-listen")
        except ServeConfigError:
            for _, sock in sockets:
                sock.close()
            raise
        options.admin_listen = admin

    summary = _processes.summary_lines(config, options, sockets)
    if cert_label:
        summary.append(f"  default certificate (clients whose SNI matches none): {cert_label}")
    if admin is not None:
        summary.append(f"  admin API on {admin} (GET /, /status, /metrics, /services, ...; POST /config)")
    if options.inspect_dir is not None:
        summary.append(f"  inspect: one recording per TLS connection in {options.inspect_dir}")
    if embedded:
        port = next((l.port for l, _ in sockets if l.ssl), None)
        summary.append(f"  embedded default: dev PKI in {state_dir} ({'created' if created else 'reused'})")
        if port is not None:
            summary.append("  try it (without, then with the client certificate):")
            summary += [f"    {cmd}" for cmd in _default.curl_commands(paths, port)]
    summary.append("  ready (SIGTERM or Ctrl-C stops, letting requests in flight finish; SIGHUP reloads the configuration)")
    return config, options, sockets, summary, source, admin_socket


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
