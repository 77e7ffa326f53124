"""dockyard.config: the typed, frozen Settings tree and how it is loaded.

Owns reading a ``registry:2`` ``config.yml``, overlaying ``REGISTRY_*`` environment
variables the way CNCF Distribution does, dockyard's own keys under ``dockyard:``, semantic
validation, the JSON Schema of the file format, and the JSON hand-off of resolved settings to
worker processes.

Imports nothing else from dockyard but the pure ``core.patterns`` (to check rule patterns;
only msgspec, PyYAML and the standard library otherwise), and reads
no file and no environment at import time: callers pass both to :func:`load_settings`.
"""

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError
from dockyard.config.loader import load_settings, settings_json_schema
from dockyard.config.model import (
    AccessLogSettings,
    AuthSettings,
    CatalogSettings,
    DebugSettings,
    DeleteSettings,
    DockyardIdentitySettings,
    DockyardSettings,
    DockyardTokenSettings,
    FilesystemSettings,
    HtpasswdSettings,
    Http2Settings,
    HttpSettings,
    LogSettings,
    MaintenanceSettings,
    MiddlewareEntry,
    PrometheusSettings,
    ProxySettings,
    ReadOnlySettings,
    RedirectSettings,
    S3Settings,
    Settings,
    SillySettings,
    StorageSettings,
    TlsSettings,
    TokenSettings,
    UploadPurgingSettings,
    ValidationSettings,
)
from dockyard.config.notifications import NotificationsSettings

__all__ = [
    "AccessLogSettings",
    "AuthSettings",
    "CatalogSettings",
    "ConfigError",
    "DebugSettings",
    "DeleteSettings",
    "DockyardIdentitySettings",
    "DockyardSettings",
    "DockyardTokenSettings",
    "FilesystemSettings",
    "HtpasswdSettings",
    "Http2Settings",
    "HttpSettings",
    "LogSettings",
    "MaintenanceSettings",
    "MiddlewareEntry",
    "NotificationsSettings",
    "PrometheusSettings",
    "ProxySettings",
    "ReadOnlySettings",
    "RedirectSettings",
    "S3Settings",
    "Settings",
    "SillySettings",
    "StorageSettings",
    "TlsSettings",
    "TokenSettings",
    "UploadPurgingSettings",
    "ValidationSettings",
    "load_settings",
    "parse_duration",
    "settings_json_schema",
]
