"""The typed, frozen Settings tree.

Field names are the ``registry:2`` YAML keys exactly as CNCF Distribution spells them (all
lower case, never an underscore, so ``REGISTRY_A_B_C`` environment names map onto them).
Sections dockyard reads are typed; sections it accepts for compatibility but does not act on
yet are loose ``dict[str, Any]`` shapes. Semantic checks live in ``validate.py``.
"""

from __future__ import annotations

import posixpath
from typing import Any, ClassVar

import msgspec

from dockyard.config.address import parse_host_port
from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError
from dockyard.config.jobs import JobSettings
from dockyard.config.ldap import LdapSettings
from dockyard.config.lifecycle import (
    GcSettings,
    ImmutabilitySettings,
    QuotaSettings,
    RetentionSettings,
)
from dockyard.config.mirror import MirrorSettings
from dockyard.config.notifications import (
    DeliverySettings,
    NotificationsSettings,
    OutboundSettings,
)
from dockyard.config.oidc import OidcSettings
from dockyard.config.redis import RedisSettings
from dockyard.config.ui import UiSettings
from dockyard.config.uploads import UploadLimitSettings
from dockyard.config.webhooks import WebhookSettings


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every section: immutable, keyword-only, unknown keys rejected."""

    # Sections that are a one-of choice (``storage``: a driver, ``auth``: a method) name
    # their choice fields here; a plain string selects one (``REGISTRY_AUTH=htpasswd``).
    choices: ClassVar[tuple[str, ...]] = ()


# --- log -------------------------------------------------------------------------------


class AccessLogSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    disabled: bool = False


class LogSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    level: str = "info"
    formatter: str = "json"
    fields: dict[str, str] = {}
    accesslog: AccessLogSettings = msgspec.field(default_factory=AccessLogSettings)
    hooks: list[dict[str, Any]] = []  # accepted, ignored
    reportcaller: bool = False  # accepted, ignored


# --- http ------------------------------------------------------------------------------


class TlsSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    certificate: str = ""
    key: str = ""
    clientcas: list[str] = []
    minimumtls: str = "tls1.2"
    ciphersuites: list[str] = []  # accepted, ignored
    letsencrypt: dict[str, Any] = {}  # accepted, ignored


class PrometheusSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False
    path: str = "/metrics"


class DebugSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    addr: str = ""
    prometheus: PrometheusSettings = msgspec.field(default_factory=PrometheusSettings)


class Http2Settings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    disabled: bool = False


class HttpSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    addr: str = ":5000"
    net: str = "tcp"
    host: str = ""
    prefix: str = ""
    secret: str = ""
    relativeurls: bool = False
    draintimeout: str = ""
    headers: dict[str, list[str]] = {}
    tls: TlsSettings = msgspec.field(default_factory=TlsSettings)
    debug: DebugSettings = msgspec.field(default_factory=DebugSettings)
    http2: Http2Settings = msgspec.field(default_factory=Http2Settings)

    @property
    def draintimeout_seconds(self) -> float | None:
        """The drain timeout in seconds, or None when unset."""
        return parse_duration(self.draintimeout) if self.draintimeout else None


# --- auth ------------------------------------------------------------------------------


class HtpasswdSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    realm: str = "Registry Realm"
    path: str = ""


class TokenSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    realm: str = ""
    service: str = ""
    issuer: str = ""
    rootcertbundle: str = ""
    autoredirect: bool = False
    autoredirectpath: str = ""
    jwks: str = ""
    signingalgorithms: list[str] = []


class SillySettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    realm: str = ""
    service: str = ""


class AuthSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    choices: ClassVar[tuple[str, ...]] = ("htpasswd", "token", "silly")

    htpasswd: HtpasswdSettings | None = None
    token: TokenSettings | None = None
    silly: SillySettings | None = None

    @property
    def kind(self) -> str:
        """The configured method (``htpasswd``, ``token``, ``silly``) or ``""`` for none."""
        chosen = [name for name in self.choices if getattr(self, name) is not None]
        return chosen[0] if chosen else ""


# --- storage ---------------------------------------------------------------------------


class FilesystemSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    rootdirectory: str = "/var/lib/registry"
    maxthreads: int = 100


class S3Settings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    accesskey: str = ""
    secretkey: str = ""
    sessiontoken: str = ""
    region: str = ""
    regionendpoint: str = ""
    forcepathstyle: bool = False
    bucket: str = ""
    rootdirectory: str = ""
    encrypt: bool = False
    keyid: str = ""
    secure: bool = True
    skipverify: bool = False
    v4auth: bool = True
    chunksize: int = 10 * 1024 * 1024
    multipartcopychunksize: int = 32 * 1024 * 1024
    multipartcopymaxconcurrency: int = 100
    multipartcopythresholdsize: int = 32 * 1024 * 1024
    storageclass: str = "STANDARD"
    objectacl: str = "private"
    useragent: str = ""
    usedualstack: bool = False
    accelerate: bool = False
    loglevel: str = "off"
    checksumdisabled: bool = False
    checksumalgorithm: str = ""


class DeleteSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False


class UploadPurgingSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    age: str = "168h"
    interval: str = "24h"
    dryrun: bool = False

    @property
    def age_seconds(self) -> float:
        return parse_duration(self.age)

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


class ReadOnlySettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False


class MaintenanceSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    uploadpurging: UploadPurgingSettings = msgspec.field(default_factory=UploadPurgingSettings)
    readonly: ReadOnlySettings = msgspec.field(default_factory=ReadOnlySettings)


class RedirectSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    disable: bool = False


class StorageSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    choices: ClassVar[tuple[str, ...]] = ("filesystem", "inmemory", "s3")

    filesystem: FilesystemSettings | None = None
    inmemory: dict[str, Any] | None = None
    s3: S3Settings | None = None
    delete: DeleteSettings = msgspec.field(default_factory=DeleteSettings)
    maintenance: MaintenanceSettings = msgspec.field(default_factory=MaintenanceSettings)
    cache: dict[str, Any] = {}
    redirect: RedirectSettings = msgspec.field(default_factory=RedirectSettings)
    tag: dict[str, Any] = {}

    def __post_init__(self) -> None:
        # No driver section at all means the filesystem driver with its defaults.
        if all(getattr(self, name) is None for name in self.choices):
            msgspec.structs.force_setattr(self, "filesystem", FilesystemSettings())

    def configured_drivers(self) -> list[str]:
        """Every driver section that is set, in a stable order."""
        return [name for name in self.choices if getattr(self, name) is not None]

    @property
    def driver_name(self) -> str:
        """``filesystem``, ``inmemory`` or ``s3``; ConfigError if several are configured."""
        drivers = self.configured_drivers()
        if len(drivers) > 1:
            raise ConfigError(
                f"storage: more than one driver configured: {', '.join(drivers)}", key="storage"
            )
        return drivers[0] if drivers else "filesystem"


# --- sections accepted for registry:2 compatibility (some not acted on yet) ------------


class MiddlewareEntry(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    disabled: bool = False
    options: dict[str, Any] = {}


class ProxySettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A pull-through cache of ``remoteurl`` (docs/mirror.md); empty: a normal registry."""

    remoteurl: str = ""
    username: str = ""
    password: str = ""
    ttl: str = ""  # registry:2: cached manifests not pulled for this long are removed
    exec: dict[str, Any] = {}  # credential helper: command, lifetime (docs/mirror.md)

    @property
    def enabled(self) -> bool:
        return bool(self.remoteurl)


class ValidationSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False
    disabled: bool = False
    manifests: dict[str, Any] = {}


class CatalogSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    maxentries: int = 1000


# --- dockyard's own keys ---------------------------------------------------------------


class SupplyChainSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``dockyard.supplychain`` (docs/supply-chain.md)."""

    sbomonpush: bool = True  # False: no project gets SBOMs on push, whatever its own switch
    scanonpush: bool = True  # False: pushed images are scanned for vulnerabilities on demand only


class DockyardTokenSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """dockyard as the Docker token issuer (``/token``); see docs/authentication.md."""

    enabled: bool = False
    issuer: str = "dockyard"  # the ``iss`` claim
    service: str = "dockyard"  # the ``aud`` claim and the challenge's ``service``
    realm: str = ""  # token endpoint URL in challenges; empty: this server's /token
    expiry: str = "5m"
    refreshexpiry: str = "720h"  # offline (refresh) tokens
    algorithm: str = "ES256"  # for new keys: ES256 or RS256
    keydir: str = ""  # empty: <storage root>/dockyard/token-keys
    anonymouspull: bool = False  # callers without credentials get pull tokens


class DockyardIdentitySettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Users, projects, roles and robots in the database (docs/management.md)."""

    enabled: bool = False  # off: registry:2 rules (every authenticated user may do everything)
    createonpush: bool = False  # users (not only admins) may create a project by pushing to it
    passwordcost: int = 12  # bcrypt cost for new password hashes
    loginattempts: int = 10  # failed logins per (user name, client address) in loginwindow: 429
    clientattempts: int = 50  # failed logins per client address within loginwindow, then 429
    loginwindow: str = "5m"
    auditpulls: bool = True  # manifest pulls in the audit log (pushes and deletes always are)
    auditretention: str = ""  # e.g. "2160h" (90 days): older audit events are deleted; "" keeps all
    oidc: OidcSettings = msgspec.field(default_factory=OidcSettings)  # ID tokens as passwords
    ldap: LdapSettings = msgspec.field(default_factory=LdapSettings)  # LDAP / AD passwords


class DockyardSettings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    database: str = ""
    server: str = "granian"
    workers: int = 1
    trustedproxies: list[str] = []  # CIDRs of reverse proxies whose X-Forwarded-For counts
    directwrites: bool = True  # filesystem uploads: whole 4 MiB blocks written with O_DIRECT
    token: DockyardTokenSettings = msgspec.field(default_factory=DockyardTokenSettings)
    identity: DockyardIdentitySettings = msgspec.field(default_factory=DockyardIdentitySettings)
    gc: GcSettings = msgspec.field(default_factory=GcSettings)
    immutability: ImmutabilitySettings = msgspec.field(default_factory=ImmutabilitySettings)
    quotas: QuotaSettings = msgspec.field(default_factory=QuotaSettings)
    retention: RetentionSettings = msgspec.field(default_factory=RetentionSettings)
    uploads: UploadLimitSettings = msgspec.field(default_factory=UploadLimitSettings)
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)  # webhooks.md
    mirror: MirrorSettings = msgspec.field(default_factory=MirrorSettings)  # with proxy.remoteurl
    outbound: OutboundSettings = msgspec.field(default_factory=OutboundSettings)
    jobs: JobSettings = msgspec.field(default_factory=JobSettings)  # the job queue's runner
    events: DeliverySettings = msgspec.field(default_factory=DeliverySettings)
    supplychain: SupplyChainSettings = msgspec.field(default_factory=SupplyChainSettings)
    ui: UiSettings = msgspec.field(default_factory=UiSettings)  # the web UI (docs/ui.md)


# --- the root --------------------------------------------------------------------------


class Settings(Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole resolved configuration. Build it with ``load_settings``."""

    version: str = "0.1"
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    notifications: NotificationsSettings = msgspec.field(default_factory=NotificationsSettings)
    middleware: dict[str, list[MiddlewareEntry]] = {}
    reporting: dict[str, Any] = {}
    health: dict[str, Any] = {}
    proxy: ProxySettings = msgspec.field(default_factory=ProxySettings)
    validation: ValidationSettings = msgspec.field(default_factory=ValidationSettings)
    compatibility: dict[str, Any] = {}
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    catalog: CatalogSettings = msgspec.field(default_factory=CatalogSettings)
    policy: dict[str, Any] = {}
    dockyard: DockyardSettings = msgspec.field(default_factory=DockyardSettings)

    def listen_host_port(self) -> tuple[str, int]:
        """``http.addr`` as ``(host, port)``; ``":5000"`` gives ``("0.0.0.0", 5000)``."""
        if self.http.net == "unix":
            raise ConfigError("http.net: unix sockets have no host:port", key="http.net")
        return parse_host_port(self.http.addr, "http.addr")

    def debug_host_port(self) -> tuple[str, int] | None:
        """``http.debug.addr`` as ``(host, port)``, or None when the debug server is off."""
        if not self.http.debug.addr:
            return None
        return parse_host_port(self.http.debug.addr, "http.debug.addr")

    def storage_root(self) -> str:
        """The filesystem driver's root directory (ConfigError for other drivers)."""
        fs = self.storage.filesystem
        if self.storage.driver_name != "filesystem" or fs is None:
            raise ConfigError(
                f"storage: driver is {self.storage.driver_name}, which has no local root directory",
                key="storage",
            )
        return fs.rootdirectory

    def token_key_dir(self) -> str | None:
        """Where issued-token signing keys live: ``dockyard.token.keydir``, else
        ``<root>/dockyard/token-keys``; None (memory only) with the ``inmemory`` driver."""
        if self.dockyard.token.keydir:
            return self.dockyard.token.keydir
        if self.storage.driver_name == "inmemory":
            return None
        return posixpath.join(self.storage_root(), "dockyard", "token-keys")

    def database_url(self) -> str:
        """``dockyard.database``, or the SQLite default under the storage root when empty.

        The default is ``sqlite:///<root>/dockyard/metadata.db`` (so an absolute root gives
        four slashes). With the ``inmemory`` driver it is ``sqlite:///:memory:``.
        """
        if self.dockyard.database:
            return self.dockyard.database
        if self.storage.driver_name == "inmemory":
            return "sqlite:///:memory:"
        return "sqlite:///" + posixpath.join(self.storage_root(), "dockyard", "metadata.db")

    def to_json(self) -> bytes:
        """Serialize for handing to worker processes (see ``from_json``)."""
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> Settings:
        """Rebuild Settings from ``to_json`` output (types re-checked, files not)."""
        try:
            return msgspec.json.decode(data, type=cls)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"invalid serialized settings: {exc}") from exc
