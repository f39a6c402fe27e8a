"""Fixtures of the speech front-end tests."""
from __future__ import annotations

import pytest

from speech_audio import ENGLISH, speak16k


@pytest.fixture(scope="session")
def english():
    return speak16k(ENGLISH)


@pytest.fixture(scope="session")
def recognizer():
    from backend.speech.recognizer import default_recognizer

    return default_recognizer()  # the one features_from_audio uses


@pytest.fixture(scope="session")
def phone_loop():
    """A recognizer that, without a transcript, gives the phone loop's answer alone."""
    from backend.speech.recognizer import PHONE_LOOP_ONLY, Recognizer

    return Recognizer(words=PHONE_LOOP_ONLY)
