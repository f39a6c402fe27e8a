"""Written text -> the words a speaker says, for forced alignment.

A recognizer writes "press 1", "in 2020", "$5.50", "50%", "Mr." and a user's transcript
may too; the aligner needs the spoken words ("press one", "in twenty twenty", "five dollars
fifty", "fifty percent", "mister"), or it places a closure-free word where "five" has its
/f/ and "one" its rounded /w/. English gets numbers, money, times, ordinals, symbols and
the common abbreviations spelled out; other languages keep their digits, which espeak-ng
reads in the language when it pronounces them (``backend.speech.recognizer``).
Standard library only.
"""
from __future__ import annotations

import re

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"))
_ORDINAL_ENDINGS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                    "nine": "ninth", "twelve": "twelfth"}
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents")}
_SYMBOLS = {"&": "and", "+": "plus", "@": "at", "=": "equals", "%": "percent", "#": "number"}
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor",
                  "vs": "versus", "etc": "et cetera", "jr": "junior", "sr": "senior", "st": "saint"}
# Largest number spelled out; longer digit strings are read digit by digit (phone numbers).
_LARGEST = 10 ** 15 - 1

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_TOKEN = re.compile(
    r"(?P<money>[$£€]\d[\d,]*(?:\.\d+)?)"
    r"|(?P<time>\b\d{1,2}:\d{2}\b)"
    r"|(?P<ordinal>\b\d+(?:st|nd|rd|th)\b)"
    r"|(?P<number>\d[\d,]*(?:\.\d+)?)"
    r"|(?P<symbol>[&+@=%#])"
    r"|(?P<word>[^\W\d_]+(?:'[^\W\d_]+)*\.?)",
)


def cardinal(n: int) -> str:
    """``n`` (0 <= n < 10**15) in English words: 1205 -> "one thousand two hundred five"."""
    if not 0 <= n <= _LARGEST:
        raise ValueError(f"cardinal() spells 0..{_LARGEST}, got {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {cardinal(rest)}" if rest else "")
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{cardinal(high)} {name}" + (f" {cardinal(rest)}" if rest else "")
    raise AssertionError("unreachable")


def ordinal(n: int) -> str:
    """1 -> "first", 22 -> "twenty second", 100 -> "one hundredth"."""
    words = cardinal(n).split()
    last = words[-1]
    if last in _ORDINAL_ENDINGS:
        words[-1] = _ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(n: int) -> str:
    """A four-digit year as people say it: 1999 "nineteen ninety nine", 2020 "twenty
    twenty", 1905 "nineteen oh five", 2000 "two thousand", 2008 "two thousand eight"."""
    high, low = divmod(n, 100)
    if n % 1000 < 10 and high % 10 == 0:  # 2000-2009, 1000-1009
        return cardinal(n)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} " + (f"oh {_ONES[low]}" if low < 10 else cardinal(low))


def _number(text: str, followed_by: str) -> str:
    digits, _, fraction = text.replace(",", "").partition(".")
    if len(digits) > len(str(_LARGEST)) or (len(digits) > 1 and digits.startswith("0")):
        spoken = " ".join(_ONES[int(d)] for d in digits)  # a code, a phone number: digit by digit
    elif len(digits) == 4 and "," not in text and not fraction and 1100 <= int(digits) <= 2099 \
            and not followed_by.startswith("%"):
        spoken = year(int(digits))
    else:
        spoken = cardinal(int(digits))
    if fraction:
        spoken += " point " + " ".join(_ONES[int(d)] for d in fraction)
    return spoken


def _money(text: str) -> str:
    one, many, small_one, small_many = _CURRENCIES[text[0]]
    units, _, cents = text[1:].replace(",", "").partition(".")
    spoken = f"{cardinal(int(units))} {one if int(units) == 1 else many}" if len(units) <= 15 else _number(units, "")
    if cents and int(cents[:2].ljust(2, "0")):
        value = int(cents[:2].ljust(2, "0"))
        spoken += f" {cardinal(value)} {small_one if value == 1 else small_many}"
    return spoken


def _time(text: str) -> str:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes == 0:
        return f"{cardinal(hours)} o'clock"
    return f"{cardinal(hours)} " + (f"oh {_ONES[minutes]}" if minutes < 10 else cardinal(minutes))


def _word(text: str) -> str:
    bare = text.rstrip(".")
    key = bare.lower()
    if key in _ABBREVIATIONS and (text.endswith(".") or key in ("mr", "mrs", "dr")):
        return _ABBREVIATIONS[key]
    # an all-capital word without a vowel is said letter by letter: "TV", "BBC", "NFL"
    if len(bare) > 1 and bare.isupper() and not re.search(r"[AEIOUY]", bare):
        return " ".join(bare.lower())
    return key


def spoken_words(text: str, language: str = "en") -> list[str]:
    """The lower-case words of ``text`` as a speaker of ``language`` (ISO 639-1) says them.

    Letters of any script and inner apostrophes are kept; hyphens and other punctuation
    separate words. English spells out numbers, money, times, ordinals, symbols and common
    abbreviations; other languages keep digit strings as words of their own.
    """
    text = text.replace("’", "'")
    if not language.lower().startswith("en"):
        return _WORD.findall(text.lower())
    out = []
    for match in _TOKEN.finditer(text):
        kind, token = match.lastgroup, match.group()
        if kind == "money":
            spoken = _money(token)
        elif kind == "time":
            spoken = _time(token)
        elif kind == "ordinal":
            spoken = ordinal(int(token[:-2])) if len(token) <= 17 else _number(token[:-2], "")
        elif kind == "number":
            spoken = _number(token.rstrip(",."), text[match.end():match.end() + 1])
        elif kind == "symbol":
            spoken = _SYMBOLS[token]
        else:
            spoken = _word(token)
        out.extend(_WORD.findall(spoken.lower()))
    return out
