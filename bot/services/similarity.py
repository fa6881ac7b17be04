"""Similar-problem index: which open problems a new report looks like, and keyword search over problems.

Pure and in memory (no database, no network), so the bot can keep one per process, fill it from the
database at start-up and update it as reports arrive, merge and close. Every method is cheap enough to
call on the event loop: over 100,000 open problems a lookup costs ~4 ms (p99 ~7 ms) on one core of
the 2-core development machine, and the index ~45 MB (`python -m benchmarks.similarity`).

How matching works, and why:

* **Analysis** (`Analyzer`) turns free text into terms: Unicode folding, URL/e-mail/quoted-reply and
  signature stripping (a customer's name, title and phone number say nothing about the problem and
  would otherwise make every report from the same person look alike), stop words including support
  boilerplate ("hi team", "thanks", "not working"), a light suffix stemmer, a small typo corrector
  against a domain vocabulary, and a domain synonym map ("sign in" = "log in" = "login",
  "bill" = "invoice", "freeze" = "crash") so that two customers describing one problem in their own
  words share terms.
* **Scoring** is TF-IDF cosine similarity (sublinear tf, smoothed idf computed from the live index).
  Cosine is bounded, so one minimum score (`DEFAULT_MIN_SCORE`, tuned on the labelled set in
  tests/fixtures/similarity) separates "looks like the same problem" from "shares a few words",
  whatever the length of the report; raw BM25 scores are not comparable across queries. A suggestion
  must also share at least two distinct terms with the report (`MIN_SHARED_TERMS`).
* **Speed** comes from an inverted index with compact postings (`array` of int32 slots and float32
  weights) scored term-at-a-time, rarest term first, within a budget of postings per query: a term so
  common that it would blow the budget (after rarer ones have found candidates) is skipped in that
  first pass. The best candidates are then rescored exactly against every query term, so skipping
  common terms only changes *which* reports are considered, never the score of one that is shown.
* A problem's score is the best score of its reports: a problem matches if any one customer described
  it the way this customer does (averaging would punish problems with many varied reports, which are
  exactly the ones worth suggesting).

Open and closed reports have separate postings, so suggestions never walk closed problems. Removing
or re-indexing a report, or opening or closing its problem, marks its slot dead (and indexes it anew
where needed); a postings list is compacted once half of it is dead, so every update costs in
proportion to the report's own terms.

Quality is measured by `benchmarks.similarity_eval` on tests/fixtures/similarity/labelled_reports.jsonl.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from array import array
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Tuned on tests/fixtures/similarity/labelled_reports.jsonl (see tests/test_similarity.py): the middle
# of the plateau where top-1 precision is high and recall has not yet started to fall.
DEFAULT_MIN_SCORE = 0.24
# A suggestion must share at least this many distinct terms with the report: one shared word
# ("invoice", "slack") is a coincidence of topic, two start to describe a problem. Measured: on the
# labelled set this lifts precision@1 by ~7 points for ~1 point of recall.
MIN_SHARED_TERMS = 2
# Postings scored per query in the first pass, and reports rescored exactly after it. A posting costs
# a dictionary update (~0.2 µs), a rescored report a few µs. Measured on 100,000 generated reports
# (benchmarks/similarity.py): 8,000 and 160 keep similar() at ~3-5 ms on one core, and its top
# suggestion is the problem an exhaustive search picks about 95 % as often (exhaustive costs ~40 ms).
DEFAULT_POSTING_BUDGET = 8_000
RESCORE_CANDIDATES = 160
# A report's tf-idf vector length is computed when it is indexed and reused until the index has grown or
# shrunk by this fraction (idf moves with the index; in a steadily growing one it barely moves, but the
# first reports of a new index were measured against a handful of others). 10 % changes no figure of
# the labelled evaluation compared with 2 %, and saves recomputing most lengths at query time.
_NORM_DRIFT = 0.1
# Typeahead: prefixes shorter than this match too many words to be useful; completions kept per prefix.
MIN_PREFIX = 2
MAX_PREFIX_EXPANSIONS = 12
_PREFIX_SCAN_LIMIT = 4_000
# Token cache entries before it is cleared (names, ids and typos make the raw vocabulary unbounded).
_TOKEN_CACHE_LIMIT = 200_000

# Slot states.
_DEAD, _CLOSED, _OPEN = 0, 1, 2


@dataclass(frozen=True)
class Match:
    problem_id: int
    score: float  # higher is more similar; comparable within one query


# ----------------------------------------------------------------------------------------- analysis

# English function words plus what every support message says whatever its problem.
_STOP_WORDS_TEXT = """
a about above after again against all almost already also although always am among an and another any
anybody anyone anything anyway anywhere are aren around as at away back be became because become been
before being below between both but by can cannot cant could couldn did didn didnt do does doesn doesnt
doing don dont done down during each either else enough etc even ever every everyone everything few
for from further get gets getting got gotten had hadn has hasn hasnt have haven having he her here hers
herself him himself his how however i if im in into is isn isnt it its itself ive just keep keeps kept
let lets like likely made make makes making many may maybe me might mine more most much must my myself
need needs needed neither never no nobody none nor not nothing now of off often oh ok okay on once one
only onto or other others otherwise our ours ourselves out over own per perhaps quite rather re really
same seem seemed seems several shall she should shouldn since so some somebody someone something
sometimes somewhat soon still such than that the their theirs them themselves then there these they
thing things this those though through thru to too toward towards try tried tries trying under unless
until up upon us use used uses using very via want wanted wants was wasn wasnt way we well went were
weren what whatever when whenever where whether which while who whoever whom whose why will with within
without won wont would wouldn wouldnt yet you your yours yourself yourselves
able unable
hi hello hey dear greetings morning afternoon evening team folks guys all
thanks thank thx ty cheers regards best sincerely kind kindly warm appreciate appreciated
please pls plz help helps helped support issue issues problem problems question questions
hope hoping asap urgent urgently quick quickly look looking looked let know
work works working worked seem anymore today yesterday tonight currently recently lately
again suddenly still also just actually basically literally totally completely
happen happens happened happening experience experiencing noticed notice see seeing saw
whenever every time times
show shows showed shown showing say says said tell told ask asked come comes came coming go goes going
take takes took taken give gives gave given put last first next instead ago lot lots bit fine good
great nice useful possible one two three four five six seven eight nine ten add added adding new
"""

# Domain vocabulary the typo corrector may correct towards (stems of these, and of every synonym).
_STOP_WORDS = _STOP_WORDS_TEXT.split()

_DOMAIN_WORDS_TEXT = """
account accounts admin administrator alert analytics android api app application approve archive
attachment audit authentication authenticator automation available avatar backup balance banner
billing blank broken browser bug button cache calendar cancel cancellation card charge charged chart
checkout chrome click client column columns comment company connect connection contact copy credit
crash customer customers dashboard data database date deadline default delete deleted delivery
desktop device disconnect display document domain download draft dropdown duplicate edge edit editor
email emails empty encoding enterprise error event events excel expire expired export failed failure
feature field fields file files filter firefox folder font form format freeze frozen google graph
history import inbox integration integrations internet invitation invite invoice invoices iphone
keyboard label language layout license limit link load loading locked login logout message messages
missing mobile notification notifications number office order organization outlook page password
payment payments pdf permission permissions phone picture plan preview price pricing print printer
profile receipt receive received redirect refresh refund register registration reminder report
reports request reset response safari salesforce save saved schedule screen search security send
sent server session settings share sidebar signature slack slow spreadsheet status storage
subscription sync synchronization table template timeout timezone token trial update updated upgrade
upload user users verification verify video webhook website window workspace zapier
"""

_DOMAIN_WORDS = _DOMAIN_WORDS_TEXT.split()

# Each group: canonical term first, then words and phrases that mean the same to a customer.
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    (
        "login",
        "log in",
        "logging in",
        "logged in",
        "sign in",
        "signing in",
        "signed in",
        "signin",
        "log on",
        "logon",
        "log into",
        "sign into",
        "logins",
    ),
    ("logout", "log out", "logged out", "sign out", "signed out", "signout", "logging out", "kicked out"),
    ("signup", "sign up", "signing up", "register", "registration", "create an account"),
    ("sso", "single sign on", "saml", "okta", "azure ad", "entra", "onelogin", "identity provider", "idp"),
    ("password", "passwd", "pwd", "passcode", "passphrase"),
    (
        "2fa",
        "mfa",
        "two factor",
        "2 factor",
        "multi factor",
        "otp",
        "one time code",
        "authenticator",
        "verification code",
        "security code",
    ),
    (
        "crash",
        "freeze",
        "froze",
        "frozen",
        "hang",
        "hangs",
        "hung",
        "unresponsive",
        "not responding",
        "crashes",
        "crashed",
        "force close",
        "force quit",
    ),
    (
        "slow",
        "lag",
        "laggy",
        "lagging",
        "sluggish",
        "latency",
        "takes forever",
        "slowness",
        "very slow",
        "performance",
    ),
    ("error", "fail", "fails", "failed", "failing", "failure", "err", "exception", "broken"),
    ("invoice", "bill", "bills", "billing", "receipt", "invoices"),
    ("charge", "charged", "overcharged", "overcharge", "debited", "payment taken"),
    ("cancel", "cancelled", "canceled", "cancellation", "terminate"),
    ("refund", "money back", "reimburse", "reimbursement"),
    ("plan", "subscription", "tier", "package"),
    ("email", "e mail", "mail", "emails", "mails"),
    ("notification", "notify", "notif", "notifications", "alert", "alerts", "push"),
    ("delete", "remove", "erase", "wipe", "purge"),
    ("missing", "disappear", "disappeared", "vanished", "gone", "lost", "no longer there"),
    ("duplicate", "duplicated", "twice", "double", "doubled", "dupe", "dupes", "copies"),
    ("timezone", "time zone", "utc", "gmt", "daylight saving"),
    ("blank", "empty", "white screen", "blank screen", "nothing shows"),
    ("load", "loading", "spinner", "spinning", "spins", "stuck loading"),
    ("link", "url", "hyperlink", "links"),
    ("teammate", "colleague", "coworker", "co worker", "team member", "staff member", "seat"),
    ("invite", "invitation", "invited", "inviting"),
    ("image", "photo", "picture", "pic", "img", "screenshot"),
    ("chart", "graph", "graphs", "charts", "visualization", "widget"),
    ("wrong", "incorrect", "inaccurate", "mismatch", "off by", "doesn t match"),
    (
        "sync",
        "synchronize",
        "synchronise",
        "synchronization",
        "synchronisation",
        "syncing",
        "synced",
        "synch",
    ),
    ("spreadsheet", "excel", "xlsx", "xls", "google sheets", "sheets"),
    (
        "permission",
        "forbidden",
        "unauthorized",
        "unauthorised",
        "access denied",
        "not allowed",
        "privileges",
        "403",
    ),
    ("ios", "iphone", "ipad", "apple"),
    ("mobile", "phone app", "mobile app", "smartphone"),
    ("upload", "attach", "attachment", "attachments", "uploading"),
    ("download", "downloading", "save as"),
    ("reset", "recover", "recovery", "forgot"),
    ("webhook", "web hook", "callback", "callbacks"),
    ("integration", "integrate", "integrations", "connector", "connect app"),
    ("expire", "expired", "expiry", "expiration", "session ended", "no longer valid"),
    ("timeout", "timed out", "time out", "times out", "gateway timeout", "504"),
    ("locked", "lock out", "locked out", "lockout", "blocked"),
    ("dashboard", "home screen", "overview page"),
    ("search", "find", "lookup", "look up", "searching"),
    ("print", "printing", "printer", "printed"),
    ("dark mode", "dark theme", "night mode"),
    ("keyboard shortcut", "hotkey", "shortcut", "shortcuts"),
)


def light_stem(word: str) -> str:
    """Strip common English inflections: `crashes`, `crashed`, `crashing` → `crash`.

    Deliberately light (plurals, -ed, -ing, -ly, -ation, final -e, doubled consonants): a full Porter
    or Snowball stemmer conflates more (`general`/`generate`) and is no better on support text once the
    synonym map does the heavy lifting. The rule that matters is consistency: every inflection of a
    word must reach the same stem, even when the stem is not itself a word (`invoice` → `invoic`).
    """
    if not word.isascii() or not word.isalpha():
        return word
    if len(word) <= 3:
        # `add`/`added`, `app`/`apps`: undouble short words too, or their inflections would not meet.
        return word[:-1] if len(word) == 3 and word[-1] == word[-2] and word[-1] not in "aeioulsz" else word
    if word.endswith(("ies", "ied")):
        if len(word) > 4:
            word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing"):
        base = word[:-3]
        if len(base) >= 3 and _has_vowel(base):
            word = base
    elif word.endswith("ed") and not word.endswith("eed"):
        base = word[:-2]
        if len(base) >= 3 and _has_vowel(base):
            word = base
    if len(word) > 5 and word.endswith("ly") and not word.endswith("ply"):
        word = word[:-2]
    if len(word) >= 8 and word.endswith("ation"):
        word = word[:-3]
    if len(word) >= 4 and word.endswith("e"):
        word = word[:-1]
    if word[-1] == word[-2] and word[-1] not in "aeiousz" and (word[-1] != "l" or len(word) > 5):
        word = word[:-1]
    return word


def _has_vowel(text: str) -> bool:
    return any(char in "aeiouy" for char in text)


_URL = re.compile(r"(?:https?://|www\.)\S{0,2000}")
# Bounded repeats: an unbounded `[\w.]+@` backtracks quadratically over a long run of letters.
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# A line that starts a sign-off or a quoted reply; everything from it on is signature or history.
_SIGN_OFF = re.compile(
    r"^\s*(?:-{2,}\s*|_{2,}\s*"
    r"|(?:many |kind |best |warm |warmest )?"
    r"(?:thanks|thank you|thx|ty|regards|cheers|best|sincerely)\b.{0,40}"
    r"|sent from my\b.*|get outlook for\b.*|on .{4,120} wrote:\s*"
    r"|-+\s*original message\s*-+.*|from: .*)$",
    re.IGNORECASE,
)
_MAX_SIGNATURE_LINES = 8
_MAX_TOKEN_LENGTH = 30
# Text analysed per report: a pasted log or a whole e-mail thread says nothing more after this.
MAX_TEXT_LENGTH = 20_000
# Shorter words are too often another real word one letter away (`older` is not a typo of `order`).
_MIN_CORRECTABLE = 6
_MIN_REPLACEABLE = 7


def _fold(text: str) -> str:
    """Unicode-normalise, casefold and drop accents (`Café` → `cafe`), so spelling variants meet."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'").replace("`", "'")
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def strip_signature(text: str) -> str:
    """Drop quoted lines and everything from a sign-off line on (when only short lines follow it)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    for index, line in enumerate(lines):
        if index < 2 or not _SIGN_OFF.match(line):  # the subject and a first line are always content
            continue
        tail = lines[index + 1 :]
        if len(tail) <= _MAX_SIGNATURE_LINES and all(len(rest) <= 80 for rest in tail):
            return "\n".join(lines[:index])
        if line.strip().lower().startswith(("on ", "from:", "-")):  # quoted history: always cut
            return "\n".join(lines[:index])
    return "\n".join(lines)


class Analyzer:
    """Turns report text into index terms. Stateless apart from a cache of per-token results.

    The switches exist so the evaluation can show what each stage is worth (tests/test_similarity.py
    checks that the labelled set scores worse without synonyms or stemming).
    """

    def __init__(
        self,
        *,
        stemming: bool = True,
        synonyms: bool = True,
        typo_correction: bool = True,
        strip_signatures: bool = True,
    ) -> None:
        self._stemming = stemming
        self._typo_correction = typo_correction
        self._strip_signatures = strip_signatures
        self._stop: frozenset[str] = frozenset(self._stem(word) for word in _STOP_WORDS) | frozenset(
            _STOP_WORDS
        )
        self._synonyms: dict[str, str] = {}
        self._phrases: dict[tuple[str, ...], str] = {}
        if synonyms:
            for group in _SYNONYM_GROUPS:
                canonical = " ".join(self._stem(word) for word in group[0].split())
                for phrase in group:
                    stems = tuple(
                        self._stem(word) for word in _TOKEN.findall(_fold(phrase.replace("-", " ")))
                    )
                    if len(stems) == 1:
                        if stems[0] != canonical:
                            self._synonyms[stems[0]] = canonical
                    elif stems:
                        self._phrases[stems] = canonical
        # A word the synonym map knows is meaningful even if it looks like a stop word ("gone" → missing).
        self._stop -= set(self._synonyms) | set(self._synonyms.values())
        self._phrase_starts = frozenset(key[0] for key in self._phrases)
        self._max_phrase = max((len(key) for key in self._phrases), default=1)
        dictionary = {self._stem(word) for word in _DOMAIN_WORDS} | set(self._synonyms) | self._stop
        dictionary |= {stem for key in self._phrases for stem in key}
        self._dictionary = frozenset(dictionary)
        deletes: dict[str, str | None] = {}
        for stem in self._dictionary:
            if len(stem) >= _MIN_CORRECTABLE - 1 and stem.isalpha():
                for variant in _deletes(stem):
                    deletes[variant] = stem if deletes.get(variant, stem) == stem else None
        self._deletes = deletes
        self._cache: dict[str, str] = {}

    def _stem(self, word: str) -> str:
        return light_stem(word) if self._stemming else word

    def _correct(self, stem: str) -> str:
        """The dictionary stem one slip away from `stem`, if there is exactly one.

        A slip is a letter left out (`pasword`), doubled or added (`exportt`) or two neighbours swapped
        (`recieve`, `dashbaord`). A *replaced* letter is corrected only in long words (`calender`): in
        short ones that is how real words differ (`profit`/`profile`, `change`/`charge`), and the
        dictionary cannot tell a typo from a word it lacks.
        """
        if (
            len(stem) < _MIN_CORRECTABLE
            or stem in self._dictionary
            or not stem.isalpha()
            or not stem.isascii()
        ):
            return stem
        found: set[str] = set()
        exact = self._deletes.get(stem)  # a letter was left out
        if exact:
            found.add(exact)
        for variant in _deletes(stem):
            if variant in self._dictionary:  # a letter too many
                found.add(variant)
            near = self._deletes.get(variant)
            if near and (_swapped(stem, near) or len(stem) >= _MIN_REPLACEABLE):
                found.add(near)
        found = {word for word in found if word[0] == stem[0]}
        return found.pop() if len(found) == 1 else stem

    def _token_stem(self, token: str) -> str:
        """Stem of one raw token, '' when it carries no meaning (too long, long numbers)."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        word = token.split("'", 1)[0]
        if len(word) > _MAX_TOKEN_LENGTH or (word.isdigit() and not 3 <= len(word) <= 4):
            stem = ""
        elif any(char.isdigit() for char in word) and len(word) > 8:
            stem = ""  # order numbers, ticket ids, hashes: unique per report, so pure noise
        else:
            stem = self._stem(word)
            if self._typo_correction:
                stem = self._correct(stem)
        if len(self._cache) >= _TOKEN_CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = stem
        return stem

    def tokens(self, text: str) -> list[str]:
        """Raw folded tokens of `text`, after URL, quoted-reply and signature removal."""
        text = _fold(text[:MAX_TEXT_LENGTH])
        if self._strip_signatures:
            text = strip_signature(text)
        # Guarded: most reports hold neither, and a regex pass over the text is not free.
        if "://" in text or "www." in text:
            text = _URL.sub(" ", text)
        if "@" in text:
            text = _EMAIL.sub(" ", text)
        return _TOKEN.findall(text.replace("-", " ").replace("/", " "))

    def terms(self, text: str) -> list[str]:
        """Index terms of `text`, repeated as often as they occur."""
        return self.terms_and_surfaces(self.tokens(text))[0]

    def terms_and_surfaces(self, tokens: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """Terms of `tokens`, and (surface word, term) pairs for the typeahead's prefix lookup."""
        stems = [self._token_stem(token) for token in tokens]
        terms: list[str] = []
        surfaces: list[tuple[str, str]] = []
        index, count = 0, len(stems)
        while index < count:
            stem = stems[index]
            if stem in self._phrase_starts:
                for size in range(min(self._max_phrase, count - index), 1, -1):
                    canonical = self._phrases.get(tuple(stems[index : index + size]))
                    if canonical is not None:
                        terms.append(canonical)
                        index += size
                        break
                else:
                    canonical = None
                if canonical is not None:
                    continue
            index += 1
            if not stem or stem in self._stop:
                continue
            term = self._synonyms.get(stem, stem)
            terms.append(term)
            surfaces.append((tokens[index - 1], term))
        return terms, surfaces

    def vocabulary(self) -> Iterable[tuple[str, str]]:
        """(word, term) for every single word of the synonym map, so typeahead completes `bil` → invoice."""
        for group in _SYNONYM_GROUPS:
            for phrase in group:
                if " " not in phrase:
                    found = self.terms(phrase)
                    if len(found) == 1:
                        yield _fold(phrase), found[0]


def _deletes(word: str) -> list[str]:
    return [word[:index] + word[index + 1 :] for index in range(len(word))]


def _swapped(word: str, other: str) -> bool:
    """Whether `other` is `word` with two neighbouring letters swapped."""
    if len(word) != len(other):
        return False
    diff = [index for index, (a, b) in enumerate(zip(word, other, strict=True)) if a != b]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and word[diff[0]] == other[diff[1]]
        and word[diff[1]] == other[diff[0]]
    )


# ------------------------------------------------------------------------------------------- index


class _Postings:
    """Per term: the slots of the reports holding it, and their first-pass weights.

    One instance holds the open reports and another the closed ones, so `similar()` (open problems
    only) never spends its budget walking closed reports, which in a long-lived workspace are most of
    them. Entries of removed reports stay until their list is half stale, then the list is compacted.
    """

    __slots__ = ("slots", "stale", "weights")

    def __init__(self) -> None:
        self.slots: list[array[int]] = []
        self.weights: list[array[float]] = []  # tf weight / report length, float32
        self.stale: list[int] = []

    def add_term(self) -> None:
        self.slots.append(array("i"))
        self.weights.append(array("f"))
        self.stale.append(0)

    def add(self, slot: int, term_ids: array[int], weights: list[float]) -> None:
        for term_id, weight in zip(term_ids, weights, strict=True):
            self.slots[term_id].append(slot)
            self.weights[term_id].append(weight)

    def drop(self, term_ids: array[int], state: bytearray) -> None:
        """Count a removed report's entries as stale; compact lists that became half stale."""
        for term_id in term_ids:
            self.stale[term_id] += 1
            if self.stale[term_id] > 4 and self.stale[term_id] * 2 > len(self.slots[term_id]):
                slots, weights = self.slots[term_id], self.weights[term_id]
                keep = [index for index, slot in enumerate(slots) if state[slot] != _DEAD]
                self.slots[term_id] = array("i", [slots[index] for index in keep])
                self.weights[term_id] = array("f", [weights[index] for index in keep])
                self.stale[term_id] = 0


class ProblemIndex:
    """Reports (documents) grouped into problems, searchable by similarity and by keyword.

    A report lives in a *slot*. Slot numbers only grow and a slot never changes: re-indexing a report,
    or opening or closing its problem, gives it a new slot and leaves the old one dead, so no update
    ever has to find and rewrite the postings of all its terms at once.
    """

    def __init__(
        self,
        *,
        analyzer: Analyzer | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
        posting_budget: int = DEFAULT_POSTING_BUDGET,
    ) -> None:
        self.analyzer = analyzer or Analyzer()
        self.min_score = min_score
        self._budget = posting_budget
        # Terms.
        self._term_ids: dict[str, int] = {}
        self._df: list[int] = []  # live reports containing the term, open or closed
        self._open = _Postings()
        self._closed = _Postings()
        # Slots.
        self._slot_terms: list[array[int] | None] = []  # sorted term ids; None once dead
        self._slot_tf: list[bytes | None] = []  # term frequencies (capped at 255); None when all are 1
        # Each report's tf-idf vector length, and the report count it was computed at: idf drifts as the
        # index grows, so a length older than _NORM_DRIFT of the index is recomputed when next needed.
        self._slot_norm = array("f")
        self._slot_norm_at = array("q")
        self._slot_problem: list[int] = []
        self._slot_issue: list[int] = []
        self._slot_state = bytearray()
        self._issue_slot: dict[int, int] = {}
        # Arrays rather than lists: 100,000 small lists would all be walked by every full GC pass.
        self._problem_slots: dict[int, array[int]] = {}
        # Typeahead: sorted surface words and the term each maps to.
        self._surface_term: dict[str, int] = {}
        self._surfaces: list[str] = []
        for word, term in self.analyzer.vocabulary():
            self._add_surface(word, self._term_id(term))

    def __len__(self) -> int:
        return len(self._issue_slot)

    # ------------------------------------------------------------------------------------ writing

    def upsert(self, issue_id: int, problem_id: int, text: str, *, is_open: bool) -> None:
        """Index a report, or replace one: its text, its problem (a merge) and its problem's open flag.

        The open flag belongs to the problem, so it applies to every report of `problem_id`.
        """
        terms, surfaces = self.analyzer.terms_and_surfaces(self.analyzer.tokens(text))
        counts = Counter(self._term_id(term) for term in terms)
        for word, term in surfaces:
            if word not in self._surface_term:
                self._add_surface(word, self._term_id(term))
        term_ids = array("i", sorted(counts))
        tf = bytes(min(counts[term], 255) for term in term_ids) if len(terms) > len(counts) else None
        slot = self._issue_slot.get(issue_id)
        if slot is not None and self._slot_terms[slot] == term_ids and self._slot_tf[slot] == tf:
            # Same text: a merge or a reopening only moves the report.
            if self._slot_problem[slot] != problem_id:
                self._detach(slot)
                self._slot_problem[slot] = problem_id
                self._problem_slots.setdefault(problem_id, array("q")).append(slot)
        else:
            if slot is not None:
                self._kill(slot)
            self._add_slot(issue_id, problem_id, term_ids, tf, is_open)
        self._set_open(problem_id, is_open)

    def remove(self, issue_id: int) -> None:
        """Forget a report (unknown ids are ignored)."""
        slot = self._issue_slot.get(issue_id)
        if slot is not None:
            self._kill(slot)

    def set_problem_open(self, problem_id: int, is_open: bool) -> None:
        """Open or close every report of a problem (unknown problems are ignored)."""
        self._set_open(problem_id, is_open)

    def _set_open(self, problem_id: int, is_open: bool) -> None:
        state = _OPEN if is_open else _CLOSED
        for slot in list(self._problem_slots.get(problem_id, ())):
            if self._slot_state[slot] != state:
                term_ids, tf = self._slot_terms[slot], self._slot_tf[slot]
                assert term_ids is not None  # live slot
                issue_id = self._slot_issue[slot]
                self._kill(slot)
                self._add_slot(issue_id, problem_id, term_ids, tf, is_open)

    def _term_id(self, term: str) -> int:
        term_id = self._term_ids.get(term)
        if term_id is None:
            term_id = self._term_ids[term] = len(self._df)
            self._df.append(0)
            self._open.add_term()
            self._closed.add_term()
        return term_id

    def _add_surface(self, word: str, term_id: int) -> None:
        self._surface_term[word] = term_id
        insort(self._surfaces, word)

    def _add_slot(
        self, issue_id: int, problem_id: int, term_ids: array[int], tf: bytes | None, is_open: bool
    ) -> None:
        slot = len(self._slot_problem)
        weights = [1.0 + math.log(n) for n in tf] if tf is not None else [1.0] * len(term_ids)
        norm = math.sqrt(sum(weight * weight for weight in weights)) or 1.0
        (self._open if is_open else self._closed).add(slot, term_ids, [weight / norm for weight in weights])
        for term_id in term_ids:
            self._df[term_id] += 1
        self._slot_terms.append(term_ids)
        self._slot_tf.append(tf)
        self._slot_problem.append(problem_id)
        self._slot_issue.append(issue_id)
        self._slot_state.append(_OPEN if is_open else _CLOSED)
        self._issue_slot[issue_id] = slot
        self._problem_slots.setdefault(problem_id, array("q")).append(slot)
        self._slot_norm.append(self._vector_length(term_ids, tf))
        self._slot_norm_at.append(len(self._issue_slot))

    def _kill(self, slot: int) -> None:
        self._detach(slot)
        del self._issue_slot[self._slot_issue[slot]]
        postings = self._open if self._slot_state[slot] == _OPEN else self._closed
        self._slot_state[slot] = _DEAD
        term_ids = self._slot_terms[slot]
        assert term_ids is not None  # live slot
        self._slot_terms[slot] = None
        self._slot_tf[slot] = None
        for term_id in term_ids:
            self._df[term_id] -= 1
        postings.drop(term_ids, self._slot_state)

    def _detach(self, slot: int) -> None:
        problem_id = self._slot_problem[slot]
        slots = self._problem_slots[problem_id]
        slots.remove(slot)
        if not slots:
            del self._problem_slots[problem_id]

    # ------------------------------------------------------------------------------------ reading

    def similar(self, text: str, *, limit: int = 3, exclude_problem: int | None = None) -> list[Match]:
        """Open problems that look like the report `text`, best first, only above `min_score`."""
        counts = Counter(self.analyzer.terms(text))
        weights: dict[int, float] = {}
        norm_sq = 0.0
        for term, n in counts.items():
            term_id = self._term_ids.get(term)
            # A word no report has still counts (maximal idf) in the query's norm: it makes this
            # report different from every indexed one, so it must lower the similarity.
            weight = self._idf_of(0 if term_id is None else self._df[term_id]) * (1.0 + math.log(n))
            norm_sq += weight * weight
            if term_id is not None:
                weights[term_id] = weight
        if not weights:
            return []
        scored = self._score(
            weights,
            {},
            math.sqrt(norm_sq),
            (self._open,),
            exclude_problem,
            RESCORE_CANDIDATES,
            MIN_SHARED_TERMS,
        )
        return self._by_problem(scored, limit, self.min_score)

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        open_only: bool = False,
        prefix: bool = False,
        exclude_problem: int | None = None,
    ) -> list[Match]:
        """Problems whose reports share a term with `query`, best first.

        With `prefix`, the last word may be unfinished (a typeahead): it matches every indexed word it
        begins, keeping the most common completions. A query ending in a space has no unfinished word.
        """
        tokens = self.analyzer.tokens(query)
        partial: str | None = None
        if prefix and tokens and not query[-1:].isspace():
            partial = tokens.pop()
        expansions: dict[int, float] = {}
        if partial is not None:
            for completion in self._complete(partial):
                expansions[completion] = self._idf(completion) ** 2
        weights: dict[int, float] = {}
        for term, n in Counter(self.analyzer.terms_and_surfaces(tokens)[0]).items():
            term_id = self._term_ids.get(term)
            if term_id is not None and self._df[term_id] and term_id not in expansions:
                weights[term_id] = self._idf(term_id) * (1.0 + math.log(n))
        if not weights and not expansions:
            return []
        norm_sq = sum(weight * weight for weight in weights.values()) + max(expansions.values(), default=0.0)
        sources = (self._open,) if open_only else (self._open, self._closed)
        candidates = max(RESCORE_CANDIDATES, 8 * limit)
        scored = self._score(weights, expansions, math.sqrt(norm_sq), sources, exclude_problem, candidates, 1)
        return self._by_problem(scored, limit, 0.0)

    def _complete(self, partial: str) -> list[int]:
        """Term ids an unfinished word may become: its own term, then its commonest completions."""
        found: set[int] = set()
        for term in self.analyzer.terms_and_surfaces([partial])[0]:
            term_id = self._term_ids.get(term)
            if term_id is not None and self._df[term_id]:
                found.add(term_id)
        if len(partial) >= MIN_PREFIX:
            surfaces, df = self._surfaces, self._df
            start = bisect_left(surfaces, partial)
            completions: set[int] = set()
            for word in surfaces[start : start + _PREFIX_SCAN_LIMIT]:
                if not word.startswith(partial):
                    break
                term_id = self._surface_term[word]
                if df[term_id]:
                    completions.add(term_id)
            found.update(heapq.nlargest(MAX_PREFIX_EXPANSIONS, completions, key=df.__getitem__))
        return sorted(found)

    def _idf(self, term_id: int) -> float:
        return self._idf_of(self._df[term_id])

    def _idf_of(self, df: int) -> float:
        return math.log((len(self._issue_slot) + 1) / (df + 1)) + 1.0

    def _score(
        self,
        weights: dict[int, float],
        alternatives: dict[int, float],
        query_norm: float,
        sources: tuple[_Postings, ...],
        exclude_problem: int | None,
        candidates: int,
        min_shared: int,
    ) -> list[tuple[int, float]]:
        """(slot, cosine) of the best candidate reports; 0 for those sharing fewer than `min_shared` terms.

        `weights` are query term weights (idf * tf); `alternatives` are prefix completions, of which a
        report counts only its best (weight idf^2, as a query term of tf 1).
        """
        # What a term adds to the dot product per unit of the report's tf weight: idf^2 * query tf.
        products = {term_id: weight * self._idf(term_id) for term_id, weight in weights.items()}
        lists = [
            (weight, source.slots[term_id], source.weights[term_id])
            for term_id, weight in (*products.items(), *alternatives.items())
            for source in sources
            if source.slots[term_id]
        ]
        lists.sort(key=lambda item: len(item[1]))  # rarest first
        acc: dict[int, float] = {}
        budget = self._budget
        for weight, slots, post_weights in lists:
            if len(slots) > budget:
                if acc:
                    break  # the rest are too common to be worth the time; rescoring still counts them
                slots, post_weights = slots[-budget:], post_weights[-budget:]  # the newest reports
            budget -= len(slots)
            get = acc.get
            for slot, post_weight in zip(slots, post_weights, strict=True):
                acc[slot] = get(slot, 0.0) + weight * post_weight
        if exclude_problem is not None:
            for slot in self._problem_slots.get(exclude_problem, ()):
                acc.pop(slot, None)
        state = self._slot_state
        if len(acc) <= candidates:
            best = [slot for slot in acc if state[slot] != _DEAD]
        else:
            # The k-th best value over a plain float list is much cheaper than nlargest with a key.
            cut = heapq.nlargest(candidates, acc.values())[-1]
            best = [slot for slot, value in acc.items() if value >= cut and state[slot] != _DEAD]
            if len(best) < candidates // 2:  # stale entries crowded the top: select among live ones
                best = heapq.nlargest(
                    candidates, (slot for slot in acc if state[slot] != _DEAD), key=acc.__getitem__
                )
            elif len(best) > candidates:  # ties at the cut
                best = heapq.nlargest(candidates, best, key=acc.__getitem__)
        return [(slot, self._cosine(slot, products, alternatives, query_norm, min_shared)) for slot in best]

    def _cosine(
        self,
        slot: int,
        products: dict[int, float],
        alternatives: dict[int, float],
        query_norm: float,
        min_shared: int,
    ) -> float:
        term_ids = self._slot_terms[slot]
        assert term_ids is not None  # live slots only
        tf = self._slot_tf[slot]
        log = math.log
        get = products.get
        if tf is None and not alternatives:  # the common case, at C speed
            hits = [product for product in map(get, term_ids) if product is not None]
            shared, dot = len(hits), sum(hits)
        else:
            dot = best_alternative = 0.0
            shared = 0
            for position, term_id in enumerate(term_ids):
                tf_weight = 1.0 if tf is None else 1.0 + log(tf[position])
                product = get(term_id)
                if product is not None:
                    dot += product * tf_weight
                    shared += 1
                elif term_id in alternatives:
                    best_alternative = max(best_alternative, alternatives[term_id] * tf_weight)
            if best_alternative:
                dot += best_alternative
                shared += 1
        if shared < min_shared or not query_norm:
            return 0.0
        reports = len(self._issue_slot)
        norm = self._slot_norm[slot]
        if abs(reports - self._slot_norm_at[slot]) > reports * _NORM_DRIFT:
            norm = self._slot_norm[slot] = self._vector_length(term_ids, tf)
            self._slot_norm_at[slot] = reports
        return dot / (norm * query_norm) if norm else 0.0

    def _vector_length(self, term_ids: array[int], tf: bytes | None) -> float:
        """Length of a report's tf-idf vector under the index's current idf."""
        n, df, log = len(self._issue_slot) + 1, self._df, math.log
        norm_sq = 0.0
        for position, term_id in enumerate(term_ids):
            idf = log(n / (df[term_id] + 1)) + 1.0
            weight = idf if tf is None else idf * (1.0 + log(tf[position]))
            norm_sq += weight * weight
        return math.sqrt(norm_sq)

    def _by_problem(self, scored: list[tuple[int, float]], limit: int, min_score: float) -> list[Match]:
        best: dict[int, float] = {}
        problem = self._slot_problem
        for slot, score in scored:
            if score > 0.0 and score >= min_score:
                problem_id = problem[slot]
                if score > best.get(problem_id, 0.0):
                    best[problem_id] = score
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[: max(limit, 0)]
        return [Match(problem_id, round(score, 4)) for problem_id, score in ranked]
