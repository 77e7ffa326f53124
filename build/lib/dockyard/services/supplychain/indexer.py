"""Index a layer blob once: read it from storage as a stream, parse it in a worker thread,
store the inventory (or the refusal) under the blob digest with the indexer version."""

from __future__ import annotations

import asyncio
import io
import logging

from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.supplychain.layer import index_layer
from dockyard.core.supplychain.model import (
    INDEXER_VERSION,
    IndexLimits,
    LayerInventory,
    LayerRefusedError,
    decode_inventory,
    encode_inventory,
)
from dockyard.services.supplychain.bridge import StreamReader
from dockyard.services.supplychain.store import StoredLayer, SupplyChainStore
from dockyard.storage.driver import PathNotFoundError, StorageDriver, StorageError
from dockyard.storage.layout import blob_path

log = logging.getLogger("dockyard.supplychain")


class LayerIndexer:
    def __init__(
        self, storage: StorageDriver, store: SupplyChainStore, limits: IndexLimits | None = None
    ) -> None:
        self.storage, self.store = storage, store
        self.limits = limits or IndexLimits()
        self.locks: dict[str, asyncio.Lock] = {}

    async def inventory(self, digest: str) -> StoredLayer:
        """The layer's stored inventory, indexing it first when it is missing or was made by
        an older indexer. One indexing per digest at a time in this process."""
        lock = self.locks.setdefault(digest, asyncio.Lock())
        try:
            async with lock:
                stored = await self.store.layer(digest)
                if stored is None or stored.indexer_version < INDEXER_VERSION:
                    stored = await self._index(digest)
                    await self.store.save_layer(digest, stored)
        finally:
            self.locks.pop(digest, None)
        return stored

    async def _index(self, digest: str) -> StoredLayer:
        try:
            inventory = await self._read(digest)
        except LayerRefusedError as refused:
            log.info("layer %s not indexed: %s", digest, refused.reason)
            empty = encode_inventory(LayerInventory(digest=digest)).decode()
            return StoredLayer(INDEXER_VERSION, "refused", refused.reason, empty)
        return StoredLayer(INDEXER_VERSION, "indexed", "", encode_inventory(inventory).decode())

    async def _read(self, digest: str) -> LayerInventory:
        path = blob_path(parse_digest(digest))
        chunks = self.storage.read(path)
        loop = asyncio.get_running_loop()
        reader = io.BufferedReader(StreamReader(chunks, loop), buffer_size=1024 * 1024)
        try:
            return await asyncio.to_thread(index_layer, reader, digest, self.limits)
        except PathNotFoundError:
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest}) from None
        except StorageError as exc:
            raise RegistryError(ErrorCode.UNAVAILABLE, "layer bytes unreadable") from exc
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()


def layer_of(stored: StoredLayer) -> LayerInventory:
    return decode_inventory(stored.document)
