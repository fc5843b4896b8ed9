"""KTL_WHISPER_WORKERS: batches of ≤ 30 s chunks decoded at the same time by model replicas
(server/pipeline/batching.py), with the real base model on espeak-ng speech."""

from __future__ import annotations

import os

import pytest

from server.core.config import SettingsError, load_settings
from server.pipeline.batching import model_threads, model_workers
from tests import factories


def test_two_workers_write_the_same_transcript_as_one_in_the_order_of_the_audio(tmp_path):
    """Two chunks in flight: one replica decodes them as one batch, two replicas as two
    batches of one at once (a 45-second talk makes two chunks); the segments, words and times
    are the same, in order, also as they are handed on one by one (on_segment)."""
    from server.pipeline.transcribe import FasterWhisperEngine

    clip = factories.speech_wav(tmp_path / "talk.wav", factories.LONG_ENGLISH_SPEECH)
    results = {}
    for workers in ("1", "2"):
        env = {"KTL_WHISPER_BATCH_SIZE": "2", "KTL_WHISPER_WORKERS": workers}
        engine = FasterWhisperEngine(load_settings(env=env))
        handed: list = []
        out = engine.transcribe(clip, "en", 0.0, lambda share: None, on_segment=handed.append)
        assert list(out.segments) == handed, workers
        results[workers] = out
    one, two = results["1"], results["2"]
    assert one.segments[-1].end > 30, "the clip must span two chunks to test two batches"
    assert [s.start for s in two.segments] == sorted(s.start for s in two.segments)
    assert two.segments == one.segments
    assert "planning applications" in two.text


def test_replicas_share_the_cores_unless_threads_are_set():
    cores = os.cpu_count() or 1
    assert model_threads(0, 1) == 0  # CTranslate2 decides, as before
    assert model_threads(0, 2) == max(1, cores // 2)
    assert model_threads(3, 2) == 3


def test_two_workers_on_a_cpu_one_on_a_gpu_unless_set():
    two_cores = (os.cpu_count() or 1) >= 2
    assert model_workers(0, "cpu") == (2 if two_cores else 1)
    assert model_workers(0, "cuda") == 1
    assert model_workers(3, "cuda") == 3
    assert load_settings(env={}).whisper_workers == 1
    with pytest.raises(SettingsError, match="KTL_WHISPER_WORKERS"):
        load_settings(env={"KTL_WHISPER_WORKERS": "-1"})


def test_the_translate_task_decodes_on_a_model_with_all_threads():
    """Translation decodes window after window (server/pipeline/translate.py); with two
    one-thread replicas for the batches it gets a model of its own with every thread."""
    from server.pipeline.transcribe import FasterWhisperEngine

    two = FasterWhisperEngine(load_settings(env={"KTL_WHISPER_WORKERS": "2"}))
    assert two.model.model.num_workers == 2
    assert two.sequential_model is not two.model
    assert two.sequential_model.model.num_workers == 1
    assert two.sequential_model is two.sequential_model  # loaded once
    one = FasterWhisperEngine(load_settings(env={"KTL_WHISPER_WORKERS": "1"}))
    assert one.sequential_model is one.model
