"""Finding finished run partitions (``OUT/date=YYYY-MM-DD`` with a ``run.json``) in OUT."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

PREFIX = "date="


def partition_date(partition: Path) -> str | None:
    """The ISO date of a ``date=YYYY-MM-DD`` directory name, or None for any other name."""
    name = partition.name
    if not name.startswith(PREFIX):
        return None
    try:
        return dt.date.fromisoformat(name[len(PREFIX):]).isoformat()
    except ValueError:
        return None


def finished_partitions(out: Path) -> list[Path]:
    """Finished partitions directly under ``out``, oldest first (staging areas are skipped)."""
    if not out.is_dir():
        return []
    found = [(d, p) for p in out.iterdir()
             if p.is_dir() and (d := partition_date(p)) and (p / "run.json").is_file()]
    return [p for _, p in sorted(found)]


def latest_partition(out: Path) -> Path | None:
    """The newest ``out/date=*`` directory that has a ``run.json``, or None."""
    parts = finished_partitions(out)
    return parts[-1] if parts else None


def previous_partition(partition: Path) -> Path | None:
    """The newest finished partition in the same OUT dir dated before ``partition``."""
    date = partition_date(partition)
    if date is None:
        return None
    older = [p for p in finished_partitions(partition.parent) if (partition_date(p) or "") < date]
    return older[-1] if older else None


def recent_partitions(partition: Path, limit: int = 30) -> list[Path]:
    """Up to ``limit`` finished partitions up to and including ``partition``, oldest first."""
    date = partition_date(partition) or ""
    parts = [p for p in finished_partitions(partition.parent) if (partition_date(p) or "") <= date]
    if partition.resolve() not in {p.resolve() for p in parts}:
        parts.append(partition)
    return parts[-limit:]


def read_run(partition: Path) -> dict[str, Any]:
    """The partition's ``run.json`` (an empty dict when it is missing or unreadable)."""
    try:
        data = json.loads((partition / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
