"""What a human reply says, by rules: the new text (quoted history cut off), an unsubscribe
request in words in its first lines (several languages), its category with a confidence,
and an out-of-office notice's return date.

Rules, not a model: each category has weighted phrases; the confidence grows with the
winner's score and shrinks when another category scores close to it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

CATEGORIES = (
    "interested",
    "not_interested",
    "meeting_request",
    "out_of_office",
    "wrong_person",
    "unsubscribe",
)

# How many non-empty lines of the new text an unsubscribe request must appear in.
UNSUBSCRIBE_LINES = 3

_QUOTE_STARTS = re.compile(
    r"^(?:On .{4,200} wrote:|Am .{4,200} schrieb .{0,200}:|Le .{4,200} a écrit\s*:"
    r"|El .{4,200} escribió:|Il .{4,200} ha scritto:|Op .{4,200} schreef .{0,200}:"
    r"|-{2,}\s*Original Message\s*-{2,}|-{2,}\s*Ursprüngliche Nachricht\s*-{2,}"
    r"|_{10,}|From:\s.+|Von:\s.+|De\s?:\s.+)$",
    re.IGNORECASE,
)

_UNSUBSCRIBE = (
    # English
    "unsubscribe",
    "remove me",
    "take me off",
    "opt me out",
    "opt out",
    "stop emailing",
    "stop sending",
    "stop contacting",
    "do not email",
    "don't email",
    "do not contact",
    "don't contact",
    "no more emails",
    # German
    "abmelden",
    "austragen",
    "entfernen sie mich",
    "keine e-mails mehr",
    "keine emails mehr",
    # French
    "desabonner",
    "desinscrire",
    "desinscrivez",
    "retirez-moi",
    "retirez moi",
    "ne plus recevoir",
    # Spanish
    "darme de baja",
    "dar de baja",
    "denme de baja",
    "eliminame",
    "no quiero recibir",
    # Italian
    "cancellami",
    "disiscrivi",
    "rimuovimi",
    "non voglio ricevere",
    # Dutch
    "afmelden",
    "uitschrijven",
    "verwijder mij",
    "verwijder me",
    # Portuguese
    "descadastrar",
    "descadastre",
    "remova-me",
    "remover da lista",
)

_RULES: dict[str, tuple[tuple[str, float], ...]] = {
    "not_interested": (
        ("not interested", 3.0),
        ("no interest", 2.5),
        ("no thanks", 2.5),
        ("no thank you", 2.5),
        ("not a fit", 2.5),
        ("not a good fit", 2.5),
        ("we're all set", 2.0),
        ("we are all set", 2.0),
        ("not looking", 2.0),
        ("not at this time", 1.5),
        ("not right now", 1.5),
        ("we already have", 1.5),
        ("please don't follow up", 2.0),
        ("kein interesse", 3.0),
        ("pas interesse", 3.0),
        ("no me interesa", 3.0),
        ("no estamos interesados", 3.0),
    ),
    "meeting_request": (
        ("schedule a call", 3.0),
        ("schedule a meeting", 3.0),
        ("set up a call", 3.0),
        ("set up a meeting", 3.0),
        ("book a time", 2.5),
        ("book a call", 2.5),
        ("hop on a call", 2.5),
        ("jump on a call", 2.5),
        ("let's meet", 2.5),
        ("what time works", 2.5),
        ("when are you available", 2.5),
        ("are you free", 2.0),
        ("calendly", 2.5),
        ("my calendar", 2.0),
        ("send me an invite", 2.5),
        ("send an invite", 2.5),
        ("a quick call", 2.0),
        ("demo", 1.5),
        ("termin", 2.0),
        ("rendez-vous", 2.5),
        ("una llamada", 2.5),
    ),
    "interested": (
        ("interested", 2.0),
        ("tell me more", 2.5),
        ("sounds good", 2.0),
        ("sounds interesting", 2.5),
        ("more information", 2.0),
        ("more info", 2.0),
        ("send me", 1.0),
        ("pricing", 1.5),
        ("how much", 1.5),
        ("let's talk", 2.0),
        ("yes please", 2.5),
        ("i'd like to learn", 2.5),
        ("love to hear more", 2.5),
        ("interessiert", 2.0),
        ("interesse", 1.5),
        ("me interesa", 2.0),
    ),
    "wrong_person": (
        ("wrong person", 3.0),
        ("not the right person", 3.0),
        ("not the person", 2.5),
        ("no longer with", 3.0),
        ("no longer works", 3.0),
        ("left the company", 3.0),
        ("not responsible for", 2.5),
        ("i don't handle", 2.5),
        ("reach out to", 1.5),
        ("you should contact", 2.0),
        ("right contact", 2.0),
        ("forwarded your email to", 2.0),
        ("nicht zuständig", 3.0),
        ("pas la bonne personne", 3.0),
    ),
}

_OOO_PHRASES = (
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "autoreply",
    "on vacation",
    "on holiday",
    "on leave",
    "parental leave",
    "i am away",
    "i'm away",
    "away from the office",
    "limited access to email",
    "limited access to e-mail",
    "abwesenheitsnotiz",
    "nicht im büro",
    "abwesend",
    "absent du bureau",
    "réponse automatique",
    "fuera de la oficina",
    "respuesta automática",
    "fuori ufficio",
    "afwezig",
)
OOO_SUBJECTS = (
    "automatic reply",
    "auto:",
    "autoreply",
    "auto-reply",
    "out of office",
    "out of the office",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "automatisch antwoord",
    "vacation",
)

_MONTHS = {
    name: n
    for n, names in enumerate(
        (
            ("january", "jan", "januar", "janvier", "enero", "gennaio", "januari"),
            ("february", "feb", "februar", "fevrier", "febrero", "febbraio", "februari"),
            ("march", "mar", "marz", "mars", "marzo", "maart"),
            ("april", "apr", "avril", "abril", "aprile"),
            ("may", "mai", "mayo", "maggio", "mei"),
            ("june", "jun", "juni", "juin", "junio", "giugno"),
            ("july", "jul", "juli", "juillet", "julio", "luglio"),
            ("august", "aug", "aout", "agosto", "augustus"),
            ("september", "sep", "sept", "septembre", "septiembre", "settembre"),
            ("october", "oct", "oktober", "octobre", "octubre", "ottobre"),
            ("november", "nov", "novembre", "noviembre"),
            ("december", "dec", "dezember", "decembre", "diciembre", "dicembre"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
# Words after which a date is the return date (not the date the absence started).
_RETURN_CUES = re.compile(
    r"(?:back|return(?:ing)?|returns|until|till|through|in the office|available again"
    r"|zurück|bis|wieder|de retour|jusqu'au|retour le|hasta|regreso|vuelvo|fino al|rientro"
    r"|terug)\b[^.\n]{0,40}?",
    re.IGNORECASE,
)
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})[./](\d{1,2})(?:[./](\d{2,4}))?\b")
_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th|er|\.)?\s+(?:de\s+)?({_MONTH_NAMES})\.?(?:\s+(\d{{4}}))?\b"
)
_MONTH_DAY = re.compile(
    rf"\b({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b"
)


@lru_cache(maxsize=2048)
def fold_phrase(phrase: str) -> str:
    """A constant phrase folded once."""
    return fold(phrase)


def fold(text: str) -> str:
    """Lower case without accents and with straight apostrophes, for phrase matching."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def new_text(body: str) -> str:
    """The reply's own words: quoted lines (`>`) dropped and everything from the first
    quote header ("On ... wrote:", "-----Original Message-----", a `From:` block) cut."""
    kept: list[str] = []
    for line in body.splitlines():
        stripped = line.strip()
        if _QUOTE_STARTS.match(stripped):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def asks_to_unsubscribe(text: str) -> str | None:
    """The phrase, when one of the first lines asks to be removed."""
    lines = [fold(line) for line in text.splitlines() if line.strip()][:UNSUBSCRIBE_LINES]
    for line in lines:
        for phrase in _UNSUBSCRIBE:
            if phrase in line:
                return phrase
    return None


def mentions_out_of_office(text: str) -> str | None:
    lowered = fold(text)
    for phrase in _OOO_PHRASES:
        if fold_phrase(phrase) in lowered:
            return phrase
    return None


@dataclass(frozen=True)
class Category:
    name: str | None  # one of CATEGORIES, or None when nothing matched
    confidence: float  # 0..1
    matched: tuple[str, ...] = ()


def categorize(text: str) -> Category:
    """The category of a human reply's new text."""
    folded = fold(text)
    if not folded.strip():
        return Category(None, 0.0)
    scores: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    for name, phrases in _RULES.items():
        for phrase, weight in phrases:
            if fold_phrase(phrase) in folded:
                scores[name] = scores.get(name, 0.0) + weight
                matched.setdefault(name, []).append(phrase)
    # "not interested" contains "interested": the negative wins the shared words.
    if "not_interested" in scores and "interested" in scores:
        scores["interested"] -= 2.0 * sum(1 for p in matched["not_interested"] if "interes" in p)
        if scores["interested"] <= 0:
            scores.pop("interested")
    if not scores:
        return Category(None, 0.0)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    strength = min(score / 4.0, 1.0)  # one strong phrase ~0.75, two ~1
    margin = (score - runner_up) / score
    confidence = round(max(0.05, min(0.95, 0.3 + 0.65 * strength * margin)), 2)
    return Category(best, confidence, tuple(matched[best]))


def return_date(text: str, received: datetime | None) -> date | None:
    """The date an out-of-office notice says its writer is back, when it says one after a
    cue ("back on", "until", "zurück am", ...). A date without a year is the next such date
    after the message was received; a numeric `d/m` reads day first unless that is no date."""
    anchor = (received or datetime(2000, 1, 1)).date()
    for cue in _RETURN_CUES.finditer(text):
        window = fold(text[cue.start() : cue.end() + 60])
        found = _first_date(window, anchor)
        if found is not None:
            return found
    return None


def _first_date(window: str, anchor: date) -> date | None:
    candidates: list[tuple[int, date | None]] = []
    for m in _ISO.finditer(window):
        candidates.append((m.start(), _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))))
    for m in _DAY_MONTH.finditer(window):
        year = int(m.group(3)) if m.group(3) else None
        candidates.append((m.start(), _dated(year, _MONTHS[m.group(2)], int(m.group(1)), anchor)))
    for m in _MONTH_DAY.finditer(window):
        year = int(m.group(3)) if m.group(3) else None
        candidates.append((m.start(), _dated(year, _MONTHS[m.group(1)], int(m.group(2)), anchor)))
    for m in _NUMERIC.finditer(window):
        if _ISO.search(window[max(0, m.start() - 5) : m.end() + 3]):
            continue
        first, second = int(m.group(1)), int(m.group(2))
        year = int(m.group(3)) if m.group(3) else None
        if year is not None and year < 100:
            year += 2000
        day, month = (first, second) if second <= 12 else (second, first)
        candidates.append((m.start(), _dated(year, month, day, anchor)))
    valid = sorted((pos, d) for pos, d in candidates if d is not None)
    return valid[0][1] if valid else None


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dated(year: int | None, month: int, day: int, anchor: date) -> date | None:
    if year is not None:
        return _make(year, month, day)
    found = _make(anchor.year, month, day)
    if found is not None and found < anchor - timedelta(days=1):
        found = _make(anchor.year + 1, month, day)
    return found


__all__ = [
    "CATEGORIES",
    "OOO_SUBJECTS",
    "Category",
    "asks_to_unsubscribe",
    "categorize",
    "fold",
    "fold_phrase",
    "mentions_out_of_office",
    "new_text",
    "return_date",
]
