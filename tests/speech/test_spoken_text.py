import pytest

from backend.speech.spoken_text import cardinal, ordinal, spoken_words, year


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (42, "forty two"), (100, "one hundred"),
    (105, "one hundred five"), (1000, "one thousand"), (1205, "one thousand two hundred five"),
    (3_000_017, "three million seventeen"), (10 ** 12, "one trillion"),
])
def test_cardinals(n, words):
    assert cardinal(n) == words


def test_ordinals_and_years():
    assert [ordinal(n) for n in (1, 2, 3, 5, 12, 20, 22, 100)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty second", "one hundredth"]
    assert [year(n) for n in (1999, 2020, 1905, 1900, 2000, 2008, 1066)] == [
        "nineteen ninety nine", "twenty twenty", "nineteen oh five", "nineteen hundred", "two thousand",
        "two thousand eight", "ten sixty six"]
    with pytest.raises(ValueError):
        cardinal(-1)


@pytest.mark.parametrize("text, spoken", [
    # what Whisper writes for the cards recordings, and what was said
    ("10 of clubs, 4 queen of clubs, 7 of clubs.", "ten of clubs four queen of clubs seven of clubs"),
    ("Go forward 10 meters.", "go forward ten meters"),
    ("In 2020 Mr. Smith paid $5.50 for 50% of it.",
     "in twenty twenty mister smith paid five dollars fifty cents for fifty percent of it"),
    ("It costs $1 at 3:30, not 10:05 or 7:00.", "it costs one dollar at three thirty not ten oh five or seven o'clock"),
    ("on the 21st and the 3rd", "on the twenty first and the third"),
    ("1,250 apples and 3.14 pies", "one thousand two hundred fifty apples and three point one four pies"),
    ("call 0800 555", "call zero eight zero zero five hundred fifty five"),
    ("the BBC & TV, Dr. Who", "the b b c and t v doctor who"),
    ("He wasn't ill-disposed", "he wasn't ill disposed"),
    ("  ", ""),
])
def test_english_text_becomes_spoken_words(text, spoken):
    assert " ".join(spoken_words(text)) == spoken


def test_other_languages_keep_their_digits_for_espeak():
    assert spoken_words("Él tiene 10 años.", "es") == ["él", "tiene", "10", "años"]
    assert spoken_words("Größe 3", "de") == ["größe", "3"]
