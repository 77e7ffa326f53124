"""Drive wrk (GET throughput, with a Lua script for headers and random ranges) and ab (HEAD).

wrk cannot measure HEAD against a server that sends ``Content-Length`` on HEAD responses, as
both registries do for manifests: its parser waits for a body that never comes and it reports
0 requests. ApacheBench knows HEAD has no body (``ab -i``), so HEAD figures come from ab with
keep-alive. Each figure uses the same tool for both registries.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCRIPT_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d,\"read\":%d," ..
    "\"write\":%d,\"status\":%d,\"timeout\":%d,\"mean_us\":%.1f,\"p99_us\":%d}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency:percentile(99)))
end
"""

SCRIPT_RANGES = r"""
local size = {size}
local span = {span}
math.randomseed({seed})
request = function()
  local first = math.random(0, size - span)
  return wrk.format("GET", nil, {{["Range"] = "bytes=" .. first .. "-" .. (first + span - 1)}})
end
"""


class LoadError(RuntimeError):
    """The load generator failed, or the server answered with errors."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    mean_ms: float
    p99_ms: float
    bytes: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _lua_headers(headers: dict[str, str]) -> str:
    return "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items())


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
    ranges: tuple[int, int, int] | None = None,
) -> LoadResult:
    """GET ``url`` for ``seconds`` on one thread; ``ranges`` = (blob size, span, seed)."""
    script = _lua_headers(headers or {}) + SCRIPT_DONE
    if ranges is not None:
        script += SCRIPT_RANGES.format(size=ranges[0], span=ranges[1], seed=ranges[2])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        argv = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            handle.name,
            url,
        ]
        output = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=seconds + 60
        )
    finally:
        Path(handle.name).unlink()
    return _parse_wrk(output.stdout + output.stderr)


def _parse_wrk(output: str) -> LoadResult:
    found = re.search(r"^WRKJSON (.*)$", output, re.MULTILINE)
    if found is None:
        raise LoadError(f"wrk printed no summary:\n{output[-2000:]}")
    data = json.loads(found.group(1))
    failures = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    if data["requests"] == 0 or failures > 0:
        raise LoadError(f"wrk: {data['requests']} requests, errors {failures}: {data}")
    return LoadResult(
        data["requests"],
        data["duration_us"] / 1e6,
        data["mean_us"] / 1e3,
        data["p99_us"] / 1e3,
        data["bytes"],
    )


def ab_head(url: str, *, seconds: int, connections: int, headers: dict[str, str]) -> LoadResult:
    """HEAD ``url`` with keep-alive for ``seconds``."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "percentiles.csv"
        argv = [
            "ab",
            "-i",
            "-k",
            "-q",
            f"-c{connections}",
            f"-t{seconds}",
            "-n",
            "100000000",
            "-e",
            str(csv),
        ]
        for name, value in headers.items():
            argv += ["-H", f"{name}: {value}"]
        output = subprocess.run(
            [*argv, url], check=False, capture_output=True, text=True, timeout=seconds + 60
        )
        text = output.stdout + output.stderr
        percentiles = _ab_percentiles(csv) if csv.exists() else {}
    return _parse_ab(text, percentiles)


def _ab_percentiles(csv: Path) -> dict[int, float]:
    rows = csv.read_text().splitlines()[1:]
    return {int(p): float(ms) for p, ms in (row.split(",") for row in rows if row)}


def _ab_number(text: str, label: str) -> float | None:
    found = re.search(rf"^{label}:\s+([\d.]+)", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def _parse_ab(text: str, percentiles: dict[int, float]) -> LoadResult:
    complete = _ab_number(text, "Complete requests")
    seconds = _ab_number(text, "Time taken for tests")
    mean = _ab_number(text, r"Time per request")
    failed = sum(_ab_number(text, label) or 0 for label in ("Failed requests", "Non-2xx responses"))
    if not complete or not seconds or mean is None or 99 not in percentiles:
        raise LoadError(f"ab printed no summary:\n{text[-2000:]}")
    if failed:
        raise LoadError(f"ab: {failed:.0f} failed or non-2xx responses of {complete:.0f}")
    return LoadResult(int(complete), seconds, mean, percentiles[99], 0)
