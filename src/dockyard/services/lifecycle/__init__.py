"""The lifecycle services bootstrap hands to adapters, in one bundle on ``Registry.lifecycle``.

The lifecycle area: online GC and its preview, retention, quotas and their events,
immutable tags, bulk deletion, the read-only switch, fsck, upload purging, pull times, and
``admin`` (bulk deletion and quotas for ``/api/v1``); this module is their bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.services.lifecycle.bulk_delete import BulkDeleteService
from dockyard.services.lifecycle.fsck import IntegrityChecker
from dockyard.services.lifecycle.immutability import ImmutabilityService
from dockyard.services.lifecycle.pulls import PullRecorder
from dockyard.services.lifecycle.quotas import QuotaService
from dockyard.services.lifecycle.readonly import WriteGate
from dockyard.services.lifecycle.retention import RetentionService
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry


@dataclass(frozen=True, slots=True)
class Lifecycle:
    gate: WriteGate
    immutability: ImmutabilityService
    quotas: QuotaService
    retention: RetentionService
    fsck: IntegrityChecker
    bulk: BulkDeleteService
    pulls: PullRecorder
    telemetry: Telemetry = NO_TELEMETRY
