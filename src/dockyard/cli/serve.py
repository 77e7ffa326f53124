"""``dockyard serve``: load settings, then run the ASGI app under granian (or uvicorn)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

import msgspec
from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.log import LogLevels

from dockyard.auth import htpasswd_provision
from dockyard.bootstrap import SETTINGS_ENV, build_registry
from dockyard.cli import datadir
from dockyard.cli.listeners import ListenError, open_listener, show_address
from dockyard.cli.logsetup import configure_logging
from dockyard.cli.serve_granian import PreboundGranian
from dockyard.config import ConfigError, Settings, load_settings
from dockyard.config.ignored import ignored_warnings
from dockyard.supervision import SERVE_PID_ENV, drain_seconds

DEFAULT_DATA_DIR = "dockyard-data"
FACTORY = "dockyard.bootstrap:app_from_environment"
log = logging.getLogger("dockyard.serve")
# granian's own lines (worker crashes, forced stops) go through dockyard's log format
GRANIAN_LOGS_TO_ROOT = {"loggers": {"_granian": {"handlers": [], "propagate": True}}}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the registry")
    parser.add_argument("--config", metavar="FILE", help="registry:2 style config.yml")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"storage root (default: ./{DEFAULT_DATA_DIR} without a config file)",
    )
    parser.add_argument("--addr", metavar="HOST:PORT", help="listen address (http.addr)")
    parser.add_argument("--server", choices=("granian", "uvicorn"), help="ASGI server")
    parser.add_argument(
        "--no-jobs",
        action="store_true",
        help="take no queued or scheduled jobs here (dockyard.jobs.runinserve: false); "
        "run `dockyard worker` elsewhere",
    )
    parser.set_defaults(handler=run)


def settings_for(config: str | None, data_dir: str | None) -> Settings:
    """Settings from ``config`` and the environment, with the data directory rules applied.

    ``data_dir`` overrides the filesystem root; with neither a config file nor
    ``REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY`` the root is ``./dockyard-data``.
    """
    settings = load_settings(config, os.environ)
    storage = settings.storage
    no_root_given = config is None and "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY" not in os.environ
    if data_dir is None and no_root_given and storage.driver_name == "filesystem":
        data_dir = DEFAULT_DATA_DIR
    if data_dir is not None and storage.filesystem is not None:
        filesystem = msgspec.structs.replace(
            storage.filesystem, rootdirectory=os.path.abspath(data_dir)
        )
        settings = msgspec.structs.replace(
            settings, storage=msgspec.structs.replace(storage, filesystem=filesystem)
        )
    return settings


def resolve_settings(args: argparse.Namespace) -> Settings:
    settings = settings_for(args.config, args.data_dir)
    overrides: dict[str, object] = {}
    if args.addr:
        overrides["addr"] = args.addr
    if overrides:
        settings = msgspec.structs.replace(
            settings, http=msgspec.structs.replace(settings.http, **overrides)
        )
    dockyard = settings.dockyard
    if args.server:
        dockyard = msgspec.structs.replace(dockyard, server=args.server)
    if args.no_jobs:
        jobs = msgspec.structs.replace(dockyard.jobs, runinserve=False)
        dockyard = msgspec.structs.replace(dockyard, jobs=jobs)
    return msgspec.structs.replace(settings, dockyard=dockyard)


def run(args: argparse.Namespace) -> int:
    try:
        settings = resolve_settings(args)
        host, port = settings.listen_host_port()
        debug = settings.debug_host_port()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    try:  # before anything starts: a taken address is one line and exit status 1
        listener = _listen(host, port, debug)
    except ListenError as exc:
        print(f"dockyard: {exc}", file=sys.stderr)
        return 1
    with listener:
        return _serve(settings, listener)


def _listen(host: str, port: int, debug: tuple[str, int] | None) -> socket.socket:
    """The bound ``http.addr`` socket, once ``http.debug.addr`` (if set) proved free too."""
    listener = open_listener(host, port, "http.addr")
    if debug is not None:
        try:
            open_listener(*debug, "http.debug.addr").close()  # a worker binds it again
        except ListenError:
            listener.close()
            raise
    return listener


def _serve(settings: Settings, listener: socket.socket) -> int:
    refusal = datadir.prepare(settings, create=True)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 1
    configure_logging(settings.log.level, settings.log.formatter, dict(settings.log.fields))
    for warning in ignored_warnings(settings):
        log.warning(warning)
    if not _provision_htpasswd(settings):
        return 1
    build_registry(settings).close()  # create the data directory and migrate before serving
    os.environ[SETTINGS_ENV] = settings.to_json().decode()
    os.environ[SERVE_PID_ENV] = str(os.getpid())  # workers stop when this process is gone
    driver = settings.storage.driver_name
    where = settings.storage_root() if driver == "filesystem" else driver
    host, port = listener.getsockname()[:2]
    log.info(
        "dockyard listening",
        extra={
            "fields": {
                "addr": show_address(host, port),
                "storage": where,
                "server": settings.dockyard.server,
            }
        },
    )
    drain = drain_seconds(settings.http.draintimeout_seconds)
    if settings.dockyard.server == "uvicorn":
        return _run_uvicorn(settings, listener, drain)
    return _run_granian(settings, listener, drain)


def _provision_htpasswd(settings: Settings) -> bool:
    """Create a missing htpasswd file as registry:2 does (False: it cannot be, said why)."""
    if settings.auth.htpasswd is None:
        return True
    path = os.path.abspath(settings.auth.htpasswd.path)
    try:
        password = htpasswd_provision.provision(path)
    except OSError as exc:
        print(f"config: auth.htpasswd.path: cannot create {path}: {exc.strerror}", file=sys.stderr)
        return False
    if password is not None:
        log.warning(
            "htpasswd file %s was missing: created it with user %s and password %s",
            path, htpasswd_provision.USER, password,
        )  # fmt: skip
    return True


def _run_uvicorn(settings: Settings, listener: socket.socket, drain: float) -> int:
    from dockyard.cli.serve_uvicorn import run_uvicorn, tls_options  # noqa: PLC0415 - 50 ms

    tls = settings.http.tls
    bundle = client_ca_bundle(settings) if tls.certificate else None
    return run_uvicorn(
        FACTORY,
        listener,
        drain,
        workers=settings.dockyard.workers if settings.dockyard.workers > 1 else None,
        **tls_options(tls.certificate, tls.key, str(bundle) if bundle else None),
    )


def client_ca_bundle(settings: Settings) -> Path | None:
    """``http.tls.clientcas`` joined into one PEM file (servers take a single CA file)."""
    cas = settings.http.tls.clientcas
    if not cas:
        return None
    bundle = Path(settings.storage_root()) / "dockyard" / "clientcas.pem"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_text("".join(Path(ca).read_text() for ca in cas))
    return bundle


def _granian_tls(settings: Settings) -> dict[str, object]:
    tls = settings.http.tls
    if not tls.certificate:
        return {}
    if tls.minimumtls in ("tls1.0", "tls1.1"):
        log.warning("http.tls.minimumtls %s is not offered; TLS 1.2 is the minimum", tls.minimumtls)
    minimum = SSLProtocols.tls13 if tls.minimumtls == "tls1.3" else SSLProtocols.tls12
    options: dict[str, object] = {
        "ssl_cert": Path(tls.certificate),
        "ssl_key": Path(tls.key),
        "ssl_protocol_min": minimum,
    }
    bundle = client_ca_bundle(settings)
    if bundle is not None:
        options.update(ssl_ca=bundle, ssl_client_verify=True)
    return options


def _http_mode(settings: Settings) -> HTTPModes:
    """HTTP/2 where a client can negotiate it (TLS, ALPN), as registry:2 offers it; plain
    HTTP/1.1 otherwise: no client of a registry speaks HTTP/2 in clear text (h2c), and
    granian's protocol detection for it cost about 10 % of a manifest GET's CPU here."""
    if settings.http.http2.disabled or not settings.http.tls.certificate:
        return HTTPModes.http1
    return HTTPModes.auto


def _run_granian(settings: Settings, listener: socket.socket, drain: float) -> int:
    host, port = listener.getsockname()[:2]
    server = PreboundGranian(
        FACTORY,
        listener,
        drain,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=settings.dockyard.workers,
        http=_http_mode(settings),
        log_enabled=True,
        log_level=LogLevels.warning,
        log_dictconfig=GRANIAN_LOGS_TO_ROOT,
        log_access=False,
        **_granian_tls(settings),
    )
    try:
        server.serve()
    finally:
        log.info("dockyard stopped", extra={"fields": {}})
    return 0
