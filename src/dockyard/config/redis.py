"""``redis``: the Redis server shared by every node (blob descriptor cache, locks, login throttle).

The keys are registry:2's. Distribution 2.x: ``addr``, ``password``, ``db``, ``dialtimeout``,
``readtimeout``, ``writetimeout``, ``pool`` (``maxidle``, ``maxactive``, ``idletimeout``),
``tls.enabled``. Distribution 3.x passes go-redis's universal options through (``addrs``,
``username``, ``poolsize``, ...) and ``tls`` (``certificate``, ``key``, ``clientcas``).

dockyard acts on: the address (``addr``, or the first of ``addrs``), ``username``,
``password``, ``db``; ``dialtimeout`` (connecting) and the larger of ``readtimeout`` and
``writetimeout`` (every command; redis-py has one socket timeout), each 0.5 s when not set;
``pool.maxactive`` or ``poolsize`` (connections per process, unbounded when not set); TLS when
``tls.enabled`` is set or ``tls.certificate``/``tls.clientcas`` are given (``clientcas``: the
CAs that verify the server, else the system's; ``certificate`` and ``key``: a client
certificate). The other keys (every go-redis option a YAML file can set) are accepted and
reported as ignored (``ignored.py``); a key that is neither is refused, as in every section.
"""

from __future__ import annotations

import os

import msgspec

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError

DEFAULT_ADDR = "127.0.0.1:6379"
DEFAULT_TIMEOUT_SECONDS = 0.5


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class RedisPoolSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    maxidle: int = 0  # accepted, ignored (redis-py keeps what it opened)
    maxactive: int = 0  # connections per process at most; 0: no limit
    idletimeout: str = ""  # accepted, ignored


class RedisTlsSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False  # 2.x: TLS with the system's CAs
    certificate: str = ""  # 3.x: a client certificate (PEM file) ...
    key: str = ""  # ... and its private key
    clientcas: list[str] = []  # 3.x: CA files that verify the server


class RedisSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    addr: str = ""
    addrs: list[str] = []
    username: str = ""
    password: str = ""
    db: int = 0
    dialtimeout: str = ""
    readtimeout: str = ""
    writetimeout: str = ""
    pool: RedisPoolSettings = msgspec.field(default_factory=RedisPoolSettings)
    tls: RedisTlsSettings = msgspec.field(default_factory=RedisTlsSettings)
    poolsize: int = 0  # 3.x: as pool.maxactive
    # 3.x go-redis options accepted so that existing files load, and reported as ignored
    clientname: str = ""
    protocol: int = 0
    maxretries: int = 0
    minretrybackoff: str = ""
    maxretrybackoff: str = ""
    pooltimeout: str = ""
    poolfifo: bool = False
    minidleconns: int = 0
    maxidleconns: int = 0
    maxactiveconns: int = 0
    connmaxidletime: str = ""
    connmaxlifetime: str = ""
    mastername: str = ""
    sentinelusername: str = ""
    sentinelpassword: str = ""
    maxredirects: int = 0
    readonly: bool = False
    routebylatency: bool = False
    routerandomly: bool = False
    contexttimeoutenabled: bool = False
    disableindentity: bool = False  # sic: go-redis's old spelling
    disableidentity: bool = False
    identitysuffix: str = ""
    unstableresp3: bool = False
    isclustermode: bool = False

    @property
    def configured(self) -> bool:
        """Whether a Redis server is named at all (``addr`` or ``addrs``)."""
        return bool(self.addr or self.addrs)

    @property
    def address(self) -> str:
        """``host:port`` of the server dockyard talks to."""
        return self.addrs[0] if self.addrs else self.addr or DEFAULT_ADDR

    @property
    def connect_timeout_seconds(self) -> float:
        return _seconds(self.dialtimeout)

    @property
    def command_timeout_seconds(self) -> float:
        if not (self.readtimeout or self.writetimeout):
            return DEFAULT_TIMEOUT_SECONDS
        return max(_seconds(self.readtimeout, 0.0), _seconds(self.writetimeout, 0.0))

    @property
    def max_connections(self) -> int | None:
        return self.pool.maxactive or self.poolsize or None

    @property
    def uses_tls(self) -> bool:
        tls = self.tls
        return tls.enabled or bool(tls.certificate or tls.clientcas)


def _seconds(text: str, default: float = DEFAULT_TIMEOUT_SECONDS) -> float:
    return parse_duration(text) if text else default


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(f"redis.{key}: {message}", key=f"redis.{key}")


def check_redis(redis: RedisSettings) -> None:
    """ConfigError naming the first bad key (``dockyard config check`` and start-up)."""
    for key, address in (("addr", redis.addr), *(("addrs", a) for a in redis.addrs)):
        if address:
            _check_address(key, address)
    if redis.db < 0:
        raise _fail("db", f"must be 0 or more, got {redis.db}")
    for key in ("dialtimeout", "readtimeout", "writetimeout", "pool.idletimeout",
                "minretrybackoff", "maxretrybackoff", "pooltimeout", "connmaxidletime",
                "connmaxlifetime"):  # fmt: skip
        _check_duration(redis, key)
    counts = (
        ("pool.maxidle", redis.pool.maxidle),
        ("pool.maxactive", redis.pool.maxactive),
        ("poolsize", redis.poolsize),
    )
    for key, count in counts:
        if count < 0:
            raise _fail(key, f"must be 0 or more, got {count}")
    _check_tls(redis.tls)


def _check_address(key: str, address: str) -> None:
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail(key, f'expected "host:port", got "{address}"')


def _check_duration(redis: RedisSettings, key: str) -> None:
    owner: object = redis
    *parents, name = key.split(".")
    for part in parents:
        owner = getattr(owner, part)
    text = str(getattr(owner, name))
    if not text:
        return
    try:
        seconds = parse_duration(text)
    except ConfigError:
        raise _fail(key, f'invalid duration "{text}"') from None
    if seconds < 0:
        raise _fail(key, f"must not be negative, got {text!r}")


def _check_tls(tls: RedisTlsSettings) -> None:
    if bool(tls.certificate) != bool(tls.key):
        raise _fail("tls", "certificate and key go together")
    files = (
        ("tls.certificate", tls.certificate),
        ("tls.key", tls.key),
        *((f"tls.clientcas[{i}]", p) for i, p in enumerate(tls.clientcas)),
    )
    for key, path in files:
        if path and not os.path.isfile(path):
            raise _fail(key, f"no such file: {path}")
