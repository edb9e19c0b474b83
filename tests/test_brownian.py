"""The noise (docs/mathematics.md §0–1): replayable queries, consistency under refinement,
statistics.

A reversible solve replays the increments of the forward solve in reverse
order, so the Brownian source must return the same bits for the same query in
any order, and coarse increments must be the exact combination of fine ones.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

from revsde import BrownianGrid, make_brownian, sdeint
from revsde.brownian import increment

F64 = torch.float64
N = 64
GRID = [k / N for k in range(N + 1)]
CELLS = list(zip(GRID[:-1], GRID[1:]))


def interval(entropy=123, size=(5, 3), levy_area=True):
    return make_brownian(0.0, 1.0, size, dtype=F64, device="cpu", entropy=entropy, dt=1 / N,
                         levy_area=levy_area)


def grid_bm(entropy=123, size=(5, 3), levy_area=True, **kw):
    return BrownianGrid(GRID, size, dtype=F64, entropy=entropy, levy_area=levy_area, **kw)


def _equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


# -- replay in any order ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["interval", "grid"])
def test_reverse_order_queries_are_bit_identical(kind):
    bm = interval() if kind == "interval" else grid_bm(chunk=8, cache_size=2)
    forward = [bm(a, b, return_U=True) for a, b in CELLS]
    backward = [bm(a, b, return_U=True) for a, b in reversed(CELLS)][::-1]
    assert all(_equal(f, g) for f, g in zip(forward, backward))
    order = list(range(N))
    random.Random(0).shuffle(order)
    shuffled = {k: bm(*CELLS[k], return_U=True) for k in order}
    assert all(_equal(forward[k], shuffled[k]) for k in range(N))
    # through revsde.brownian.increment, in both time directions (W and H)
    fw = [increment(bm, a, b, True) for a, b in CELLS]
    bw = [increment(bm, b, a, True) for a, b in reversed(CELLS)][::-1]
    assert all(torch.equal(f[0], -g[0]) and torch.equal(f[1], g[1]) for f, g in zip(fw, bw))


def test_brownian_interval_survives_cache_eviction():
    """More distinct queries than the LRU cache holds: the replay is still bit-identical."""
    n = 1000
    bm = make_brownian(0.0, 1.0, (4, 2), dtype=F64, device="cpu", entropy=3, dt=1 / n,
                       levy_area=True)
    qs = [(k / n, (k + 1) / n) for k in range(n)]
    forward = [bm(a, b, return_U=True) for a, b in qs]
    backward = [bm(a, b, return_U=True) for a, b in reversed(qs)][::-1]
    assert all(_equal(f, g) for f, g in zip(forward, backward))


def test_brownian_grid_fresh_instance_replays_in_reverse():
    """A BrownianGrid is a function of (grid, entropy) only, not of the query history."""
    first = grid_bm(chunk=8, cache_size=1)
    second = grid_bm(chunk=8, cache_size=1)
    forward = [first(a, b, return_U=True) for a, b in CELLS]
    backward = [second(a, b, return_U=True) for a, b in reversed(CELLS)][::-1]
    assert all(_equal(f, g) for f, g in zip(forward, backward))
    assert not torch.equal(grid_bm(entropy=124)(0.0, 1.0), first(0.0, 1.0))


def test_single_cell_increment_matches_cell_lookup():
    """``increment`` returns the cell's own (W, H) bit for bit, as the driver's fast path does.

    (Recomputing H from U rounds differently, which broke bit-identical restarts.)
    """
    bm = grid_bm()
    for n, (a, b) in enumerate(CELLS):
        w, hh = bm.cell(n)
        assert _equal(increment(bm, a, b, True), (w, hh))
        assert _equal(increment(bm, b, a, True), (-w, hh))
        w2, u = bm(a, b, return_U=True)
        assert torch.equal(w2, w)
        assert (u / (b - a) - 0.5 * w - hh).abs().max().item() < 1e-14


# -- consistency under refinement -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["interval", "grid"])
def test_coarse_increments_are_sums_of_fine_ones(kind):
    bm = interval() if kind == "interval" else grid_bm()
    fine = [bm(a, b, return_U=True) for a, b in CELLS]
    for m in (2, 8, 64):  # coarse cells of m fine cells
        for k in range(0, N, m):
            a, c = GRID[k], GRID[k + m]
            w, u = bm(a, c, return_U=True)
            w_sum = sum(fine[j][0] for j in range(k, k + m))
            # U_ac = Σ_j (U_j + (c - t_{j+1}) W_j)
            u_sum = sum(fine[j][1] + (c - GRID[j + 1]) * fine[j][0] for j in range(k, k + m))
            assert (w - w_sum).abs().max().item() < 1e-12
            assert (u - u_sum).abs().max().item() < 1e-12


def test_grid_multi_cell_query_splits_anywhere():
    """U_ac = U_ab + U_bc + (c - b) W_ab for any grid point b between a and c."""
    bm = grid_bm()
    a, c = GRID[3], GRID[50]
    w, u = bm(a, c, return_U=True)
    for b in (GRID[4], GRID[20], GRID[49]):
        w1, u1 = bm(a, b, return_U=True)
        w2, u2 = bm(b, c, return_U=True)
        assert (w - (w1 + w2)).abs().max().item() < 1e-12
        assert (u - (u1 + u2 + (c - b) * w1)).abs().max().item() < 1e-12


@pytest.mark.parametrize("kind", ["interval", "grid"])
def test_levy_area_matches_the_definition(kind):
    """H = U/h - W/2 with U = ∫ (W_u - W_a) du (docs/mathematics.md §0), against a quadrature.

    U over [0, 1] is compared to the trapezoidal rule on the path sampled at n
    points.  Their difference is Σ h·H_j over the fine cells, of standard deviation
    exactly 1/(n·sqrt(12)) ≈ 2.8e-4, while U itself has standard deviation
    sqrt(1/3) ≈ 0.58.
    """
    n = 1024
    size = (2000,)
    if kind == "interval":
        bm = make_brownian(0.0, 1.0, size, dtype=F64, device="cpu", entropy=8, dt=1 / n,
                           levy_area=True)
    else:
        bm = BrownianGrid([k / n for k in range(n + 1)], size, dtype=F64, entropy=8,
                          levy_area=True, cache_size=64)
    w_total, u_total = bm(0.0, 1.0, return_U=True)
    steps = torch.stack([bm(k / n, (k + 1) / n) for k in range(n)])
    path = torch.cat([torch.zeros(1, *size, dtype=F64), steps.cumsum(0)])
    trapezoid = (0.5 * (path[1:] + path[:-1])).sum(0) / n
    assert (path[-1] - w_total).abs().max().item() < 1e-10
    gap = u_total - trapezoid
    assert abs(gap.std().item() * n * math.sqrt(12) - 1) < 0.1
    assert abs(u_total.std().item() * math.sqrt(3) - 1) < 0.1
    w, hh = increment(bm, 0.0, 1.0, True)
    assert (hh - (u_total - 0.5 * w_total)).abs().max().item() < 1e-14
    w_r, hh_r = increment(bm, 1.0, 0.0, True)
    assert torch.equal(w_r, -w) and torch.equal(hh_r, hh)


def test_increment_without_levy_area():
    bm = grid_bm(levy_area=False)
    w, hh = increment(bm, GRID[3], GRID[9], False)
    assert hh is None
    assert torch.equal(increment(bm, GRID[9], GRID[3], False)[0], -w)
    with pytest.raises(ValueError, match="levy_area=True"):
        bm(GRID[3], GRID[9], return_U=True)


# -- statistics ----------------------------------------------------------------------------------


def test_brownian_grid_statistics():
    """W ~ N(0, h), H ~ N(0, h/12), independent, on a non-uniform grid and over merged cells.

    200 cells x 2000 paths = 400k samples per standardised check: the sample mean has
    standard error 0.0016 and the variance 0.0022, so 5-sigma bands are used.
    """
    gen = torch.Generator().manual_seed(0)
    cuts = torch.rand(199, generator=gen, dtype=F64).sort().values.tolist()
    grid = [0.0] + cuts + [2.0 * cuts[-1] - cuts[-2] + 1.0]
    bm = BrownianGrid(grid, (2000,), dtype=F64, entropy=17, levy_area=True)
    hs = torch.tensor([b - a for a, b in zip(grid[:-1], grid[1:])], dtype=F64)[:, None]
    cells = [bm.cell(n) for n in range(len(grid) - 1)]
    w = torch.stack([c[0] for c in cells]) / hs.sqrt()
    hh = torch.stack([c[1] for c in cells]) / (hs / 12).sqrt()
    n = w.numel()
    for z in (w, hh):
        assert abs(z.mean().item()) < 5 / math.sqrt(n)
        assert abs(z.var().item() - 1) < 5 * math.sqrt(2 / n)
    assert abs((w * hh).mean().item()) < 5 / math.sqrt(n)  # W and H uncorrelated
    assert abs((w[1:] * w[:-1]).mean().item()) < 5 / math.sqrt(n)  # cells independent
    assert abs((w[:, 1:] * w[:, :-1]).mean().item()) < 5 / math.sqrt(n)  # paths independent
    # merged cells: W ~ N(0, T), H = U/T - W/2 ~ N(0, T/12), uncorrelated with W
    span = grid[-1] - grid[0]
    w_all, hh_all = increment(bm, grid[0], grid[-1], True)
    m = w_all.numel()
    assert abs(w_all.var().item() / span - 1) < 5 * math.sqrt(2 / m)
    assert abs(hh_all.var().item() / (span / 12) - 1) < 5 * math.sqrt(2 / m)
    corr = (w_all * hh_all).mean().item() / math.sqrt(span * span / 12)
    assert abs(corr) < 5 / math.sqrt(m)


# -- errors ----------------------------------------------------------------------------------------


def test_brownian_grid_off_grid_query_raises():
    bm = grid_bm()
    with pytest.raises(ValueError, match="only be queried on its grid points"):
        bm(0.0, 0.5 / N)
    with pytest.raises(ValueError, match="ta <= tb"):
        bm(GRID[5], GRID[2])
    with pytest.raises(ValueError, match="strictly increasing"):
        BrownianGrid([0.0, 0.5, 0.5, 1.0], (2,))
    with pytest.raises(ValueError, match="at least two"):
        BrownianGrid([0.0], (2,))


def test_sdeint_with_a_grid_that_misses_step_points_raises():
    class SDE:
        noise_type = "diagonal"
        sde_type = "stratonovich"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return 0.1 * y

    y0 = torch.ones(5, 3, dtype=F64)
    coarse = BrownianGrid([0.0, 0.5, 1.0], (5, 3), dtype=F64, entropy=1)
    with pytest.raises(ValueError, match="grid points"):
        sdeint(SDE(), y0, torch.tensor([0.0, 1.0], dtype=F64), dt=0.1, bm=coarse)


def test_brownian_grid_holds_one_chunk():
    """Walking the grid (either way) keeps at most ``cache_size`` chunks alive."""
    import weakref

    bm = BrownianGrid([k / 64 for k in range(65)], (3, 2), dtype=F64, entropy=5, chunk=8)
    assert bm._cache_size == 1
    refs = []
    for n in list(range(64)) + list(range(63, -1, -1)):
        w, _ = bm.cell(n)
        refs.append(weakref.ref(bm._last[0]))  # the chunk the cell came from
        del w
        alive = {id(r()) for r in refs if r() is not None}
        assert len(alive) <= 1, f"{len(alive)} chunks alive at cell {n}"


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_brownian_grid_held_cell_does_not_pin_its_chunk(order):
    """A walk that keeps the previous cell while reading the next (the adjoint sums the
    two) holds that one cell across a chunk boundary, not the whole evicted chunk."""
    import weakref

    bm = BrownianGrid([k / 32 for k in range(33)], (3, 2), dtype=F64, entropy=5, chunk=8)
    cells = range(32) if order == "forward" else range(31, -1, -1)
    chunk = None
    for n in cells:
        w, _ = bm.cell(n)
        if chunk is not None and chunk() is not None and chunk() is not bm._last[0]:
            raise AssertionError(f"the previous chunk is still alive at cell {n}")
        chunk = weakref.ref(bm._last[0])
        assert torch.equal(w, bm(bm.times[n], bm.times[n + 1]))  # the same bits as a query
        prev = w  # noqa: F841 - held on purpose while the next cell is read
