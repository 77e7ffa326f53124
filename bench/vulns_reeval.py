"""Benchmark: re-evaluating every indexed image after a vulnerability database import.

Not part of ``scripts/bench`` (registry:2 has no scanner to compare with): this runs
dockyard's own stores and service in process on a synthetic data set and prints how long
the import and the re-evaluation took. The target (issue #15): 10,000 images of ~300
packages each against 50,000 advisories in under 60 s on a 2-core machine.

    .venv/bin/python -m bench.vulns_reeval                       # the full size
    .venv/bin/python -m bench.vulns_reeval --images 1000 --advisories 5000   # smaller

Images are drawn as real ones are: a base (one of ``--bases`` sets of distro packages) plus
application packages from a shared pool, so package versions repeat across images. Every
image sits in a repository (a manifest row), so changed verdicts emit their events as in
production. SQLite in a temporary directory by default; ``--postgres URL`` for PostgreSQL
(an empty database the benchmark may fill).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from dockyard.core.vulns.osv import Advisory, Affected, VersionRange
from dockyard.core.vulns.severity import Severity
from dockyard.persistence.postgres.database import PostgresDatabase
from dockyard.persistence.sql.vulndb import SqlVulnDb
from dockyard.persistence.sql.vulns import SqlVulnFindings
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.vulns.service import VulnService

ECOSYSTEMS = ("deb", "apk", "pypi", "npm", "golang")
LABELS = ("critical", "high", "medium", "low", "unknown")


def version(ecosystem: str, minor: int, patch: int) -> str:
    return {
        "deb": f"1.{minor}.{patch}-1",
        "apk": f"1.{minor}.{patch}-r1",
        "pypi": f"1.{minor}.{patch}",
        "npm": f"1.{minor}.{patch}",
        "golang": f"v1.{minor}.{patch}",
    }[ecosystem]


def package_pool(rng: random.Random, names: int) -> list[tuple[str, str, str]]:
    """``names`` package names, each in 3 versions."""
    pool = []
    for n in range(names):
        ecosystem = ECOSYSTEMS[n % len(ECOSYSTEMS)]
        for _ in range(3):
            pool.append(
                (ecosystem, f"pkg{n}", version(ecosystem, rng.randint(0, 9), rng.randint(0, 9)))
            )
    return pool


def images(rng: random.Random, args: argparse.Namespace, pool: list[Any]) -> list[set[Any]]:
    base_size = args.packages * 2 // 3
    bases = [set(rng.sample(pool, base_size)) for _ in range(args.bases)]
    found = []
    for _ in range(args.images):
        packages = set(rng.choice(bases))
        packages.update(rng.sample(pool, args.packages - base_size))
        found.append(packages)
    return found


def advisories(rng: random.Random, count: int, names: int) -> list[Advisory]:
    found = []
    for n in range(count):
        name = rng.randrange(names)
        ecosystem = ECOSYSTEMS[name % len(ECOSYSTEMS)]
        fixed = version(ecosystem, rng.randint(0, 9), rng.randint(0, 9))
        events = (("introduced", "0"), ("fixed", fixed))
        affected = Affected(ecosystem, "", f"pkg{name}", (VersionRange("ECOSYSTEM", events),), ())
        label = LABELS[n % len(LABELS)]
        aliases = (f"CVE-2026-{n}",)
        found.append(Advisory(f"BENCH-{n}", "2026-01-01T00:00:00Z", "", False, aliases,
                              f"advisory {n}", Severity(label), (affected,)))  # fmt: skip
    return found


async def fill(database: Any, sets: list[set[Any]]) -> None:
    """Repositories, manifests and the scanned images' packages, written in bulk."""
    now = time.time()
    distinct = sorted(set().union(*sets))
    ids = {p: i + 1 for i, p in enumerate(distinct)}

    async def work(session: Any) -> None:
        await session.executemany(
            "INSERT INTO vuln_packages(id, ecosystem, name, version) VALUES (?, ?, ?, ?)",
            [(ids[p], *p) for p in distinct],
        )
        await session.execute(
            "INSERT INTO repositories(id, name, created_at) VALUES (1, 'bench/app', ?)", (now,)
        )
        rows: list[tuple[object, ...]] = []
        subjects: list[tuple[object, ...]] = []
        manifests: list[tuple[object, ...]] = []
        links: list[tuple[object, ...]] = []
        for n, packages in enumerate(sets, start=1):
            digest = f"sha256:{n:064x}"
            rows.append((n, digest, now, ""))
            subjects.append((digest, digest, ""))
            manifests.append(
                (1, digest, "application/vnd.oci.image.manifest.v1+json", b"{}", 2, now)
            )
            links.extend((n, ids[p]) for p in packages)
        await session.executemany(
            "INSERT INTO vuln_images(id, digest, scanned_at, db_version) VALUES (?, ?, ?, ?)", rows
        )
        await session.executemany(
            "INSERT INTO vuln_subjects(subject_digest, image_digest, platform) VALUES (?, ?, ?)",
            subjects,
        )
        await session.executemany(
            "INSERT INTO manifests(repository_id, digest, media_type, content, size, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", manifests,
        )  # fmt: skip
        await session.executemany(
            "INSERT INTO vuln_image_packages(image_id, package_id) VALUES (?, ?)", links
        )

    await database.transaction(work)


async def reimport(
    service: VulnService, vulndb: SqlVulnDb, rng: random.Random, args: argparse.Namespace
) -> dict[str, float]:
    """A later import changing ``--changed`` advisories (as a daily update does): only the
    images holding their packages are counted again."""
    if not args.changed:
        return {}
    changed = []
    for advisory in advisories(rng, args.changed, args.names):
        index = rng.randrange(args.advisories)  # an existing id, a new fixed version
        changed.append(replace(advisory, id=f"BENCH-{index}", modified="2026-02-01T00:00:00Z"))
    started = time.perf_counter()
    counts = await vulndb.apply(changed, time.time())
    stored = time.perf_counter()
    _, moved = await service.reevaluate(None, counts.touched)
    done = time.perf_counter()
    return {
        "reimport_changed_advisories": len(changed),
        "reimport_seconds": round(stored - started, 2),
        "reimport_reevaluate_seconds": round(done - stored, 2),
        "reimport_images_changed": moved,
    }


async def open_database(args: argparse.Namespace, workdir: Path) -> Any:
    if args.postgres:
        database: Any = PostgresDatabase(args.postgres)
    else:
        database = SqliteDatabase(str(workdir / "metadata.db"))
    await database.open()
    return database


async def main(args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="dockyard-vulns-bench-") as workdir:
        database = await open_database(args, Path(workdir))
        try:
            pool = package_pool(rng, args.names)
            sets = images(rng, args, pool)
            started = time.perf_counter()
            await fill(database, sets)
            filled = time.perf_counter()
            vulndb, findings = SqlVulnDb(database), SqlVulnFindings(database)
            service = VulnService(None, None, vulndb, findings)  # type: ignore[arg-type]
            await vulndb.apply(advisories(rng, args.advisories, args.names), time.time())
            stored = time.perf_counter()
            judged, changed = await service.reevaluate()
            done = time.perf_counter()
            _, counts = await findings.totals()
            again = await reimport(service, vulndb, rng, args)
        finally:
            await database.aclose()
    return {
        "images": judged, "changed": changed, "findings": sum(counts),
        "image_package_rows": sum(len(s) for s in sets),
        "fill_seconds": round(filled - started, 2),
        "import_seconds": round(stored - filled, 2),
        "reevaluate_seconds": round(done - stored, 2),
        **again,
    }  # fmt: skip


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--packages", type=int, default=300, help="per image")
    parser.add_argument("--advisories", type=int, default=50_000)
    parser.add_argument("--names", type=int, default=20_000, help="distinct package names")
    parser.add_argument("--bases", type=int, default=40, help="distinct base package sets")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--changed", type=int, default=500,
                        help="advisories changed by a second import (0: none)")  # fmt: skip
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to fill")
    return parser.parse_args(argv)


if __name__ == "__main__":
    result = asyncio.run(main(parse()))
    for key, value in result.items():
        print(f"{key}: {value}")
