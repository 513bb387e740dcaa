"""Capability-coverage sweeps: an account whose prompts cover far more topics than accounts of its volume.

Why (notes §1 Kesarwani et al.: how much of a model a user learned, measured as coverage of the input
space; §2 J): a distiller wants the whole capability taxonomy, so its prompts visit topics evenly —
systematically (a templated sweep) or at random (a hydra's question bank) — where a person, an
application or an evaluation suite keeps returning to a few. Coverage grows with volume for everyone,
so an account is compared only with accounts that sent as many prompts.

Topics: as the notes propose, k-means clusters (``topics`` of them) of hashed TF-IDF vectors of the
content words of the first ``warmup`` prompts of the stream, fitted once and then frozen (a topic
must mean the same thing all along; the warm-up traffic is assumed mostly benign). A prompt's topic is
its nearest centroid (cosine); prompts without a known content word have none.

Test: when an account reaches ``CHECKPOINTS`` prompts (32, 64, …), its coverage (distinct topic
buckets) is compared with the coverages of the accounts that reached the same checkpoint before it:
z = (c − median) / (1.4826 · MAD + 1), alert when z ≥ ``min_z`` with ≥ ``min_reference`` accounts in
the reference; then its own coverage joins the reference. Robust statistics, because the reference
holds the campaigns too.

Signals: ``prompts``, ``coverage``, ``reference_median``, ``reference_mad``, ``reference_accounts``,
``z``.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, Row
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import RequestFeatures

CHECKPOINTS = (32, 64, 128, 256, 512, 1024, 2048)
_MODEL = "_model"
MAX_VOCABULARY = 50_000
HASHED_DIMENSIONS = 512
KMEANS_ROUNDS = 15


def _median_mad(hist: list[int]) -> tuple[float, float, int]:
    """Median and median absolute deviation of the values whose counts ``hist`` holds."""
    total = sum(hist)

    def median_of(counts: dict[int, int]) -> float:
        half, seen = total / 2.0, 0
        for value in sorted(counts):
            seen += counts[value]
            if seen >= half:
                return float(value)
        return 0.0

    median = median_of({v: c for v, c in enumerate(hist) if c})
    deviations: dict[int, int] = {}
    for value, count in enumerate(hist):
        if count:
            key = int(abs(value - median) * 2)  # half-integer medians stay exact
            deviations[key] = deviations.get(key, 0) + count
    return median, median_of(deviations) / 2.0, total


class CapabilityCoverage(Detector):
    name = "capability_coverage"
    requests = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        topics: int = 32,
        warmup: int = 5000,
        min_z: float = 5.0,
        min_reference: int = 30,
    ) -> None:
        super().__init__(context)
        self.topics = topics
        self.warmup = warmup
        self.min_z = min_z
        self.min_reference = min_reference
        self._sample: list[tuple[str, ...]] = []  # warm-up prompts' words (rows, until the fit)
        self._df: dict[str, int] = {}
        self._centroids: np.ndarray | None = None
        # after the fit: each known word's contribution to a prompt's similarity with every centroid
        # (its idf times the centroid's weight at the word's bucket), so assigning a topic is a lookup
        # per word and one sum instead of building a hashed vector per prompt
        self._word_row: dict[str, int] = {}
        self._word_scores = np.zeros((0, 0))
        self._assigned: dict[tuple[str, ...], int | None] = {}

    # -- the topic model -------------------------------------------------------------------------------
    def before_commit(self) -> None:
        if self._centroids is None:
            self.row(_MODEL)["sample"] = [list(words) for words in self._sample]

    def after_load(self) -> None:
        model = self.rows.get(_MODEL, {})
        self._sample = [tuple(words) for words in model.get("sample", [])]
        if "centroids" in model:
            self._df = model["df"]
            self._centroids = np.asarray(model["centroids"], dtype=np.float64)
            self._index_words()

    def _vector(self, words: tuple[str, ...]) -> dict[int, float]:
        """Hashed TF-IDF of a prompt's content words, L2-normalised (words seen once are noise)."""
        df, n = self._df, max(1, self.warmup)
        out: dict[int, float] = {}
        for word in words:
            count = df.get(word, 0)
            if count >= 2:
                key = zlib.crc32(word.encode()) % HASHED_DIMENSIONS
                out[key] = out.get(key, 0.0) + math.log(n / count)
        norm = math.sqrt(sum(v * v for v in out.values()))
        return {k: v / norm for k, v in out.items()} if norm else {}

    def _fit(self) -> None:
        df: dict[str, int] = {}
        for words in self._sample:
            for word in words:
                if word in df or len(df) < MAX_VOCABULARY:
                    df[word] = df.get(word, 0) + 1
        self._df = df
        rows = np.zeros((len(self._sample), HASHED_DIMENSIONS))
        for i, words in enumerate(self._sample):
            for key, value in self._vector(words).items():
                rows[i, key] = value
        rows = rows[rows.any(axis=1)]
        rng = np.random.default_rng(0)
        centroids = rows[rng.choice(len(rows), min(self.topics, len(rows)), replace=False)]
        for _ in range(KMEANS_ROUNDS):  # spherical k-means: cosine to unit centroids
            nearest = np.argmax(rows @ centroids.T, axis=1)
            for k in range(len(centroids)):
                members = rows[nearest == k]
                if len(members):
                    mean = members.mean(axis=0)
                    centroids[k] = mean / (np.linalg.norm(mean) or 1.0)
        stored = [[round(float(v), 5) for v in c] for c in centroids]
        # the stored (rounded) centroids are the model from now on, so a restarted run assigns the
        # same topics as one that never stopped
        self._centroids = np.asarray(stored, dtype=np.float64)
        self._index_words()
        self._sample = []
        self.row(_MODEL).update(sample=[], df=df, centroids=stored)

    def _index_words(self) -> None:
        assert self._centroids is not None
        n = max(1, self.warmup)
        # as in _vector: words seen once are noise, and a word in every warm-up prompt weighs nothing
        known = [(word, count) for word, count in self._df.items() if 2 <= count < n]
        self._word_row = {word: i for i, (word, _) in enumerate(known)}
        buckets = np.fromiter(
            (zlib.crc32(word.encode()) % HASHED_DIMENSIONS for word, _ in known), np.int64, len(known)
        )
        idf = np.fromiter((math.log(n / count) for _, count in known), np.float64, len(known))
        self._word_scores = self._centroids.T[buckets] * idf[:, None]

    def topic(self, words: tuple[str, ...]) -> int | None:
        """The nearest centroid of a prompt's words, or None (memoised per word set)."""
        if words in self._assigned:
            return self._assigned[words]
        # the nearest centroid of the L2-normalised hashed TF-IDF vector: the norm scales every
        # similarity alike, so the argmax of the unnormalised sum of word contributions is the same
        index = self._word_row
        rows = [index[word] for word in words if word in index]
        found = int(np.argmax(self._word_scores[rows].sum(axis=0))) if rows else None
        if len(self._assigned) >= 1 << 16:
            self._assigned.clear()
        self._assigned[words] = found
        return found

    # -- per account -----------------------------------------------------------------------------------
    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        words = features.prompt.words
        if self._centroids is None:
            if words:
                self._sample.append(words)
                if len(self._sample) >= self.warmup:
                    self._fit()
            return []
        if event.account_id is None:
            return []
        topic = self.topic(words)
        if topic is None:
            return []
        row = self.row(event.account_id, lambda: {"n": 0, "bits": 0, "next": 0, "first": event.ts, "ev": []})
        row["n"] += 1
        bit = 1 << topic
        if not row["bits"] & bit:
            row["bits"] |= bit
            if len(row["ev"]) < 25:
                row["ev"].append(event.event_id)
        if row["next"] < len(CHECKPOINTS) and row["n"] == CHECKPOINTS[row["next"]]:
            return self._checkpoint(event.account_id, row, event.ts)
        return []

    def _checkpoint(self, account: str, row: Row, now: float) -> list[Alert]:
        checkpoint = CHECKPOINTS[row["next"]]
        row["next"] += 1
        coverage = row["bits"].bit_count()
        reference = self.row(f"ref:{checkpoint}", lambda: {"hist": [0] * (self.topics + 1)})
        median, mad, accounts = _median_mad(reference["hist"])
        reference["hist"][coverage] += 1
        if accounts < self.min_reference or row.get("alerted"):
            return []
        z = (coverage - median) / (1.4826 * mad + 1.0)
        if z < self.min_z:
            return []
        row["alerted"] = True
        signals: dict[str, float | int | str | bool] = {
            "prompts": checkpoint,
            "coverage": coverage,
            "reference_median": median,
            "reference_mad": mad,
            "reference_accounts": accounts,
            "z": round(z, 2),
        }
        return [
            Alert(
                id=alert_id(self.name, account),
                kind="coverage_sweep",
                detector=self.name,
                score=min(0.9, 0.4 + z / 20.0),
                detected_at=now,
                window=(row["first"], now),
                signals=signals,
                evidence=list(row["ev"]),
                accounts=[account],
                summary=(
                    f"account {account}: its first {checkpoint} prompts cover {coverage} topics, where "
                    f"{accounts} accounts of that volume cover a median {median:g} (z = {z:.1f})"
                ),
            )
        ]
