"""The lifecycle services bootstrap hands to adapters, in one bundle on ``Registry.lifecycle``."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.services.bulk_delete import BulkDeleteService
from dockyard.services.fsck import IntegrityChecker
from dockyard.services.immutability import ImmutabilityService
from dockyard.services.pulls import PullRecorder
from dockyard.services.quotas import QuotaService
from dockyard.services.readonly import WriteGate
from dockyard.services.retention import RetentionService
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
