"""What the worker asks faster-whisper for (server.pipeline.transcribe.decode_options): by
default batches of 8 chunks with Whisper's own timestamps (caption-sized segments) and a
guard against repetition loops; KTL_WHISPER_BATCH_SIZE=0 decodes window after window with
temperature fallback. The speed and quality behind the defaults: benchmarks/whisper_speed.py."""

from __future__ import annotations

from server.core.config import load_settings
from server.pipeline.transcribe import (
    BATCHED_NO_REPEAT_NGRAM,
    FALLBACK_TEMPERATURES,
    decode_options,
)


def test_the_default_is_batched_with_timestamps_and_a_loop_guard():
    options = decode_options(load_settings(env={}), "no", "Navn og fagord: Gjerdrum.")
    assert options["batch_size"] == 8
    assert options["without_timestamps"] is False, "segments split at Whisper's timestamps"
    assert options["no_repeat_ngram_size"] == BATCHED_NO_REPEAT_NGRAM == 6
    assert options["word_timestamps"] is True and options["vad_filter"] is True
    assert options["beam_size"] == 5 and options["language"] == "no"
    assert options["hotwords"] == "Navn og fagord: Gjerdrum."


def test_batch_size_zero_decodes_sequentially_with_fallback():
    options = decode_options(load_settings(env={"KTL_WHISPER_BATCH_SIZE": "0"}), "nn", None)
    assert not {"batch_size", "without_timestamps", "no_repeat_ngram_size"} & set(options)
    assert options["temperature"] == list(FALLBACK_TEMPERATURES)
    plain = load_settings(env={"KTL_WHISPER_BATCH_SIZE": "0",
                               "KTL_WHISPER_TEMPERATURE_FALLBACK": "0"})  # fmt: skip
    assert decode_options(plain, "nn", None)["temperature"] == 0.0


def test_a_batch_size_is_taken_from_the_setting():
    options = decode_options(load_settings(env={"KTL_WHISPER_BATCH_SIZE": "4"}), "en", None)
    assert options["batch_size"] == 4 and options["without_timestamps"] is False
