"""The similar-problem index: suggestion quality on the labelled set, and its behaviour unit by unit.

Quality floors sit a few points below the measured figures (precision@1 0.73, precision@3 0.77,
recall@1 0.76, recall@3 0.80 when this was written), so a change that breaks matching — a lost synonym
map, stemmer or signature stripper — fails here; `test_each_analysis_stage_earns_its_place` says which.
"""

from __future__ import annotations

import pytest

from benchmarks.similarity_eval import Evaluation, LabelledReport, evaluate, load_labelled
from bot.services.similarity import Analyzer, Match, ProblemIndex, light_stem, strip_signature

# ---------------------------------------------------------------------------------- labelled set


@pytest.fixture(scope="module")
def labelled() -> list[LabelledReport]:
    return load_labelled()


@pytest.fixture(scope="module")
def full(labelled: list[LabelledReport]) -> Evaluation:
    return evaluate(labelled)


def test_labelled_set_is_what_the_evaluation_needs(labelled: list[LabelledReport]) -> None:
    sizes: dict[str, int] = {}
    for report in labelled:
        sizes[report.cluster] = sizes.get(report.cluster, 0) + 1
    clusters = [size for size in sizes.values() if size > 1]
    assert len(labelled) >= 240
    assert len({report.id for report in labelled}) == len(labelled)
    assert 45 <= len(clusters) <= 60
    assert all(3 <= size <= 8 for size in clusters)
    assert sum(size == 1 for size in sizes.values()) >= 30


def test_suggestions_meet_the_quality_floors(full: Evaluation) -> None:
    assert full.precision_at_1 >= 0.70, full.summary()
    assert full.precision_at_3 >= 0.74, full.summary()
    assert full.recall_at_1 >= 0.72, full.summary()
    assert full.recall_at_3 >= 0.77, full.summary()
    # New problems mostly get no suggestion at all rather than a wrong one.
    assert full.false_alarm_rate <= 0.40, full.summary()


@pytest.mark.parametrize(
    "switch",
    [{"synonyms": False}, {"stemming": False}],
    ids=["without synonyms", "without stemming"],
)
def test_each_analysis_stage_earns_its_place(
    labelled: list[LabelledReport], full: Evaluation, switch: dict[str, bool]
) -> None:
    ablated = evaluate(labelled, lambda: ProblemIndex(analyzer=Analyzer(**switch)))
    assert ablated.recall_at_1 < full.recall_at_1 - 0.05, ablated.summary()
    assert ablated.recall_at_1 < 0.72, ablated.summary()  # i.e. the floor above would fail


def test_requiring_two_shared_terms_buys_precision(
    labelled: list[LabelledReport], full: Evaluation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.services.similarity.MIN_SHARED_TERMS", 1)
    loose = evaluate(labelled)
    assert loose.precision_at_1 < full.precision_at_1 - 0.03, loose.summary()


# -------------------------------------------------------------------------------------- helpers


def make_index(**reports: tuple[int, str, bool]) -> ProblemIndex:
    """Reports by issue id ("i1"): (problem id, text, open)."""
    index = ProblemIndex()
    for key, (problem_id, text, is_open) in reports.items():
        index.upsert(int(key.removeprefix("i")), problem_id, text, is_open=is_open)
    return index


def ids(matches: list[Match]) -> list[int]:
    return [match.problem_id for match in matches]


SSO = "Can't sign in with Okta, it keeps redirecting me back to the login page"
SSO_AGAIN = "SSO login loops: after Okta we land on the sign-in screen again"
EXPORT = "CSV export is missing the custom field columns"
EXPORT_AGAIN = "The exported CSV file lacks our custom fields columns"
IMPORT = "CSV import fails with an encoding error on accented names"

# ------------------------------------------------------------------------------------ similar()


def test_paraphrase_is_suggested_and_unrelated_report_is_not() -> None:
    index = make_index(i1=(10, SSO, True), i2=(20, EXPORT, True))
    assert ids(index.similar(SSO_AGAIN)) == [10]
    assert ids(index.similar(EXPORT_AGAIN)) == [20]
    assert index.similar("Please add a Gantt chart view for project timelines") == []
    assert index.similar("The invoice PDF shows the wrong VAT rate for our German entity") == []


def test_only_open_problems_are_suggested() -> None:
    index = make_index(i1=(10, SSO, False), i2=(20, SSO, True))
    assert ids(index.similar(SSO_AGAIN)) == [20]
    index.set_problem_open(20, False)
    assert index.similar(SSO_AGAIN) == []
    index.set_problem_open(10, True)
    assert ids(index.similar(SSO_AGAIN)) == [10]


def test_open_flag_belongs_to_the_problem() -> None:
    index = make_index(i1=(10, SSO, True), i2=(10, SSO_AGAIN, True))
    index.upsert(
        3, 10, "Okta sign in redirect loop for everyone", is_open=False
    )  # a report of a closed problem
    assert index.similar(SSO) == []
    assert ids(index.search("okta")) == [10]
    assert index.search("okta", open_only=True) == []


def test_exclude_problem_leaves_the_others() -> None:
    index = make_index(i1=(10, SSO, True), i2=(20, SSO_AGAIN, True))
    assert set(ids(index.similar(SSO, limit=3))) == {10, 20}
    assert ids(index.similar(SSO, exclude_problem=10)) == [20]
    assert ids(index.search("okta", exclude_problem=20)) == [10]


def test_problem_score_is_its_best_report_and_limit_applies() -> None:
    index = make_index(
        i1=(10, SSO, True),
        i2=(10, "Okta login issue, our admin is looking at the SAML certificate", True),
        i3=(20, SSO_AGAIN + " since Monday", True),
        i4=(30, "okta redirect loop when signing in via sso", True),
    )
    matches = index.similar(SSO, limit=2)
    assert len(matches) == 2
    assert matches[0].score >= matches[1].score
    # Problem 10 holds an identical report, so it is the best.
    assert matches[0] == Match(10, matches[0].score) and matches[0].score > 0.99
    assert len(ids(index.similar(SSO, limit=10))) == len(set(ids(index.similar(SSO, limit=10))))


def test_remove_forgets_a_report() -> None:
    index = make_index(i1=(10, SSO, True), i2=(20, EXPORT, True))
    assert len(index) == 2
    index.remove(1)
    index.remove(1)  # twice, and an unknown id, are no-ops
    index.remove(999)
    assert len(index) == 1
    assert index.similar(SSO_AGAIN) == []
    assert index.search("okta") == []
    assert ids(index.similar(EXPORT_AGAIN)) == [20]


def test_reupsert_moves_a_report_between_problems() -> None:
    index = make_index(i1=(10, SSO, True), i2=(20, EXPORT, True))
    index.upsert(1, 20, SSO, is_open=True)  # merged into problem 20
    assert len(index) == 2
    assert ids(index.similar(SSO_AGAIN)) == [20]
    assert ids(index.search("okta")) == [20]


def test_reupsert_replaces_the_text() -> None:
    index = make_index(i1=(10, SSO, True))
    index.upsert(1, 10, EXPORT, is_open=True)
    assert len(index) == 1
    assert index.similar(SSO_AGAIN) == []
    assert ids(index.similar(EXPORT_AGAIN)) == [10]
    assert index.search("okta") == []


def test_hard_negative_ranks_below_the_real_match() -> None:
    index = make_index(i1=(10, EXPORT, True), i2=(20, IMPORT, True))
    matches = index.similar(EXPORT_AGAIN, limit=3)
    assert ids(matches)[0] == 10
    assert all(match.problem_id != 20 or match.score < matches[0].score for match in matches)


def test_many_removals_compact_postings_and_keep_answers_right() -> None:
    index = ProblemIndex()
    for number in range(200):
        index.upsert(number, number, f"{EXPORT} for workspace {number}", is_open=True)
    for number in range(0, 200, 2):
        index.remove(number)
    for number in range(1, 200, 4):
        index.set_problem_open(number, False)
    found = index.similar(f"{EXPORT} for workspace", limit=100)
    assert len(found) == 50 and all(match.problem_id % 4 == 3 for match in found)
    assert len(index) == 100


def test_a_small_posting_budget_still_returns_only_live_open_problems() -> None:
    index = ProblemIndex(posting_budget=10)
    for number in range(60):
        index.upsert(number, number, EXPORT if number % 3 else SSO, is_open=number % 2 == 0)
    matches = index.similar(EXPORT_AGAIN, limit=5)
    assert matches and all(match.problem_id % 2 == 0 and match.problem_id % 3 for match in matches)


# ------------------------------------------------------------------------------------- search()


def test_search_finds_open_and_closed_problems_by_keyword() -> None:
    index = make_index(i1=(10, SSO, False), i2=(20, EXPORT, True), i3=(30, IMPORT, True))
    assert ids(index.search("okta")) == [10]
    assert index.search("okta", open_only=True) == []
    assert set(ids(index.search("csv"))) == {20, 30}
    assert ids(index.search("csv import"))[0] == 30
    assert ids(index.search("sign in problem")) == [10]  # synonyms: "sign in" is a login


def test_prefix_search_completes_the_last_word() -> None:
    index = make_index(i1=(10, SSO, True), i2=(20, EXPORT, True), i3=(30, IMPORT, True))
    assert ids(index.search("csv exp", prefix=True))[0] == 20
    assert ids(index.search("csv imp", prefix=True))[0] == 30
    assert ids(index.search("okt", prefix=True)) == [10]
    assert ids(index.search("accen", prefix=True)) == [30]
    assert index.search("accen", prefix=False) == []  # as a whole word it is not indexed
    # A trailing space means the last word is finished.
    assert index.search("okt ", prefix=True) == []


def test_prefix_search_reaches_synonyms() -> None:
    index = make_index(i1=(10, "The invoice PDF is blank", True))
    assert ids(index.search("bil", prefix=True)) == [10]  # "bill" is an invoice
    assert ids(index.search("bill")) == [10]


@pytest.mark.parametrize("query", ["", "   ", "the and of", "hi thanks!!", "?!*", "a"])
def test_empty_or_stopword_only_query_matches_nothing(query: str) -> None:
    index = make_index(i1=(10, SSO, True), i2=(20, EXPORT, True))
    assert index.similar(query) == []
    assert index.search(query) == []
    assert index.search(query, prefix=True) == []


HOSTILE = [
    "<!channel> <@U123> <https://evil.example|click me> `rm -rf /` '; DROP TABLE issues; --",
    "\x00\x01\x02 \u202e\u200b\ufeff zero width",
    "Über Straße naïve café — 東京 ログインできません 🚀🔥 \uff26\uff55\uff4c\uff4c \uff23\uff33\uff36",
    "a" * 50_000,
    " ".join(["crash"] * 5_000),
    "12345678901234567890 0xDEADBEEF e4d909c290d0fb1ca068ffaddf22cbd0",
    "\n\n\n> quoted\n> only\n",
    "Thanks,\n",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_neither_crashes_nor_matches_noise(text: str) -> None:
    index = make_index(i1=(10, SSO, True), i2=(20, EXPORT, True))
    index.upsert(99, 99, text, is_open=True)
    index.similar(text)
    index.search(text, prefix=True)
    assert 10 not in ids(index.similar(text))
    index.remove(99)
    assert len(index) == 2


def test_unicode_text_folds_accents_and_width() -> None:
    index = make_index(i1=(10, "Export fails for café names", True))
    assert ids(index.search("CAFE")) == [10]
    assert ids(index.search("\uff23\uff21\uff26\uff25")) == [10]  # fullwidth CAFE


# ------------------------------------------------------------------------------------- analysis


def test_stemmer_brings_inflections_together() -> None:
    for words in (
        ["crash", "crashes", "crashed", "crashing"],
        ["invoice", "invoices", "invoiced"],
        ["sync", "syncing", "synced", "syncs"],
        ["add", "added", "adding"],
        ["cancel", "cancelled", "canceling"],
        ["integration", "integrations", "integrate", "integrated"],
    ):
        assert len({light_stem(word) for word in words}) == 1, words
    assert light_stem("status") == "status"
    assert light_stem("ios") == "ios"


def test_analyzer_normalises_paraphrases_to_shared_terms() -> None:
    analyzer = Analyzer()
    assert analyzer.terms("I can't log in") == analyzer.terms("unable to sign in") == ["login"]
    assert analyzer.terms("the bill") == analyzer.terms("our invoices")
    assert analyzer.terms("app froze") == analyzer.terms("app crashes")
    assert analyzer.terms("pasword reset") == analyzer.terms("password reset")  # a typo
    assert "profit" in analyzer.terms("non-profit pricing")  # a real word, not a typo of "profile"
    assert analyzer.terms("export fails, see https://acme.example/x or ask bob@acme.example") == [
        "export",
        "error",
    ]


def test_signature_and_quoted_reply_are_dropped() -> None:
    text = "Export broken\nHi team,\nThe export fails.\n\nBest regards,\nJane Roe\nCTO, Acme\n+1 555 0100"
    assert strip_signature(text) == "Export broken\nHi team,\nThe export fails.\n"
    reply = "Export broken\nStill failing.\nOn Mon, 3 Jun 2024 at 10:00, Support <s@x.test> wrote:\nold text"
    assert strip_signature(reply) == "Export broken\nStill failing."
    assert set(Analyzer().terms(text)) == {"export", "error"}  # no "jane", "acme" or "cto"
