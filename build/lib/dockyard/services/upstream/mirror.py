"""The pull-through cache as the API sees it: manifests (and tags, referrers) and blobs."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.services.upstream.blob_cache import MirrorBlobs
from dockyard.services.upstream.client import UpstreamClient
from dockyard.services.upstream.proxy import MirrorManifests


@dataclass(slots=True)
class Mirror:
    upstream: UpstreamClient
    manifests: MirrorManifests
    blobs: MirrorBlobs

    async def aclose(self) -> None:
        """Stop downloads in flight (nothing half-stored is published) and the client."""
        await self.blobs.aclose()
        await self.upstream.aclose()
