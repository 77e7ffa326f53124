"""The S3 driver's resolved options, from registry:2's ``storage.s3`` keys."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.config.model import S3Settings
from dockyard.storage.drivers.s3_layout import GIB, MIB, MIN_PART

#: Parts of 16-64 MiB cost the least CPU per GiB (measured; see docs/storage.md).
PART_SIZE_MIN = 16 * MIB
PART_SIZE_MAX = 64 * MIB
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class S3Options:
    bucket: str
    root: str = ""
    region: str = DEFAULT_REGION
    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    session_token: str = ""
    path_style: bool = False
    secure: bool = True
    skip_verify: bool = False
    #: Size of the parts a writer streams (and the merge target when composing).
    part_size: int = PART_SIZE_MIN
    copy_chunk: int = 32 * MIB
    copy_threshold: int = 32 * MIB
    copy_concurrency: int = 8
    redirect: bool = True
    encrypt: bool = False
    kms_key_id: str = ""
    storage_class: str = "STANDARD"
    user_agent: str = ""
    #: How long a request is retried before the backend counts as unavailable.
    retry_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0

    @property
    def endpoint_url(self) -> str:
        """``regionendpoint`` with a scheme (``secure`` picks one when it has none)."""
        if not self.endpoint:
            return ""
        if urlsplit(self.endpoint).scheme in ("http", "https"):
            return self.endpoint.rstrip("/")
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.endpoint.rstrip('/')}"

    @property
    def allow_http(self) -> bool:
        return not self.secure or self.endpoint_url.startswith("http://")

    def key(self, path: str) -> str:
        """The object key of a storage path (below ``rootdirectory``)."""
        return f"{self.root}/{path}" if self.root else path

    def path(self, key: str) -> str:
        """The storage path of an object key."""
        return key[len(self.root) + 1 :] if self.root else key


def options_from_settings(settings: S3Settings, *, redirect: bool) -> S3Options:
    """Map registry:2's keys; sizes are clamped to what S3 accepts and what performs well."""
    return S3Options(
        bucket=settings.bucket,
        root=settings.rootdirectory.strip("/"),
        region=settings.region or DEFAULT_REGION,
        endpoint=settings.regionendpoint,
        access_key=settings.accesskey,
        secret_key=settings.secretkey,
        session_token=settings.sessiontoken,
        path_style=settings.forcepathstyle,
        secure=settings.secure,
        skip_verify=settings.skipverify,
        part_size=min(max(settings.chunksize, PART_SIZE_MIN), PART_SIZE_MAX),
        copy_chunk=min(max(settings.multipartcopychunksize, MIN_PART), 2 * GIB),
        copy_threshold=min(max(settings.multipartcopythresholdsize, 0), 5 * GIB),
        copy_concurrency=min(max(settings.multipartcopymaxconcurrency, 1), 16),
        redirect=redirect,
        encrypt=settings.encrypt,
        kms_key_id=settings.keyid,
        storage_class=settings.storageclass.upper(),
        user_agent=settings.useragent,
    )
