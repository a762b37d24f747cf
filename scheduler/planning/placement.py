"""Placing work into free time: one block (place_task / makeup_block) or 2-3 pieces (split_task)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from scheduler.planning.window import Frame, Span, merge, subtract

MIN_PIECE = 25  # a split piece shorter than this is not worth starting
PIECE_STEP = 5  # split piece lengths are multiples of this (the last piece takes the remainder)
SLIVER = 30  # free time left shorter than this is a fragment nobody can use well


class Weights:
    """Per-minute preference weights with prefix sums: +1 preferred, -1 quiet, -1 outside the day window."""

    def __init__(self, f: Frame) -> None:
        self.base = f.start
        self.n = n = f.end - f.start
        diff = [0] * (n + 1)  # a difference array keeps construction O(n + spans)
        outside = subtract([(f.start, f.end)], merge((d.start, d.end) for d in f.days))
        for spans, value in ((f.preferred, 1), (f.quiet, -1), (outside, -1)):
            for s, e in spans:
                a, b = max(0, s - self.base), min(n, e - self.base)
                if a < b:
                    diff[a] += value
                    diff[b] -= value
        self.prefix = [0, *accumulate(accumulate(diff[:n]))]

    def fit(self, s: int, e: int) -> int:
        a = min(max(0, s - self.base), self.n)
        b = min(max(0, e - self.base), self.n)
        return self.prefix[b] - self.prefix[a]


WeightsKey = tuple[int, int, tuple[Span, ...], tuple[Span, ...], tuple[Span, ...]]
_WEIGHTS: dict[WeightsKey, Weights] = {}
_WEIGHTS_SIZE = 64


def weights(f: Frame) -> Weights:
    """Weights(f), shared by frames with the same window, day windows, preferred and quiet time (the
    contexts of one batch planned at one instant for users with the same settings): building one costs a
    pass over every minute of the window. Weights are never changed once built."""
    key = (f.start, f.end, tuple((d.start, d.end) for d in f.days), f.preferred, f.quiet)
    hit = _WEIGHTS.get(key)
    if hit is None:
        if len(_WEIGHTS) >= _WEIGHTS_SIZE:
            del _WEIGHTS[next(iter(_WEIGHTS))]
        hit = _WEIGHTS[key] = Weights(f)
    return hit


def clear_weights() -> None:
    _WEIGHTS.clear()


@dataclass(frozen=True)
class Place:
    start: int
    end: int
    meets: bool
    pref: int
    slack: int
    slot: Span

    def key(self) -> tuple[bool, int, int, int]:
        """The ranking order for single placements (higher is better)."""
        return (self.meets, self.pref, self.slack, -self.start)

    def fragments(self) -> tuple[int, int]:
        gaps = (self.start - self.slot[0], self.slot[1] - self.end)
        return (sum(1 for g in gaps if 0 < g < SLIVER), sum(1 for g in gaps if g > 0))


def all_places(
    f: Frame, w: Weights, slots: tuple[Span, ...], length: int, deadline: int | None
) -> list[Place]:
    ref = deadline if deadline is not None else f.end
    out = []
    for slot in slots:
        for s in f.starts(slot[0], slot[1], length):
            e = s + length
            out.append(Place(s, e, deadline is None or e <= deadline, w.fit(s, e), ref - e, slot))
    return out


def apart(a: int, b: int, length: int, step: int) -> bool:
    """Two options are genuinely different: they do not overlap and start at least an hour apart."""
    return abs(a - b) >= max(2 * step, 60, length)


def choose_places(places: list[Place], length: int, step: int, limit: int = 3) -> list[tuple[Place, str]]:
    """Up to `limit` distinct options: best fit (the ranker's choice), earliest, least fragmentation."""
    if not places:
        return []
    pool = [p for p in places if p.meets] or places
    best = max(pool, key=Place.key)
    orders = (
        ("earliest", sorted(pool, key=lambda p: p.start)),
        ("least_fragmentation", sorted(pool, key=lambda p: (*p.fragments(), -p.pref, p.start))),
    )
    chosen = [(best, "best")]
    for label, order in orders:
        if len(chosen) >= limit:
            break
        pick = next((p for p in order if all(apart(p.start, c.start, length, step) for c, _ in chosen)), None)
        if pick is not None:
            chosen.append((pick, label))
    return chosen


@dataclass(frozen=True)
class Split:
    pieces: tuple[tuple[int, int], ...]
    pref: int

    @property
    def end(self) -> int:
        return self.pieces[-1][1]

    @property
    def start(self) -> int:
        return self.pieces[0][0]


class _Best:
    """Best start of a piece of a given length in one slot: max preference, then earliest."""

    def __init__(self, f: Frame, w: Weights, slot: Span) -> None:
        self.f, self.w, self.slot = f, w, slot
        self.cap = slot[1] - slot[0]
        self._memo: dict[int, tuple[int, int] | None] = {}

    def __call__(self, length: int) -> tuple[int, int] | None:
        if length in self._memo:
            return self._memo[length]
        best: tuple[int, int] | None = None
        for s in self.f.starts(self.slot[0], self.slot[1], length):
            p = self.w.fit(s, s + length)
            if best is None or p > best[0]:
                best = (p, s)
        self._memo[length] = best
        return best


def _lengths(lo: int, hi: int) -> range:
    lo = max(lo, MIN_PIECE)
    lo += -lo % PIECE_STEP
    return range(lo, hi + 1, PIECE_STEP)


def best_split(f: Frame, w: Weights, slots: tuple[Span, ...], length: int, end_by: int) -> Split | None:
    """The best 2-piece split before `end_by`, else the best 3-piece one. Pieces lie in different slots
    (two pieces in one slot would fit as one block, and a split is only sought when none fits)."""
    usable = [(s, min(e, end_by)) for s, e in slots if min(e, end_by) - s >= MIN_PIECE]
    bests = [_Best(f, w, s) for s in usable]
    for n in (2, 3):
        found = _search(bests, length, n)
        if found is not None:
            return found
    return None


def _search(bests: list[_Best], length: int, n: int) -> Split | None:
    top: tuple[tuple[int, int, int], Split] | None = None
    k = len(bests)

    def consider(parts: list[tuple[int, int, int]]) -> None:
        nonlocal top
        pref = sum(p for p, _, _ in parts)
        pieces = tuple((s, s + ln) for _, s, ln in parts)
        key = (pref, -pieces[-1][1], -pieces[0][0])
        if top is None or key > top[0]:
            top = (key, Split(pieces, pref))

    for i in range(k):
        bi = bests[i]
        for j in range(i + 1, k):
            bj = bests[j]
            if n == 2:
                for l1 in _lengths(length - bj.cap, min(bi.cap, length - MIN_PIECE)):
                    l2 = length - l1
                    if l2 < MIN_PIECE or l2 > bj.cap:
                        continue
                    a, b = bi(l1), bj(l2)
                    if a is not None and b is not None:
                        consider([(a[0], a[1], l1), (b[0], b[1], l2)])
                continue
            for m in range(j + 1, k):
                bm = bests[m]
                if bi.cap + bj.cap + bm.cap < length:
                    continue
                for l1 in _lengths(length - bj.cap - bm.cap, min(bi.cap, length - 2 * MIN_PIECE)):
                    a = bi(l1)
                    if a is None:
                        continue
                    for l2 in _lengths(length - l1 - bm.cap, min(bj.cap, length - l1 - MIN_PIECE)):
                        l3 = length - l1 - l2
                        if l3 < MIN_PIECE or l3 > bm.cap:
                            continue
                        b, c = bj(l2), bm(l3)
                        if b is not None and c is not None:
                            consider([(a[0], a[1], l1), (b[0], b[1], l2), (c[0], c[1], l3)])
    return top[1] if top else None
