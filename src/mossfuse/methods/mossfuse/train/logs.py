"""The run's ``train_log.jsonl``: read it, or write it as CSV.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mossfuse._atomic import atomic_path


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``train_log.jsonl``."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def log_to_csv(log_path: str | Path, csv_path: str | Path) -> Path:
    """Write a ``train_log.jsonl`` as CSV (one column per key seen, empty where a record
    lacks it: warm-up steps have no network terms, most steps no ``val_*``)."""
    import csv

    records = read_log(log_path)
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    csv_path = Path(csv_path)
    with atomic_path(csv_path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)
    return csv_path
