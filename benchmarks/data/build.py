"""Rebuild the labelled sets in this folder from their public sources (README.md says which).

    python -m benchmarks.data.build --banking77 DIR --clinc150 FILE

DIR is a checkout of github.com/PolyAI-LDN/task-specific-datasets' `banking_data` folder (train.csv,
test.csv); FILE is github.com/clinc/oos-eval's `data/data_full.json`. Deterministic (fixed seeds), so
the files here can be checked against their sources.

Each set replays several workspaces (`group`): a workspace sees some of the dataset's intents, each
as a handful of reports — a few problems reported many times, most once or twice, as support sees
them — in random order. An intent is a cluster: two reports of the same intent are the same problem.
CLINC's out-of-scope queries are each a cluster of their own (problems no one else reported).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
# How many reports one problem gets in a workspace: mostly one or two, a few many.
REPORTS_PER_PROBLEM = [1, 1, 1, 2, 2, 3, 4, 6, 9]
GROUPS = 6


def _groups(
    by_intent: dict[str, list[str]],
    *,
    seed: int,
    intents: int,
    name: str,
    singletons: list[str] | None = None,
) -> list[dict[str, str]]:
    rng = random.Random(seed)
    lines: list[dict[str, str]] = []
    pool = sorted(by_intent)
    for group in range(GROUPS):
        reports: list[tuple[str, str]] = []
        for intent in rng.sample(pool, intents):
            texts = by_intent[intent]
            for text in rng.sample(texts, min(len(texts), rng.choice(REPORTS_PER_PROBLEM))):
                reports.append((f"{intent}", text))
        if singletons:
            for n, text in enumerate(rng.sample(singletons, 20)):
                reports.append((f"oos-{group}-{n}", text))
        rng.shuffle(reports)
        for n, (cluster, text) in enumerate(reports):
            lines.append(
                {
                    "id": f"{name}-{group}-{n}",
                    "cluster": cluster,
                    "subject": text,
                    "body": "",
                    "group": f"w{group}",
                }
            )
    return lines


def _write(name: str, lines: list[dict[str, str]]) -> None:
    with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{name}.jsonl: {len(lines)} reports")


def banking77(folder: Path) -> None:
    for split, name, seed in (("test", "banking77", 77), ("train", "banking77-dev", 78)):
        by_intent: dict[str, list[str]] = defaultdict(list)
        with (folder / f"{split}.csv").open(encoding="utf-8") as rows:
            for row in csv.DictReader(rows):
                by_intent[row["category"]].append(row["text"].strip())
        _write(name, _groups(by_intent, seed=seed, intents=30, name=name))


def clinc150(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    for split, oos, name, seed in (
        ("test", "oos_test", "clinc150", 150),
        ("val", "oos_val", "clinc150-dev", 151),
    ):
        by_intent: dict[str, list[str]] = defaultdict(list)
        for text, intent in data[split]:
            by_intent[intent].append(text.strip())
        singletons = [text.strip() for text, _ in data[oos]]
        _write(name, _groups(by_intent, seed=seed, intents=40, name=name, singletons=singletons))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--banking77", type=Path, required=True, help="folder with train.csv and test.csv")
    parser.add_argument("--clinc150", type=Path, required=True, help="data_full.json")
    args = parser.parse_args()
    banking77(args.banking77)
    clinc150(args.clinc150)


if __name__ == "__main__":
    main()
