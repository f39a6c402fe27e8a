import pytest

from backend.speech import espeak
from backend.speech.phones import (MOUTH_CLASSES, PHONES, UnknownPhonemeError, ipa_to_phones,
                                   mouth_class, phone_segments, tidy_segments)

VARIED_ENGLISH = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
    "How now, brown cow? I thought the earth was round, yet our boy Joy enjoyed the toy. "
    "Measure the vision of a beige garage. Judge the church's choice. Thirty-three thieves "
    "thought that they thrilled the throne. Button, little, bottle, rhythm, prism, kitten. "
    "Hear here, fire, hour, tour, pure, cure, care, poor, four, far, fur, beer, bear, boar. "
    "Battery, butter, water, better, city, pretty. Uh-oh! 1234 apples, 3.5 percent; the year "
    "1999, NASA, okay. Zoo, usual, yes, young, unique, orange, aisle, boil, ouch, again, "
    "roses, wanted, village, naked, happy, houses, comma, sofa, idea, lyrics, chaos, vague.")
ENGLISH_VOICES = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc")


def test_phone_set_is_pocketsphinx_en_us_plus_silence():
    assert PHONES == tuple("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY "
                           "P R S SH T TH UH UW V W Y Z ZH SIL".split())
    assert MOUTH_CLASSES == ("silence", "bilabial", "labiodental", "rounded", "open_vowel", "other")


def test_mouth_classes():
    assert [mouth_class(p) for p in ("SIL", "P", "B", "M", "F", "V")] == [
        "silence", "bilabial", "bilabial", "bilabial", "labiodental", "labiodental"]
    assert mouth_class("UW") == "rounded" and mouth_class("AA") == "open_vowel"
    assert mouth_class("S") == "other"
    assert {mouth_class(p) for p in PHONES} == set(MOUTH_CLASSES)
    with pytest.raises(ValueError, match="phone set"):
        mouth_class("XX")


@pytest.mark.parametrize("ipa, phones", [
    ("oʊ", ["OW"]), ("ˈoʊ", ["OW"]), ("ɑːɹ", ["AA", "R"]), ("ˈaɪɚ", ["AY", "ER"]), ("eɪ", ["EY"]),
    ("tʃ", ["CH"]), ("dʒ", ["JH"]), ("ˈɜː", ["ER"]), ("ɐ", ["AH"]), ("ᵻ", ["IH"]), ("ɾ", ["D"]),
    ("ʔ", ["T"]), ("n̩", ["AH", "N"]), ("əl", ["AH", "L"]), ("ˌiː", ["IY"]), ("ç", ["HH"]),
    ("ˈɐ̃ʊ", ["AW"]), ("t̪", ["T"]), ("", ["SIL"]), ("ˈ", ["SIL"]), ("ə-", ["AH"]),
])
def test_ipa_to_phones(ipa, phones):
    assert ipa_to_phones(ipa) == phones


def test_unknown_symbol_says_where_to_fix():
    with pytest.raises(UnknownPhonemeError, match="backend.speech.phones"):
        ipa_to_phones("ʘ")


def _emitted(text, voices):
    return {ipa for voice in voices for ipa, _, _ in espeak.synthesize(text, voice=voice)[2]}


def test_every_phoneme_espeak_emits_for_english_maps():
    names = _emitted(VARIED_ENGLISH, ENGLISH_VOICES)
    assert {"", "oʊ", "tʃ", "ɾ"} <= names  # pauses, diphthongs, affricates and flaps occur
    assert any(len(n) > 2 for n in names)  # multi-character names such as ˈaɪɚ
    for name in names:
        assert set(ipa_to_phones(name)) <= set(PHONES), name


def test_every_phoneme_espeak_emits_for_other_languages_maps():
    texts = {"de": "Ich möchte zwölf Äpfel und Brötchen kaufen, sagte der Fuchs im Haus.",
             "es": "El niño llamó a la cigüeña desde Barcelona con una guitarra.",
             "fr": "Un bon vin blanc, peut-être, et une œuvre de jeunesse lundi."}
    for voice, text in texts.items():
        for name in _emitted(text, [voice]):
            assert set(ipa_to_phones(name)) <= set(PHONES), (voice, name)


def test_phone_segments_drop_zero_length_and_share_time():
    segments = phone_segments([("", 0.0, 0.1), ("ˈaɪɚ", 0.1, 0.3), ("t", 0.3, 0.3), ("", 0.3, 0.35), ("", 0.35, 0.4)])
    assert [(p, round(a, 6), round(b, 6)) for p, a, b in segments] == [
        ("SIL", 0.0, 0.1), ("AY", 0.1, 0.2), ("ER", 0.2, 0.3), ("SIL", 0.3, 0.4)]


def test_tidy_segments_fills_gaps_and_cuts_overlaps():
    out = tidy_segments([("B", 0.2, 0.3), ("AA", 0.25, 0.5), ("SIL", 0.6, 0.7)], duration=0.65)
    assert out == [("SIL", 0.0, 0.2), ("B", 0.2, 0.3), ("AA", 0.3, 0.5), ("SIL", 0.5, 0.65)]
