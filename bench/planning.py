"""Planning engine benchmark: latency on dense windows, and quality against an exact CP-SAT optimum.

Run: python bench/planning.py [--runs 2000] [--instances 240] [--seed 7]

Latency: observe + generate + rank on windows with 80 fixed events and 60 blocks in 24 h (caches cleared
before every run, so each run computes everything).
Quality: the same objective the ranker uses, written for OR-Tools CP-SAT, on random place_task /
split_task / push_successors instances; reports how often our candidate reaches the optimal objective.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from ortools.sat.python import cp_model

from scheduler.planning import engine, generate, observe, rank
from scheduler.planning.model import (
    Block,
    Candidate,
    CandidateType,
    ChangeKind,
    FixedEvent,
    PlanningContext,
    Target,
    TargetKind,
    TaskInfo,
    UserPrefs,
)
from scheduler.planning.placement import MIN_PIECE, PIECE_STEP, Weights
from scheduler.planning.repair import makeup_start
from scheduler.planning.window import Frame, current_day, merge, subtract

TZ = ZoneInfo("Asia/Shanghai")
BASE = datetime(2026, 11, 30, tzinfo=TZ)


def clear_caches() -> None:
    engine.clear_caches()


def pipeline(ctx: PlanningContext) -> tuple[Candidate, ...]:
    obs = observe(ctx)
    return rank(generate(ctx, obs), ctx)


def timed(fn: Callable[[], object]) -> float:
    t0 = _time.perf_counter()
    fn()
    return (_time.perf_counter() - t0) * 1000


# --------------------------------------------------------------------------- latency


def dense_context(rng: random.Random) -> PlanningContext:
    now = BASE + timedelta(hours=rng.randint(6, 20), minutes=rng.randint(0, 59))
    tasks = [TaskInfo(f"t{i}", f"任务{i}", rng.randint(1, 4), rng.randint(2, 24) * 5) for i in range(12)]
    tasks[0] = TaskInfo(
        "t0", "目标", 1, rng.randint(3, 12) * 5, deadline=now + timedelta(hours=rng.randint(3, 30))
    )
    fixed = []
    for i in range(80):
        s = now + timedelta(minutes=rng.randint(0, 1440))
        fixed.append(FixedEvent(f"f{i}", "会", start=s, end=s + timedelta(minutes=rng.randint(5, 15))))
    blocks = []
    unfinished = rng.random() < 0.5
    if unfinished:
        blocks.append(Block("bu", "t0", now - timedelta(minutes=45), now - timedelta(minutes=5)))
    for i in range(60 - len(blocks)):
        s = now + timedelta(minutes=rng.randint(0, 1440))
        blocks.append(Block(f"b{i}", f"t{rng.randint(1, 11)}", s, s + timedelta(minutes=rng.randint(5, 10))))
    target = (
        Target(TargetKind.UNFINISHED, block_id="bu", remaining_minutes=rng.choice([None, 25, 40]))
        if unfinished
        else Target(TargetKind.TASK, task_id="t0")
    )
    user = UserPrefs(
        day_start=time(7, 0),
        day_end=time(23, 30),
        quiet_start=time(22, 0),
        quiet_end=time(7, 30),
        preferred=((time(9, 0), time(11, 30)), (time(15, 0), time(17, 0))),
    )
    return PlanningContext(now, user, target, tuple(tasks), tuple(fixed), tuple(blocks))


def bench_latency(runs: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    ctxs = [dense_context(rng) for _ in range(200)]
    for c in ctxs[:20]:  # warm imports and zoneinfo caches
        clear_caches()
        pipeline(c)
    samples, cpu = [], []
    for i in range(runs):
        c = ctxs[i % len(ctxs)]
        clear_caches()
        t0 = _time.thread_time()
        samples.append(timed(lambda c=c: pipeline(c)))
        cpu.append((_time.thread_time() - t0) * 1000)
    samples.sort()
    cpu.sort()
    return {
        "runs": runs,
        "p50": statistics.median(samples),
        "p99": samples[int(len(samples) * 0.99) - 1],
        "max": samples[-1],
        "mean": statistics.fmean(samples),
        "cpu_p50": statistics.median(cpu),
        "cpu_p99": cpu[int(len(cpu) * 0.99) - 1],
    }


# --------------------------------------------------------------------------- exact models


@dataclass
class Problem:
    f: Frame
    w: Weights
    obstacles: list[tuple[int, int]]  # relative minutes: busy + outside day windows
    n: int  # window length in minutes
    starts: list[int]  # allowed starts (relative): the grid and the engine's anchors (busy ends, now)
    deadline: int | None  # relative
    length: int


def problem(ctx: PlanningContext) -> Problem:
    a = engine.analyze(ctx)
    f, r = a.frame, a.resolved
    base = f.start
    days = merge((max(d.start, f.start), min(d.end, f.end)) for d in f.days)
    outside = subtract([(f.start, f.end)], days)
    obstacles = [(s - base, e - base) for s, e in merge([*f.busy, *outside]) if e > base and s < f.end]
    return Problem(
        f,
        Weights(f),
        obstacles,
        f.end - base,
        [s - base for s in f.starts(f.start, f.end, 0)],
        None if r.deadline is None else r.deadline - base,
        r.needed,
    )


def _solver() -> cp_model.CpSolver:
    s = cp_model.CpSolver()
    s.parameters.num_workers = 2
    s.parameters.max_time_in_seconds = 20
    return s


def _fixed_intervals(m: cp_model.CpModel, spans: list[tuple[int, int]]) -> list[cp_model.IntervalVar]:
    return [m.new_fixed_size_interval_var(s, e - s, f"o{i}") for i, (s, e) in enumerate(spans) if e > s]


def _piece(m: cp_model.CpModel, p: Problem, length: cp_model.LinearExprT, name: str, hi: int):
    s = m.new_int_var_from_domain(cp_model.Domain.from_values(p.starts), f"s{name}")
    e = m.new_int_var(0, hi, f"e{name}")
    m.add(e == s + length)
    prefix = p.w.prefix
    ps, pe = m.new_int_var(-p.n, p.n, f"ps{name}"), m.new_int_var(-p.n, p.n, f"pe{name}")
    m.add_element(s, prefix, ps)
    m.add_element(e, prefix, pe)
    iv = m.new_interval_var(s, length, e, f"iv{name}")
    return s, e, pe - ps, iv


def exact_place(p: Problem) -> tuple[int, float]:
    m = cp_model.CpModel()
    s, e, pref, iv = _piece(m, p, p.length, "0", p.n)
    m.add_no_overlap([iv, *_fixed_intervals(m, p.obstacles)])
    meets = m.new_bool_var("meets")
    if p.deadline is None:
        m.add(meets == 1)
    else:
        m.add(e <= p.deadline).only_enforce_if(meets)
    m.maximize(meets * 100_000_000 + pref * 4_000 - s)
    solver = _solver()
    t0 = _time.perf_counter()
    status = solver.solve(m)
    assert status == cp_model.OPTIMAL, solver.status_name(status)
    return round(solver.objective_value), (_time.perf_counter() - t0) * 1000


def ours_place(p: Problem, c: Candidate) -> int:
    ch = c.changes[0]
    assert ch.start
    assert ch.end
    s, e = int(ch.start.timestamp() // 60) - p.f.start, int(ch.end.timestamp() // 60) - p.f.start
    meets = p.deadline is None or e <= p.deadline
    return int(meets) * 100_000_000 + p.w.fit(s + p.f.start, e + p.f.start) * 4_000 - s


SPLIT_W = 1441 * 1441 * 2


def exact_split(p: Problem, pieces: int) -> tuple[int | None, float]:
    m = cp_model.CpModel()
    end_by = min(p.deadline if p.deadline is not None else p.n, p.n)
    lengths: list[cp_model.LinearExprT] = []
    for i in range(pieces - 1):
        q = m.new_int_var(MIN_PIECE // PIECE_STEP, p.length // PIECE_STEP, f"q{i}")
        lengths.append(q * PIECE_STEP)
    last = m.new_int_var(MIN_PIECE, p.length, "last")
    m.add(last == p.length - sum(lengths))
    lengths.append(last)
    parts = [_piece(m, p, ln, str(i), end_by) for i, ln in enumerate(lengths)]
    for a, b in itertools.pairwise(parts):
        m.add(a[1] <= b[0])
    m.add_no_overlap([x[3] for x in parts] + _fixed_intervals(m, p.obstacles))
    m.maximize(sum(x[2] for x in parts) * SPLIT_W - parts[-1][1] * 1441 - parts[0][0])
    solver = _solver()
    t0 = _time.perf_counter()
    status = solver.solve(m)
    ms = (_time.perf_counter() - t0) * 1000
    if status == cp_model.INFEASIBLE:
        return None, ms
    assert status == cp_model.OPTIMAL, solver.status_name(status)
    return round(solver.objective_value), ms


def ours_split(p: Problem, c: Candidate) -> int:
    spans = [
        (int(ch.start.timestamp() // 60) - p.f.start, int(ch.end.timestamp() // 60) - p.f.start)
        for ch in c.changes
        if ch.start and ch.end
    ]
    pref = sum(p.w.fit(s + p.f.start, e + p.f.start) for s, e in spans)
    return pref * SPLIT_W - spans[-1][1] * 1441 - spans[0][0]


def exact_push(ctx: PlanningContext) -> tuple[int, float]:
    a = engine.analyze(ctx)
    f, r = a.frame, a.resolved
    assert r.block is not None
    day = current_day(f)
    assert day is not None
    m0 = makeup_start(f, day, r.block)
    hi = min(day.end, f.end)
    succ = [b for b in f.blocks if b.movable and b.end > m0 and b.start < hi and b.id != r.block.id]
    ids = {b.id for b in succ}
    obstacles = merge(
        [(s, e) for s, e, _ in f.fixed]
        + [(b.start, b.end) for b in f.blocks if b.id not in ids]
        + [(m0, m0 + r.needed)]
    )
    base = f.start - 1440
    m = cp_model.CpModel()
    ivs, costs, moved_flags, starts = [], [], [], []
    allowed = cp_model.Domain.from_values([s - base for s in f.starts(f.start, f.end, 0)])
    for j, b in enumerate(succ):
        orig = b.start - base
        moved = m.new_bool_var(f"m{j}")
        s = m.new_int_var(orig, max(orig, hi - base - b.minutes), f"s{j}")
        m.add(s + b.minutes <= hi - base).only_enforce_if(moved)
        at = m.new_int_var_from_domain(allowed, f"a{j}")
        m.add(s == orig).only_enforce_if(~moved)
        m.add(s == at).only_enforce_if(moved)
        m.add(s >= orig + 1).only_enforce_if(moved)
        ivs.append(m.new_fixed_size_interval_var(s, b.minutes, f"iv{j}"))
        costs.append(s - orig)
        moved_flags.append(moved)
        starts.append((s, b.minutes))
    for (s1, l1), (s2, _) in itertools.pairwise(starts):
        m.add(s1 + l1 <= s2)
    spans = [(s - base, e - base) for s, e in obstacles if e > base]
    m.add_no_overlap(ivs + _fixed_intervals(m, spans))
    m.minimize(sum(moved_flags) * 100_000 + sum(costs))
    solver = _solver()
    t0 = _time.perf_counter()
    status = solver.solve(m)
    assert status == cp_model.OPTIMAL, solver.status_name(status)
    return round(solver.objective_value), (_time.perf_counter() - t0) * 1000


# --------------------------------------------------------------------------- instances


def random_task_context(rng: random.Random, fragmented: bool) -> PlanningContext:
    now = BASE + timedelta(hours=rng.randint(0, 23), minutes=rng.randint(0, 59))
    est = rng.randint(6, 48) * 5
    deadline = None if rng.random() < 0.25 else now + timedelta(minutes=rng.randint(60, 30 * 60))
    tasks = [TaskInfo("t0", "目标", 1, est, deadline=deadline), TaskInfo("t1", "别的", 2, 60)]
    fixed = []
    count = rng.randint(15, 40) if fragmented else rng.randint(0, 12)
    for i in range(count):
        s = now + timedelta(minutes=rng.randint(-60, 1500))
        dur = rng.randint(10, 60) if fragmented else rng.randint(15, 180)
        fixed.append(FixedEvent(f"f{i}", "课", start=s, end=s + timedelta(minutes=dur)))
    blocks = []
    for i in range(rng.randint(0, 8)):
        s = now + timedelta(minutes=rng.randint(0, 1440))
        blocks.append(Block(f"b{i}", "t1", s, s + timedelta(minutes=rng.randint(3, 12) * 5)))
    prefs = tuple(
        (time(h, 0), time(min(h + rng.randint(1, 4), 23), 30))
        for h in rng.sample(range(6, 20), rng.randint(0, 2))
    )
    qs = rng.choice([None, 21, 22, 23])
    user = UserPrefs(
        day_start=time(rng.randint(6, 9), rng.choice([0, 30])),
        day_end=time(rng.choice([21, 22, 23]), rng.choice([0, 30])),
        quiet_start=None if qs is None else time(qs, 0),
        quiet_end=None if qs is None else time(7, 0),
        preferred=prefs,
        grid_minutes=rng.choice([5, 10, 15, 15, 30]),
        max_planned_minutes_per_day=24 * 60,  # no daily cap: the CP-SAT model has none
    )
    return PlanningContext(
        now, user, Target(TargetKind.TASK, task_id="t0"), tuple(tasks), tuple(fixed), tuple(blocks)
    )


def random_push_context(rng: random.Random) -> PlanningContext:
    now = BASE + timedelta(hours=rng.randint(9, 19), minutes=rng.choice([0, 15, 30, 45]))
    blocks = [Block("bu", "t0", now - timedelta(minutes=60), now)]
    cursor = now
    for i in range(rng.randint(1, 6)):
        ln = timedelta(minutes=rng.randint(3, 18) * 5)
        blocks.append(Block(f"b{i}", "t1", cursor, cursor + ln, locked=rng.random() < 0.15))
        cursor += ln + timedelta(minutes=rng.choice([0, 0, 5, 15, 30, 45]))
    fixed = []
    for i in range(rng.randint(0, 3)):
        s = now + timedelta(minutes=rng.randint(30, 600))
        fixed.append(FixedEvent(f"f{i}", "课", start=s, end=s + timedelta(minutes=rng.randint(15, 120))))
    tasks = (TaskInfo("t0", "报告", 1, 120), TaskInfo("t1", "阅读", 2, 60))
    # no per-day move cap here: the exact push model has none, so both search the same pushes
    user = UserPrefs(
        day_start=time(7, 0), day_end=time(23, 30), grid_minutes=rng.choice([5, 15, 30]), max_moves_per_day=99
    )
    target = Target(TargetKind.UNFINISHED, block_id="bu", remaining_minutes=rng.randint(2, 18) * 5)
    return PlanningContext(now, user, target, tasks, tuple(fixed), tuple(blocks))


def _no_overlap_fixed(ctx: PlanningContext) -> PlanningContext:
    """Drop fixed events that clash with the user's blocks (the random generator's bad input)."""
    keep = [
        ev
        for ev in ctx.fixed_events
        if ev.start is None
        or ev.end is None
        or not any(b.start < ev.end and ev.start < b.end for b in ctx.blocks)
    ]
    return PlanningContext(ctx.now, ctx.user, ctx.target, ctx.tasks, tuple(keep), ctx.blocks)


THREE_PIECE = [0]  # split instances that need three pieces


@dataclass
class Tally:
    n: int = 0
    optimal: int = 0
    ours_ms: list[float] | None = None
    exact_ms: list[float] | None = None

    def add(self, ok: bool, ours: float, exact: float) -> None:
        self.n += 1
        self.optimal += ok
        self.ours_ms = [*(self.ours_ms or []), ours]
        self.exact_ms = [*(self.exact_ms or []), exact]


def bench_quality(instances: int, seed: int) -> dict[str, Tally]:
    rng = random.Random(seed)
    tallies = {"place_task": Tally(), "split_task": Tally(), "push_successors": Tally()}
    quota = {
        "place_task": instances * 2 // 5,
        "split_task": instances * 3 // 10,
        "push_successors": instances * 3 // 10,
    }
    attempts = 0
    while any(tallies[k].n < quota[k] for k in quota) and attempts < instances * 200:
        attempts += 1
        kind = rng.choice([k for k in quota if tallies[k].n < quota[k]])
        if kind == "push_successors":
            ctx = _no_overlap_fixed(random_push_context(rng))
        else:
            ctx = random_task_context(rng, fragmented=kind == "split_task")
        clear_caches()
        ours_ms = timed(lambda ctx=ctx: pipeline(ctx))
        cands = pipeline(ctx)
        if kind == "push_successors":
            push = [c for c in cands if c.type == CandidateType.PUSH_SUCCESSORS]
            if not push:
                continue
            c = push[0]
            exact, ms = exact_push(ctx)
            moved = [ch for ch in c.changes if ch.kind == ChangeKind.MOVE_BLOCK]
            ours = c.disruption.blocks_moved * 100_000 + c.disruption.minutes_moved
            assert len(moved) == c.disruption.blocks_moved
            tallies[kind].add(ours == exact, ours_ms, ms)
            continue
        if not cands or cands[0].type != kind:
            continue
        p = problem(ctx)
        if kind == "place_task":
            exact, ms = exact_place(p)
            tallies[kind].add(ours_place(p, cands[0]) == exact, ours_ms, ms)
        else:
            two, ms2 = exact_split(p, 2)
            if two is not None:
                ok = len(cands[0].changes) == 2 and ours_split(p, cands[0]) == two
                tallies[kind].add(ok, ours_ms, ms2)
            else:
                three, ms3 = exact_split(p, 3)
                THREE_PIECE[0] += 1
                ok = three is not None and len(cands[0].changes) == 3 and ours_split(p, cands[0]) == three
                tallies[kind].add(ok, ours_ms, ms2 + ms3)
    return tallies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--instances", type=int, default=240)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    lat = bench_latency(args.runs, args.seed)
    print(
        f"latency (80 fixed events + 60 blocks in 24 h, observe+generate+rank, {lat['runs']:.0f} runs): "
        f"p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, "
        f"max {lat['max']:.2f} ms, mean {lat['mean']:.2f} ms; "
        f"thread CPU time p50 {lat['cpu_p50']:.2f} ms, p99 {lat['cpu_p99']:.2f} ms"
    )
    tallies = bench_quality(args.instances, args.seed)
    total = sum(t.n for t in tallies.values())
    optimal = sum(t.optimal for t in tallies.values())
    print(f"quality vs CP-SAT: {optimal}/{total} optimal ({100 * optimal / max(total, 1):.1f}%)")
    print(f"  ({THREE_PIECE[0]} of the split instances need three pieces)")
    for kind, t in tallies.items():
        ours, exact = t.ours_ms or [0.0], t.exact_ms or [0.0]
        ratios = sorted(e / o for e, o in zip(exact, ours, strict=True) if o > 0)
        print(
            f"  {kind:16s} {t.optimal}/{t.n} optimal; ours p50 {statistics.median(ours):.2f} ms, "
            f"CP-SAT p50 {statistics.median(exact):.1f} ms, time ratio CP-SAT/ours p50 "
            f"{statistics.median(ratios) if ratios else 0:.0f}x"
        )


if __name__ == "__main__":
    main()
