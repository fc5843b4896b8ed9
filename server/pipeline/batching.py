"""faster-whisper's batched pipeline with several batches decoded at the same time.

`BatchedInferencePipeline` decodes one batch of ≤ 30 s chunks after the other, each with
all of CTranslate2's threads (KTL_WHISPER_THREADS) working on every step. Whisper's
decoder runs many small matrix products per token, where two threads on one product mostly
wait for each other; one thread per batch and two batches at a time keeps both cores
busy instead. `ConcurrentBatches` does that with a WhisperModel loaded with
``num_workers`` replicas (KTL_WHISPER_WORKERS): the KTL_WHISPER_BATCH_SIZE chunks in flight
are shared out (8 chunks, 2 workers: two batches of 4), batch n + 1 is decoded while
batch n is, and the segments still come out in the order of the audio.

The only difference from one-after-the-other: faster-whisper's word-timestamp heuristic
that shortens an overlong first word after a pause does not know where the batch just
before ended (each worker remembers its own previous batch), so the first word of a batch
may be shortened where sequential batches would have kept it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from faster_whisper import BatchedInferencePipeline


def model_workers(workers: int, device: str) -> int:
    """KTL_WHISPER_WORKERS, where 0 means 2 on a CPU with two cores or more, else 1 (a GPU
    runs one batch on all its cores, and a second replica would double its memory)."""
    if workers > 0:
        return workers
    return 2 if device == "cpu" and (os.cpu_count() or 1) >= 2 else 1


def model_threads(threads: int, workers: int) -> int:
    """CTranslate2 threads per worker: the setting, or the cores shared out between workers."""
    if threads > 0 or workers <= 1:
        return threads  # 0 lets CTranslate2 decide (all cores, at most 4)
    return max(1, (os.cpu_count() or 1) // workers)


class ConcurrentBatches(BatchedInferencePipeline):
    """A BatchedInferencePipeline that keeps `workers` batches in flight (pure scheduling)."""

    def __init__(self, model, workers: int) -> None:
        super().__init__(model)
        self.workers = max(1, workers)

    def _batched_segments_generator(
        self, features, tokenizer, chunks_metadata, batch_size, options, log_progress
    ):
        if self.workers == 1:
            return super()._batched_segments_generator(
                features, tokenizer, chunks_metadata, batch_size, options, log_progress
            )
        per_worker = max(1, -(-batch_size // self.workers))  # the chunks in flight, shared out
        return self._concurrent(features, tokenizer, chunks_metadata, per_worker, options)

    def _concurrent(self, features, tokenizer, chunks_metadata, batch_size, options) -> Iterator:
        lanes = [BatchedInferencePipeline(self.model) for _ in range(self.workers)]
        pending: deque[Future] = deque()
        ids = iter(range(1, 1 << 62))
        with ThreadPoolExecutor(self.workers, thread_name_prefix="whisper") as pool:
            try:
                for n, start in enumerate(range(0, len(features), batch_size)):
                    window = slice(start, start + batch_size)
                    pending.append(pool.submit(lanes[n % self.workers].forward,
                                               features[window], tokenizer,
                                               chunks_metadata[window], options))  # fmt: skip
                    if len(pending) == self.workers:
                        yield from _segments(pending.popleft().result(), options, ids)
                while pending:
                    yield from _segments(pending.popleft().result(), options, ids)
            finally:
                for future in pending:
                    future.cancel()


def _segments(results: list, options, ids: Iterator[int]) -> Iterator:
    """faster-whisper's Segment objects for one batch, as its own generator makes them."""
    from faster_whisper.transcribe import Segment, Word

    for result in results:
        for segment in result:
            yield Segment(
                seek=segment["seek"],
                id=next(ids),
                text=segment["text"],
                start=round(segment["start"], 3),
                end=round(segment["end"], 3),
                words=[Word(**w) for w in segment["words"]] if options.word_timestamps else None,
                tokens=segment["tokens"],
                avg_logprob=segment["avg_logprob"],
                no_speech_prob=segment["no_speech_prob"],
                compression_ratio=segment["compression_ratio"],
                temperature=options.temperatures[0],
            )
