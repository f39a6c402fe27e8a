"""Procedural English sentences for synthetic speech.

The word lists lean on the sounds whose mouth shapes matter most: bilabials (p, b, m),
labiodentals (f, v), rounded vowels (oo, oh, w) and open vowels (ah, a), and the templates
mix statements, questions, exclamations, lists and short replies so that the prosody
(and the head motion tied to it) varies. Commas and sentence ends give espeak's own
pauses; longer pauses are added between sentences by the generator.
"""
from __future__ import annotations

import numpy as np

NAMES = (
    "Bob", "Pam", "Mabel", "Boris", "Fiona", "Vivian", "Paul", "Molly", "Max", "Ben", "Victor",
    "Phoebe", "Martha", "Bobby", "Peggy", "Uma", "Owen", "Ruth", "Lou", "Maya", "Pablo", "Maureen",
    "Hugo", "Wanda", "Morgan", "Abby", "Bruno", "Fabio", "Minnie", "Oscar", "Paula", "Ava",
)
NOUNS = (
    "map", "pipe", "bubble", "balloon", "movie", "puppy", "van", "phone", "boat", "moon", "pool",
    "room", "shoe", "box", "apple", "father", "mother", "lamp", "pump", "fox", "wolf", "violin",
    "coffee", "muffin", "pebble", "bottle", "window", "garden", "office", "ocean", "market",
    "problem", "number", "paper", "people", "morning", "puzzle", "museum", "umbrella", "bamboo",
    "bagpipe", "pumpkin", "bathroom", "harbour", "farm", "photo", "movie star", "blue whale",
    "computer", "mop", "mummy", "poem", "bowl", "rope", "goose", "juice", "spoon", "food",
    "boom box", "memo", "pavement", "film", "village", "volcano", "favour", "feather", "fortune",
)
VERBS_PAST = (
    "bought", "brought", "moved", "found", "pushed", "pulled", "made", "played", "fixed",
    "painted", "opened", "forgot", "borrowed", "dropped", "grabbed", "bumped", "loved", "phoned",
    "visited", "followed", "moved", "polished", "swapped", "folded", "flipped", "approved of",
    "improved", "remembered", "proved", "booked", "washed", "shouted at", "waved at",
)
VERBS_BASE = (
    "buy", "bring", "move", "find", "push", "pull", "make", "play", "fix", "paint", "open",
    "forget", "borrow", "drop", "grab", "love", "phone", "visit", "follow", "approve of",
    "improve", "remember", "prove", "book", "wash", "shampoo", "remove", "balance", "vacuum",
)
ADJECTIVES = (
    "big", "blue", "purple", "bumpy", "fabulous", "warm", "brown", "bright", "huge", "smooth",
    "soft", "fluffy", "massive", "perfect", "awful", "beautiful", "vivid", "wobbly", "tiny", "old",
    "famous", "foolish", "humble", "mouldy", "pompous", "marvellous", "odd", "plump", "proud",
    "rough", "vast", "yellow", "wonderful", "boring", "funny", "movable", "moody", "shallow",
)
PLACES = (
    "by the bay", "at home", "in the morning", "after lunch", "on the boat", "in the museum",
    "at the market", "before the movie", "by the pool", "on Monday", "in Bombay", "in Boston",
    "down by the harbour", "behind the barn", "under the bamboo", "above the office",
)
INTERJECTIONS = ("oh", "wow", "hmm", "ah", "oops", "whoa", "ooh", "well", "um", "oh boy", "phew", "boo")
REPLIES = (
    "Maybe.", "Absolutely not!", "Why not?", "Of course.", "Oh, wow!", "Hmm, perhaps.", "Move!",
    "Mm-hmm.", "No way!", "Who knows?", "Oh, boo.", "Pardon me?", "Beautiful!", "Yep.", "Oh my.",
    "Fine, fine.", "Wait, what?", "Whoa, whoa, whoa!", "Please, please.", "Bye bye!",
)
NUMBERS = ("one", "two", "five", "nine", "forty four", "ninety nine", "a hundred", "seventy seven",
           "four hundred", "a million", "fifteen", "twelve", "fifty")

_TEMPLATES = (
    "{Name} {past} the {adj} {noun} {place}.",
    "{Name} and {Name2} {past} {number} {noun}s {place}.",
    "Did {Name} {base} the {noun}?",
    "Why would {Name} {base} a {adj} {noun}?",
    "Who {past} my {adj} {noun}?",
    "{Interj}, that {noun} is so {adj}!",
    "{Interj}! {Name} {past} the {noun}!",
    "Please pass the {noun} to {Name}.",
    "My {noun} was {adj}, but your {noun2} was even more {adj2}.",
    "We need a {noun}, a {noun2}, and maybe a {adj} {noun3}.",
    "Is it {adj} or {adj2}?",
    "If {Name} {past} the {noun}, then {Name2} {past2} the {noun2}.",
    "Remember the {adj} {noun} {place}?",
    "{Name}, would you {base} the {noun}, please?",
    "The {noun} is {adj}. The {noun2} is {adj2}. And the {noun3}? {Adj3}!",
    "I told {Name} about the {noun}, and {Name2} just laughed.",
    "Every {noun} in the {noun2} looked {adj} {place}.",
    "{Number} {adj} {noun}s, {number2} {noun2}s, and one {adj2} {noun3}.",
    "Oh, {Name}, you {past} it again!",
    "Could we {base} the {noun} before {Name} {past} the {noun2}?",
)


def sentence(rng: np.random.Generator) -> str:
    """One random sentence (about 4-20 words)."""
    if rng.random() < 0.08:
        return str(rng.choice(REPLIES))
    template = str(rng.choice(_TEMPLATES))

    def pick(words):
        return str(rng.choice(words))

    fields = {
        "Name": pick(NAMES), "Name2": pick(NAMES), "past": pick(VERBS_PAST), "past2": pick(VERBS_PAST),
        "base": pick(VERBS_BASE), "noun": pick(NOUNS), "noun2": pick(NOUNS), "noun3": pick(NOUNS),
        "adj": pick(ADJECTIVES), "adj2": pick(ADJECTIVES), "place": pick(PLACES),
        "Interj": pick(INTERJECTIONS).capitalize(), "number": pick(NUMBERS), "number2": pick(NUMBERS),
    }
    fields["Adj3"] = pick(ADJECTIVES).capitalize()
    fields["Number"] = fields["number"].capitalize()
    text = template.format(**fields)
    return text[0].upper() + text[1:]
