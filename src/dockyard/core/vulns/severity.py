"""Severity of an advisory: the CVSS base score of its vector (computed with the ``cvss``
library, v2, v3.x and v4.0) or, without a vector, the label the source gives
(``database_specific.severity``: GitHub's ``MODERATE`` is ``medium``)."""

from __future__ import annotations

from dataclasses import dataclass

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

SEVERITIES = ("critical", "high", "medium", "low", "unknown")  # worst first
_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}
_LABELS = {
    "critical": "critical",
    "high": "high",
    "important": "high",  # Red Hat
    "moderate": "medium",  # GitHub, Red Hat
    "medium": "medium",
    "low": "low",
    "negligible": "low",
    "unimportant": "low",  # Debian
}
# vector types in the order we prefer them when a record has several
_PREFERRED = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


@dataclass(frozen=True, slots=True)
class Severity:
    label: str  # one of SEVERITIES
    score: float | None = None  # the CVSS base score, when a vector was given
    vector: str = ""


UNKNOWN = Severity("unknown")


def rank(label: str) -> int:
    """Higher is worse: ``unknown`` 0 ... ``critical`` 4."""
    return _RANK.get(label, 0)


def label_of_score(score: float) -> str:
    """The CVSS v3/v4 qualitative rating of a base score (0.0 is ``unknown``: no rating)."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "unknown"


def label_of_text(text: str) -> str:
    return _LABELS.get(text.strip().lower(), "unknown")


def score_vector(kind: str, vector: str) -> float | None:
    """The base score of a CVSS vector of ``kind`` (CVSS_V2/V3/V4); None if it is invalid."""
    try:
        if kind == "CVSS_V3":
            return float(CVSS3(vector).base_score)
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
        if kind == "CVSS_V2":
            return float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    return None


def from_vectors(vectors: list[tuple[str, str]], fallback_label: str = "") -> Severity:
    """The severity of the first valid vector in our order of preference, else the label."""
    for wanted in _PREFERRED:
        for kind, vector in vectors:
            if kind != wanted:
                continue
            score = score_vector(kind, vector)
            if score is not None:
                return Severity(label_of_score(score), score, vector)
    label = label_of_text(fallback_label) if fallback_label else "unknown"
    return Severity(label) if label != "unknown" else UNKNOWN
