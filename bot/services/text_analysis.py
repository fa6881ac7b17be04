"""How a report's text becomes search terms: the same for what is stored and what is looked up.

Everything here is a maintained library's work, put in order:

* the language of each report, detected by py3langid (restricted to the languages we can stem, so a
  short English subject is not taken for Latin); too little text to tell → `default_language`;
* no stop-word list: BM25's IDF already weighs "the" and "how" to nearly nothing, and the lists at
  hand (the `stop-words` package: 1,333 English words, "big", "new" and "down" among them) cost
  recall on every real set we measured (docs/matching.md); only the greetings and thanks every
  message opens and closes with are dropped;
* Snowball stemmers (PyStemmer), one per language, so "invoices"/"invoice" and
  "exportación"/"exportar" meet;
* code-like tokens (error codes, identifiers, versions: `ERR_TIMEOUT`, `E1234`, `v2.3.1`) kept whole
  as one term, besides their word parts, because a shared error code says more than any word;
* domain synonyms (`matching.synonyms`: a canonical word and the words or phrases that mean it);
* the subject counted twice: a report's first line says what it is about more than its body does.

Typo tolerance is at lookup time (`bot.services.problem_search`), against the terms the database
already holds, with rapidfuzz.

Terms are plain lower-case strings without spaces, accents or punctuation, so both databases store and
match them as they are (SQLite FTS5, PostgreSQL `tsvector`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import Stemmer
from py3langid.langid import MODEL_FILE, LanguageIdentifier

# ISO 639-1 code → PyStemmer's Snowball algorithm
LANGUAGES: dict[str, str] = {
    "en": "english",
    "es": "spanish",
    "pt": "portuguese",
    "fr": "french",
    "de": "german",
    "it": "italian",
    "nl": "dutch",
}
DEFAULT_LANGUAGE = "en"
# Fewer words than this, or a detection less sure than MIN_CONFIDENCE: the default language.
MIN_WORDS_TO_DETECT = 4
MIN_CONFIDENCE = 0.8

# What every support message says, whatever its problem (added to each language's own list).
SALUTATIONS = {
    "en": "hi hello hey dear thanks thank regards cheers please team folks guys morning afternoon",
    "es": "hola buenas buenos gracias saludos favor equipo dias tardes",
    "pt": "ola obrigado obrigada saudacoes favor equipe bom dia",
    "fr": "bonjour salut merci cordialement equipe svp",
    "de": "hallo danke gruesse gruss bitte team",
    "it": "ciao salve grazie saluti cordiali favore",
    "nl": "hallo hoi bedankt dank groeten alstublieft team",
}

# A small default for `matching.synonyms`; a workspace's own list replaces it.
DEFAULT_SYNONYMS: dict[str, list[str]] = {
    "login": ["log in", "log-in", "logon", "sign in", "signin", "sign-in"],
    "logout": ["log out", "sign out", "signout"],
    "signup": ["sign up", "register", "registration"],
    "large": ["big", "huge"],
    "error": ["failure"],
    "email": ["e-mail", "mail"],
    "slow": ["sluggish", "laggy"],
}

MAX_TEXT_LENGTH = 20_000  # characters of one report looked at (subject and body)
MAX_TOKEN_LENGTH = 40
MAX_TERMS = 400  # per report: a pasted log does not make one report outweigh the rest

_TOKEN = re.compile(r"[^\W_]+(?:[._\-/:][^\W_]+)*|[^\W\d]*_[\w]+")
_SPLIT = re.compile(r"[._\-/:]+")
_URL = re.compile(r"(?:https?://|www\.)\S{0,2000}")
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_CAMEL = re.compile(r"[a-z][A-Z]")


def fold(text: str) -> str:
    """Lower case without accents: "Exportación" → "exportacion"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _is_code(token: str) -> bool:
    """An identifier, error code or version rather than a word."""
    return (
        any(ch.isdigit() for ch in token)
        or "_" in token
        or (len(_SPLIT.split(token)) > 1 and not token.replace("-", "").isalpha())
        or bool(_CAMEL.search(token))
    )


@cache
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(sorted(LANGUAGES))
    return identifier


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(LANGUAGES[language])


@cache
def _stop_words(language: str) -> frozenset[str]:
    return frozenset(SALUTATIONS.get(language, "").split())


def detect_language(text: str, default: str = DEFAULT_LANGUAGE) -> str:
    words = _TOKEN.findall(text[:2000])
    if len(words) < MIN_WORDS_TO_DETECT:
        return default
    language, confidence = _identifier().classify(" ".join(words))
    return str(language) if confidence >= MIN_CONFIDENCE and language in LANGUAGES else default


@dataclass(frozen=True)
class Analysed:
    language: str
    terms: list[str]  # in order, the subject's twice; what is stored and scored

    @property
    def text(self) -> str:
        return " ".join(self.terms)


class Analyzer:
    def __init__(
        self, synonyms: Mapping[str, Sequence[str]] | None = None, default_language: str = DEFAULT_LANGUAGE
    ) -> None:
        self.default_language = default_language if default_language in LANGUAGES else DEFAULT_LANGUAGE
        self.synonyms = dict(DEFAULT_SYNONYMS if synonyms is None else synonyms)
        self._words = lru_cache(maxsize=100_000)(self._word_terms)

    # ------------------------------------------------------------------------------ tokens to terms

    def _word_terms(self, token: str, language: str) -> tuple[str, ...]:
        """The terms of one token: a stemmed word, or a code kept whole plus its word parts."""
        if len(token) > MAX_TOKEN_LENGTH:
            return ()
        if _is_code(token):
            whole = "".join(ch for ch in fold(token) if ch.isalnum())
            parts = [p for p in _SPLIT.split(_CAMEL.sub(lambda m: m[0][0] + " " + m[0][1], token)) if p]
            out = [whole]
            for part in " ".join(parts).split():
                if part.isalpha() and len(part) > 2:
                    out.extend(self._word_terms(part.lower(), language))
            return tuple(dict.fromkeys(t for t in out if t))
        word = token.lower()
        folded = fold(word)
        if folded in _stop_words(language) or len(folded) < 2:
            return ()
        stem = fold(_stemmer(language).stemWord(word))
        return (stem,) if stem else ()

    def words(self, text: str, language: str) -> list[str]:
        text = _EMAIL.sub(" ", _URL.sub(" ", text[:MAX_TEXT_LENGTH]))
        out: list[str] = []
        for token in _TOKEN.findall(text):
            out.extend(self._words(token, language))
        return out

    @lru_cache(maxsize=16)  # noqa: B019 - one table per language, kept for the analyser's life
    def _synonym_table(self, language: str) -> tuple[dict[str, str], dict[tuple[str, ...], str]]:
        single: dict[str, str] = {}
        phrases: dict[tuple[str, ...], str] = {}
        for canonical, variants in self.synonyms.items():
            target = self._raw_terms(canonical, language)
            if len(target) != 1:
                continue
            for variant in variants:
                terms = tuple(self._raw_terms(variant, language))
                if len(terms) == 1:
                    single[terms[0]] = target[0]
                elif len(terms) > 1:
                    phrases[terms] = target[0]
        return single, phrases

    def _raw_terms(self, text: str, language: str) -> list[str]:
        # Synonym phrases keep their function words ("log in"): stem without the stop list.
        out = []
        for token in _TOKEN.findall(text):
            stem = fold(_stemmer(language).stemWord(token.lower()))
            if stem:
                out.append(stem)
        return out

    # ------------------------------------------------------------------------------------ reports

    def analyse(self, subject: str, body: str, language: str | None = None) -> Analysed:
        language = language or detect_language(f"{subject}\n{body}", self.default_language)
        subject_terms = self.terms(subject, language)
        body_terms = self.terms(body, language)
        terms = (subject_terms * 2 + body_terms)[:MAX_TERMS]
        return Analysed(language=language, terms=terms)

    def terms(self, text: str, language: str) -> list[str]:
        # A phrase ("sign in") adds its canonical word; single words are replaced by theirs.
        single, phrases = self._synonym_table(language)
        found = []
        if phrases:
            raw = self._raw_terms(text[:MAX_TEXT_LENGTH], language)
            found = [canonical for phrase, canonical in phrases.items() if _contains(raw, phrase)]
        out = [single.get(t, t) for t in self.words(text, language)]
        return out + found

    def query(self, text: str, language: str | None = None) -> Analysed:
        language = language or detect_language(text, self.default_language)
        return Analysed(language=language, terms=self.terms(text, language))


def _contains(terms: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(terms[i : i + n]) == phrase for i in range(len(terms) - n + 1))


def distinct(terms: Iterable[str]) -> list[str]:
    return sorted(set(terms))
