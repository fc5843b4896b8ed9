"""/metrics for Prometheus (prometheus-client): request counts and latencies by route name
(counted by server.web.metrics), upload bytes, and per scrape the jobs,
transcription speed, live broadcasts and viewers, and free disk.

The request figures live in this process (one registry per app, on app.state); what other
processes do (the worker's jobs and transcriptions) is read from the database at each
scrape by `ScrapeCollector`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from server.core.config import Settings
from server.ops import diskspace, stats
from server.pipeline import presence
from server.store import PgStore, Store

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)


class RequestMetrics:
    """The figures this process counts itself; a collector for the scrape's registry."""

    def __init__(self) -> None:
        self.requests = Counter(
            "ktl_http_requests", "HTTP requests by route name, method and status",
            ["route", "method", "status"], registry=None,
        )  # fmt: skip
        self.latency = Histogram(
            "ktl_http_request_duration_seconds", "Time to answer, by route name and method",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=None,
        )  # fmt: skip
        self.upload_bytes = Counter(
            "ktl_upload_bytes", "Bytes received in tus uploads", registry=None
        )

    def collect(self) -> Iterable[Metric]:
        for metric in (self.requests, self.latency, self.upload_bytes):
            yield from metric.collect()


@dataclass
class LiveFigures:
    """What the live manager knows in this process, taken on the event loop."""

    viewers: dict[int, int] = field(default_factory=dict)  # talk id -> viewers now


def live_figures(manager: object | None) -> LiveFigures:
    figures = LiveFigures()
    for talk_id, runtime in list(getattr(manager, "runtimes", {}).items()):
        if runtime.state in ("live", "interrupted"):
            figures.viewers[talk_id] = manager.viewer_count(runtime)  # type: ignore[union-attr]
    return figures


class ScrapeCollector:
    """Figures read at scrape time: the database (written by the worker), the disk, live."""

    def __init__(self, settings: Settings, live: LiveFigures, store: Store | PgStore) -> None:
        self.settings, self.live, self.store = settings, live, store

    def collect(self) -> Iterator[Metric]:
        with self.store.read() as db:
            job_rows = stats.jobs_by_state(db)
            factors = stats.realtime_factors(db)
            broadcast_rows = stats.broadcasts_by_state(db)
            within = self.settings.job_lease_seconds
            workers, unserved = presence.running(db, within), presence.unserved(db, within)
        jobs = GaugeMetricFamily("ktl_jobs", "Jobs by state and stage", labels=["state", "stage"])
        for state, stage, count in job_rows:
            jobs.add_metric([state, stage], count)
        yield jobs
        yield GaugeMetricFamily(
            "ktl_workers", "Workers seen within the job lease (server.pipeline.presence)",
            value=len(workers),
        )  # fmt: skip
        waiting = GaugeMetricFamily(
            "ktl_jobs_unserved", "Queued jobs whose next stage no running worker takes",
            labels=["stage"],
        )  # fmt: skip
        for stage, count in unserved.items():
            waiting.add_metric([stage], count)
        yield waiting
        yield _histogram(
            "ktl_transcription_realtime_factor",
            "Transcription time divided by audio duration (below 1: faster than real time)",
            factors, RTF_BUCKETS,
        )  # fmt: skip
        casts = GaugeMetricFamily("ktl_live_broadcasts", "Broadcasts by state", labels=["state"])
        for state, count in broadcast_rows:
            casts.add_metric([state], count)
        yield casts
        yield GaugeMetricFamily(
            "ktl_live_viewers",
            "Viewers of broadcasts on air now",
            value=sum(self.live.viewers.values()),
        )
        yield GaugeMetricFamily(
            "ktl_disk_free_bytes", "Free bytes on the data folder's disk",
            value=diskspace.free_bytes(self.settings.data_dir),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "ktl_disk_floor_bytes", "KTL_MIN_FREE_DISK_MB in bytes: uploads and live stop below",
            value=diskspace.floor_bytes(self.settings),
        )  # fmt: skip


def _histogram(name: str, doc: str, values: list[float], bounds: tuple[float, ...]) -> Metric:
    buckets = [(str(bound), sum(1 for v in values if v <= bound)) for bound in bounds]
    buckets.append(("+Inf", len(values)))
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], buckets, sum_value=sum(values))
    return family


def exposition(metrics: RequestMetrics, scrape: Collector) -> bytes:
    """The text format for one scrape (a registry made for it: nothing global)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    registry.register(scrape)
    return generate_latest(registry)
