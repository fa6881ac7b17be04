"""How well `ProblemIndex.similar` suggests the right open problem, measured on a labelled set.

The protocol replays intake: reports arrive one at a time in the file's order; each is first shown to
`similar()` against everything that came before, then indexed as its own open problem. A suggestion
is correct when the suggested problem's report belongs to the same cluster (the same real problem).

* precision@1: of the reports that got any suggestion, how often the first one was right — what the
  card's "looks like #123" line gets right;
* precision@3: of the same, how often any of the (up to) three suggestions was right;
* recall@1 / recall@3: of the reports whose problem had already been reported, how often the right
  problem was the first / among the suggestions;
* false_alarm_rate: of the reports whose problem was new, how often something was suggested anyway.

Used by tests/test_similarity.py (floors) and benchmarks/similarity.py (figures).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.services.similarity import ProblemIndex

LABELLED_SET = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "similarity" / "labelled_reports.jsonl"
)


@dataclass(frozen=True)
class LabelledReport:
    id: str
    cluster: str
    subject: str
    body: str

    @property
    def text(self) -> str:
        # The same shape the bot indexes: subject line, then the body.
        return f"{self.subject}\n{self.body}"


@dataclass(frozen=True)
class Evaluation:
    reports: int
    suggested: int  # reports that got at least one suggestion
    top1_correct: int
    top3_correct: int  # reports with a correct suggestion anywhere in the top 3
    repeats: int  # reports whose cluster had an earlier report
    first_reports: int  # reports whose cluster had none
    false_alarms: int  # first reports that got a suggestion anyway

    @property
    def precision_at_1(self) -> float:
        return self.top1_correct / self.suggested if self.suggested else 0.0

    @property
    def precision_at_3(self) -> float:
        return self.top3_correct / self.suggested if self.suggested else 0.0

    @property
    def recall_at_1(self) -> float:
        return self.top1_correct / self.repeats if self.repeats else 0.0

    @property
    def recall_at_3(self) -> float:
        return self.top3_correct / self.repeats if self.repeats else 0.0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.first_reports if self.first_reports else 0.0

    def figures(self) -> dict[str, float]:
        return {
            "precision@1": self.precision_at_1,
            "precision@3": self.precision_at_3,
            "recall@1": self.recall_at_1,
            "recall@3": self.recall_at_3,
            "false_alarm_rate": self.false_alarm_rate,
            "suggested": float(self.suggested),
            "repeats": float(self.repeats),
        }

    def summary(self) -> str:
        return (
            f"precision@1 {self.precision_at_1:.3f}  precision@3 {self.precision_at_3:.3f}  "
            f"recall@1 {self.recall_at_1:.3f}  recall@3 {self.recall_at_3:.3f}  "
            f"false alarms {self.false_alarm_rate:.3f} "
            f"({self.suggested} of {self.reports} reports got a suggestion; {self.repeats} repeats)"
        )


def load_labelled(path: Path = LABELLED_SET) -> list[LabelledReport]:
    with path.open(encoding="utf-8") as lines:
        return [LabelledReport(**json.loads(line)) for line in lines if line.strip()]


def evaluate(
    reports: Sequence[LabelledReport], make_index: Callable[[], ProblemIndex] = ProblemIndex
) -> Evaluation:
    """Stream `reports` through a fresh index as intake would, and count what the suggestions got right."""
    index = make_index()
    seen: set[str] = set()
    suggested = top1 = top3 = repeats = false_alarms = 0
    for number, report in enumerate(reports):
        matches = index.similar(report.text, limit=3)
        repeat = report.cluster in seen
        right = [reports[match.problem_id].cluster == report.cluster for match in matches]
        if matches:
            suggested += 1
            top1 += right[0]
            top3 += any(right)
            false_alarms += not repeat
        repeats += repeat
        seen.add(report.cluster)
        index.upsert(number, number, report.text, is_open=True)
    return Evaluation(
        reports=len(reports),
        suggested=suggested,
        top1_correct=top1,
        top3_correct=top3,
        repeats=repeats,
        first_reports=len(reports) - repeats,
        false_alarms=false_alarms,
    )
