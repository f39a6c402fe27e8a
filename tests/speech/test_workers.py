"""The front-end in worker processes: same result as in order, cancel, crashes, long audio."""
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from backend.speech.recognizer import PHONE_LOOP_ONLY, WHISPER, split_points, MAX_CHUNK_S
from backend.cancellation import Cancelled
from backend.speech.workers import SpeechModelUnavailable, SpeechWorkerError, SpeechWorkers
from recordings import real_speech


@pytest.fixture(scope="module")
def forty_seconds():
    return real_speech(40.0)


@pytest.fixture(scope="module")
def pool():
    workers = SpeechWorkers(2).start()
    yield workers
    workers.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_chunks_in_parallel_give_the_result_of_one_worker(pool, forty_seconds):
    audio, _ = forty_seconds
    assert len(split_points(audio, MAX_CHUNK_S)) >= 3
    seen = []
    parallel = pool.recognize(audio, progress=lambda done, total: seen.append((done, total)))
    one = SpeechWorkers(1)
    try:
        alone = one.recognize(audio)
    finally:
        one.close()
    assert parallel.segments == alone.segments
    assert parallel.segments[0][1] == 0.0 and parallel.segments[-1][2] == pytest.approx(len(audio) / 16000)
    n = len(parallel.chunks)
    assert seen == [(k, n) for k in range(1, n + 1)]  # one progress report per chunk
    assert {chunk.source for chunk in parallel.chunks} == {WHISPER}
    assert parallel.aligned_s == pytest.approx(len(audio) / 16000)
    # with a transcript the chunks share its words
    told = pool.recognize(audio, forty_seconds[1])
    assert told.aligned_s > 0.8 * len(audio) / 16000


def test_cancel_stops_within_a_second_and_the_pool_serves_again(pool, forty_seconds):
    audio, _ = forty_seconds
    reference = pool.recognize(audio).segments
    old = set(pool.pids())
    flag = {"at": None}

    def progress(done, total):
        flag["at"] = time.monotonic()

    with pytest.raises(Cancelled):
        pool.recognize(audio, progress=progress, cancelled=lambda: flag["at"] is not None)
    took = time.monotonic() - flag["at"]
    assert took < 1.0, f"cancel took {took:.2f} s"
    assert not any(_alive(pid) for pid in old), "the busy workers were stopped"
    assert pool.recognize(audio).segments == reference


def test_a_worker_that_dies_is_replaced_and_its_chunk_redone(pool, forty_seconds):
    audio, _ = forty_seconds
    reference = pool.recognize(audio).segments
    killed = []

    def progress(done, total):
        if not killed:  # the other worker is still busy with a chunk
            victim = pool.pids()[-1]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    result = pool.recognize(audio, progress=progress)
    assert killed and result.segments == reference
    assert killed[0] not in pool.pids()


def test_a_chunk_that_keeps_killing_its_worker_fails_the_job_clearly(forty_seconds):
    audio, _ = forty_seconds
    workers = SpeechWorkers(1).start()
    stop = threading.Event()

    def killer():  # every worker dies shortly after it starts
        while not stop.is_set():
            for pid in list(workers.pids()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        with pytest.raises(SpeechWorkerError, match="died twice on the same chunk"):
            workers.recognize(audio)
    finally:
        stop.set()
        thread.join()
    try:
        assert len(workers.recognize(audio[: 16000 * 3]).segments) > 1  # fresh workers serve again
    finally:
        workers.close()


def test_a_missing_speech_model_says_what_to_do(tmp_path, forty_seconds):
    workers = SpeechWorkers(1, speech_model=str(tmp_path / "nowhere"))
    try:
        with pytest.raises(SpeechModelUnavailable, match="not a faster-whisper .*model folder"):
            workers.recognize(forty_seconds[0][: 16000 * 2])
    finally:
        workers.close()


def test_the_phone_loop_word_source_runs_in_workers_too(forty_seconds):
    workers = SpeechWorkers(1, words=PHONE_LOOP_ONLY)
    try:
        result = workers.recognize(forty_seconds[0][: 16000 * 5])
    finally:
        workers.close()
    assert result.aligned_s == 0.0 and len(result.segments) > 10


def _peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_long_audio_keeps_the_workers_memory_flat():
    """Three minutes of speech: the workers' peak memory is what a minute needs."""
    workers = SpeechWorkers(2)
    try:
        short, _ = real_speech(60.0)
        workers.recognize(short)
        after_short = {pid: _peak_rss_mb(pid) for pid in workers.pids()}
        long, _ = real_speech(180.0)
        result = workers.recognize(long)
        after_long = {pid: _peak_rss_mb(pid) for pid in workers.pids()}
    finally:
        workers.close()
    assert result.segments[-1][2] == pytest.approx(180.0)
    assert len(result.chunks) >= 12
    for pid, peak in after_long.items():
        # a second opinion's decoder, made for one chunk, may add a little once
        assert peak < after_short[pid] + 60, (after_short, after_long)
        assert peak < 550, "a worker peaks at 420-450 MB (models, libraries, a chunk)"
