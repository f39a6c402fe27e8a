"""The shared phone set: what the recognizer hears and what synthetic training data says.

Stdlib only. ``PHONES`` is pocketsphinx's en-us phone set plus ``SIL``; every phone has a
mouth class (the visible shape it asks of the lips and jaw). espeak-ng reports phonemes as
IPA strings (``ˈaɪɚ``, ``tʃ``, ``n̩``, ``ɾ``, ``''`` for a pause): ``ipa_to_phones`` turns
any of those into phones of this set, and ``phone_segments`` does the same for timed
events, dropping zero-length ones and sharing a multi-phone event's time among its phones.
See docs/speech-frontend.md for the full table and the reasons behind the choices.
"""
from __future__ import annotations

import unicodedata

SILENCE = "SIL"

PHONES = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
    "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T",
    "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH", SILENCE,
)
PHONE_INDEX = {phone: i for i, phone in enumerate(PHONES)}

MOUTH_CLASSES = ("silence", "bilabial", "labiodental", "rounded", "open_vowel", "other")

# Rounded: the lips protrude or narrow (the vowels of "boot, book, boat, boy" and /w/).
# Open vowel: the jaw drops (AH included: stressed it is the open vowel of "cup").
_CLASS_OF = {SILENCE: "silence", "P": "bilabial", "B": "bilabial", "M": "bilabial",
             "F": "labiodental", "V": "labiodental"}
_CLASS_OF.update({p: "rounded" for p in ("UW", "UH", "OW", "OY", "W")})
_CLASS_OF.update({p: "open_vowel" for p in ("AA", "AE", "AH", "AO", "AW", "AY")})


def mouth_class(phone: str) -> str:
    """Mouth class (one of ``MOUTH_CLASSES``) of a phone of ``PHONES``."""
    if phone not in PHONE_INDEX:
        raise ValueError(f"{phone!r} is not in the phone set; use one of {', '.join(PHONES)}")
    return _CLASS_OF.get(phone, "other")


MOUTH_CLASS_INDEX = {name: i for i, name in enumerate(MOUTH_CLASSES)}
PHONE_MOUTH_CLASS = tuple(MOUTH_CLASS_INDEX[mouth_class(p)] for p in PHONES)


class UnknownPhonemeError(ValueError):
    """An IPA phoneme name contains a symbol the mapping does not know."""


# IPA symbol (or symbol group) -> phones. Matching is greedy, longest first, after stress
# marks, tie bars and diacritics are removed; a length mark only matters where a key has it
# (German "eː" is a different vowel from "e"), otherwise it is skipped.
_IPA = {
    # English vowels as espeak-ng's en voices write them
    "i": "IY", "iː": "IY", "ɪ": "IH", "ᵻ": "IH", "ɨ": "IH", "e": "EY", "eː": "EY",
    "ɛ": "EH", "æ": "AE", "a": "AE", "aː": "AA", "ɑ": "AA", "ɒ": "AA", "ɔ": "AO",
    "o": "OW", "ʊ": "UH", "u": "UW", "ʉ": "UW", "ʌ": "AH", "ə": "AH", "ɐ": "AH",
    "ɚ": "ER", "ɝ": "ER", "ɜ": "ER", "ɜɹ": "ER", "əɹ": "ER", "ʌɹ": "ER",
    "aɪ": "AY", "ɑɪ": "AY", "ʌɪ": "AY", "əɪ": "AY", "aʊ": "AW", "æʊ": "AW",
    "eɪ": "EY", "ɛɪ": "EY", "oʊ": "OW", "əʊ": "OW", "ʌʉ": "OW", "ɔɪ": "OY",
    # vowels of other languages, mapped to the English vowel with the nearest mouth shape
    "y": "UW", "ʏ": "UH", "ø": "OW", "œ": "OW", "ɤ": "UH", "ɯ": "UW", "ɵ": "UH",
    "ɔø": "OY", "ɔʏ": "OY", "œy": "OY", "oɪ": "OY", "oi": "OY", "ei": "EY", "ai": "AY",
    "au": "AW", "ɐʊ": "AW", "ʌʊ": "OW", "əu": "OW", "eə": "EH AH",
    # consonants
    "p": "P", "b": "B", "m": "M", "f": "F", "v": "V", "θ": "TH", "ð": "DH",
    "t": "T", "d": "D", "n": "N", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH",
    "tʃ": "CH", "dʒ": "JH", "k": "K", "ɡ": "G", "g": "G", "ŋ": "NG", "h": "HH",
    "l": "L", "ɫ": "L", "ɹ": "R", "r": "R", "j": "Y", "w": "W", "ʍ": "W",
    # the flap of "butter" is a very short voiced stop to the ear; the glottal stop of
    # "button" stands where a /t/ is written
    "ɾ": "D", "ʔ": "T",
    "ɦ": "HH", "x": "HH", "ç": "HH", "χ": "HH", "ħ": "HH", "ʁ": "R", "ʀ": "R", "ɽ": "R",
    "ɻ": "R", "β": "B", "ɸ": "F", "ʋ": "V", "ɱ": "M", "ɣ": "G", "ɲ": "N", "ɳ": "N",
    "ɴ": "NG", "ʎ": "L", "ʟ": "L", "ɭ": "L", "ɥ": "W", "ʝ": "Y", "c": "K", "q": "K",
    "ɟ": "JH", "ɕ": "SH", "ʂ": "SH", "ʑ": "ZH", "ʐ": "ZH", "ɬ": "SH", "ɮ": "ZH",
}
_IPA = {key: value.split() for key, value in _IPA.items()}
_LONGEST = max(len(key) for key in _IPA)

_SYLLABIC = "\u0329"  # combining vertical line below: n̩ l̩ m̩ carry their own vowel
_CEDILLA = "\u0327"  # c + cedilla is the fricative ç, not a /k/
_LENGTH = "ːˑ"
# Marks that carry no phone of their own: stress, syllable and tie marks, espeak's '-'.
_IGNORED = set("ˈˌ.‿͜͡-_'|‖:;,!?%=^") | set("ʰʲʷˠˤⁿˡ")


def ipa_to_phones(ipa: str) -> list[str]:
    """Phones of ``PHONES`` for one espeak-ng IPA phoneme name.

    An empty name (espeak's pause) or one made only of marks gives ``["SIL"]``.
    Raises ``UnknownPhonemeError`` for a symbol the table does not cover.
    """
    symbols = []
    for char in unicodedata.normalize("NFD", ipa):
        if char == _SYLLABIC and symbols:
            # a syllabic consonant is heard as a reduced vowel before it: n̩ -> AH N
            symbols.insert(len(symbols) - 1, "ə")
        elif char == _CEDILLA and symbols and symbols[-1] == "c":
            symbols[-1] = "ç"
        elif char in _IGNORED or unicodedata.combining(char) or char.isspace():
            continue  # nasalisation, dentalisation and the like keep the base phone
        else:
            symbols.append(char)
    text = "".join(symbols)
    phones: list[str] = []
    i = 0
    while i < len(text):
        for size in range(min(_LONGEST, len(text) - i), 0, -1):
            key = text[i:i + size]
            if key in _IPA:
                phones.extend(_IPA[key])
                i += size
                break
        else:
            if text[i] in _LENGTH:
                i += 1
                continue
            raise UnknownPhonemeError(
                f"espeak phoneme {ipa!r} has the symbol {text[i]!r} that backend.speech.phones "
                "does not map; add it to the table there")
    return phones or [SILENCE]


def phone_segments(ipa_segments) -> list[tuple[str, float, float]]:
    """Timed IPA events ``[(ipa, start_s, end_s)]`` -> phone segments of ``PHONES``.

    Zero-length events are dropped; an event that maps to several phones shares its time
    equally among them; adjacent silences are merged.
    """
    out = []
    for ipa, start, end in ipa_segments:
        if end <= start:
            continue
        phones = ipa_to_phones(ipa)
        step = (end - start) / len(phones)
        out += [(phone, start + k * step, start + (k + 1) * step) for k, phone in enumerate(phones)]
    return tidy_segments(out)


def tidy_segments(segments, duration: float | None = None) -> list[tuple[str, float, float]]:
    """Sorted, contiguous segments from 0 to ``duration`` (default: the last end).

    Overlaps are cut, gaps and the lead-in become silence, adjacent silences merge and
    empty segments go.
    """
    segments = sorted(segments, key=lambda s: s[1])
    if duration is None:
        duration = max((s[2] for s in segments), default=0.0)
    out: list[tuple[str, float, float]] = []
    t = 0.0
    for phone, start, end in segments + [(SILENCE, duration, duration)]:
        start, end = max(start, t), min(end, duration)
        if start > t:
            _append(out, SILENCE, t, start)
        if end > start:
            _append(out, phone, start, end)
            t = end
        else:
            t = max(t, start)
    return out


def _append(out: list, phone: str, start: float, end: float) -> None:
    if phone == SILENCE and out and out[-1][0] == SILENCE:
        out[-1] = (SILENCE, out[-1][1], end)
    else:
        out.append((phone, start, end))
