"""Housekeeping jobs: upload purging (``storage.maintenance.uploadpurging``) and audit log
retention (``dockyard.identity.auditretention``)."""

from __future__ import annotations

from dockyard.core.errors import RegistryError
from dockyard.services.identity.audit_retention import AuditPruner
from dockyard.services.jobs.model import Handler, Job, JobFailedError
from dockyard.services.lifecycle.maintenance import UploadPurger

PURGE_KIND = "upload.purge"
AUDIT_KIND = "audit.retention"


def purge_handler(purger: UploadPurger) -> Handler:
    async def run(job: Job) -> str:
        try:
            return await purger.purge()
        except RegistryError as error:  # storage or database unavailable: try again later
            raise JobFailedError(error.message) from error

    return run


def audit_retention_handler(pruner: AuditPruner) -> Handler:
    async def run(job: Job) -> str:
        deleted = await pruner.prune_once()
        return f"deleted {deleted} audit events older than the retention"

    return run
