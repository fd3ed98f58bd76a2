"""Each entity's test of its best candidate, on any set of validation folds, from sums.

The selection (:func:`~glocal.models.selection.select_per_entity`) tests every entity on
the rows of every fold; the population guard (:mod:`glocal.models.guard`) tests it again
on every fold but one, for each fold. Every one of those tests needs, per entity and
candidate, the mean, the (Newey-West) variance and the variance floor of the row loss
differences ``d = loss(y, global) - loss(y, candidate)`` over the chosen folds' rows.

So the rows are reduced once, per candidate, to sums per (entity, fold) cell: rows,
``sum d``, the cell's mean ``m_c``, ``sum (d - m_c)^2``, per lag ``sum e_t e_(t-lag)`` and
``sum (e_t + e_(t-lag))`` over the pairs of rows ``lag`` apart in the cell (``e = d - m_c``),
the sum of the rows' variance floors, the rows without a prediction, and ``sum d`` over
the rows with one (what the guard scores on a held-out fold).

A set of folds is then a sum over its cells, per entity (the parallel algorithm of Chan,
Golub and LeVeque): ``mean = sum d / n``; with ``delta_c = m_c - mean``,
``sum (d - mean)^2 = sum_c [sum (d - m_c)^2 + n_c delta_c^2]`` and each lag's
``sum (d_t - mean)(d_(t-lag) - mean) = sum_c [sum e_t e_(t-lag) + delta_c sum (e_t +
e_(t-lag)) + pairs_c delta_c^2]``. The numbers are those of a pass over the rows, up to
rounding; a candidate equal to global on every row of the set (``d = 0``) still has a
mean and a variance of exactly 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import stats

from glocal.config.models import Objective
from glocal.models.evidence_rows import EvidenceRows
from glocal.models.frames import entity_chunks
from glocal.models.losses import row_loss

__all__ = ["Best", "FoldTests"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_BLOCK_ROWS = 1 << 18
"""Rows per block when a candidate's rows are reduced (bounds the temporaries)."""


@dataclass(frozen=True)
class Best:
    """Per entity: its best candidate on a set of folds and the test of it against global.

    Attributes:
        index: The best candidate's position (-1: no candidate has a model on every row).
        gain: Its mean loss reduction over global (-inf without a candidate).
        loss_global: The global model's mean loss.
        p_value: One-sided p-value of "the best candidate is not better" (1 untested).
        available: How many candidates predict every row.
        counts: Rows.
        nonzero: Rows with a non-zero target.
        held: Per fold left out of the set (by position), per entity, the best
            candidate's ``sum d`` over that fold's rows where it has a prediction: what
            switching to it gains on a fold it was not chosen on.

    """

    index: IntArray
    gain: FloatArray
    loss_global: FloatArray
    p_value: FloatArray
    available: FloatArray
    counts: FloatArray
    nonzero: FloatArray
    held: dict[int, FloatArray]


@dataclass(frozen=True)
class _CandidateCells:
    """One candidate's sums per (entity, fold) cell, each shaped (folds, entities)."""

    sum_d: FloatArray
    mean: FloatArray  # the cell's mean of d (0 in a cell without rows)
    squares: FloatArray  # sum (d - mean)^2
    cross: list[tuple[FloatArray, FloatArray]]  # per lag: sum e_t e_(t-l), sum of the pair
    floor: FloatArray
    missing: FloatArray
    held: FloatArray


def _fold_positions(fold: IntArray) -> tuple[IntArray, IntArray]:
    """Return the fold labels in order and each row's position among them.

    ``np.unique(fold, return_inverse=True)``, without sorting every row: a handful of
    small labels is counted instead.

    Examples:
        >>> labels, position = _fold_positions(np.array([3, 3, 10, 0, 10]))
        >>> labels.tolist(), position.tolist()
        ([0, 3, 10], [1, 1, 2, 0, 2])

    """
    if not len(fold):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low, high = int(fold.min()), int(fold.max())
    if high - low >= 1 << 16:  # sparse labels: sort
        labels, position = np.unique(fold, return_inverse=True)
        return labels.astype(np.int64), position.astype(np.int64)
    present = np.bincount(fold - low) > 0
    lookup = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present).astype(np.int64) + low, lookup[fold - low]


def _over(values: FloatArray, used: IntArray) -> FloatArray:
    """Return the sum of ``values``' rows (folds) ``used``, per entity."""
    total = values[used[0]].copy() if len(used) else np.zeros(values.shape[1])
    for fold in used[1:]:
        total += values[fold]
    return total


class _Running:
    """The best candidate so far of one set of folds, updated candidate by candidate."""

    def __init__(self, n_entities: int, left_out: IntArray) -> None:
        self.gain = np.full(n_entities, -np.inf)
        self.statistic = np.zeros(n_entities)
        self.df = np.ones(n_entities)
        self.degenerate = np.zeros(n_entities, dtype=bool)
        self.index = np.full(n_entities, -1, dtype=np.int64)
        self.available = np.zeros(n_entities)
        self.held = {int(fold): np.zeros(n_entities) for fold in left_out}


@dataclass
class FoldTests:
    """The evidence rows reduced to per-(entity, fold) sums, tested on sets of folds.

    Build it with :meth:`of`; :meth:`best` returns the tests of several fold sets in one
    pass over the candidates, and remembers them (the guard and the final choice share).
    """

    rows: EvidenceRows
    objective: Objective
    lags: int
    folds: IntArray  # the fold labels, in order; row j of every cell array is folds[j]
    cell: IntArray  # per row: fold position * entities + entity code
    count: FloatArray  # (folds, entities)
    nonzero: FloatArray
    loss_global: FloatArray
    pairs: list[FloatArray]  # per lag: pairs of rows lag apart in one cell
    blocks: list[slice]  # runs of rows that never split a cell
    workers: int  # threads over the blocks
    _known: dict[tuple[bool, ...], Best] = field(default_factory=dict)

    @classmethod
    def of(
        cls, rows: EvidenceRows, objective: Objective, lags: int, workers: int = -1
    ) -> FoldTests:
        """Reduce what every candidate shares (rows, targets, global losses) per cell.

        ``workers``: threads that reduce blocks of rows side by side (-1: every core).
        """
        folds, cell = _fold_positions(rows.fold)
        n_folds = max(1, len(folds))
        cell *= rows.n_entities  # in place: the position of each row's fold, then its cell
        cell += rows.codes
        size = rows.n_entities * n_folds
        shape = (n_folds, rows.n_entities)

        def per_cell(values: FloatArray | BoolArray | None, at: IntArray = cell) -> FloatArray:
            return np.bincount(at, values, size).astype(np.float64).reshape(shape)

        global_loss = row_loss(rows.target, rows.global_prediction, objective)
        pairs = [per_cell(cell[lag:] == cell[:-lag], cell[lag:]) for lag in range(1, lags + 1)]
        return cls(
            rows=rows,
            objective=objective,
            lags=lags,
            folds=folds.astype(np.int64),
            cell=cell,
            count=per_cell(None),
            nonzero=per_cell(rows.target != 0),
            loss_global=per_cell(global_loss),
            pairs=pairs,
            # rows pooled fold by fold, entities in order (collect_evidence's): blocks of
            # whole cells reduce side by side; rows in any other order are one block
            blocks=entity_chunks(cell, _BLOCK_ROWS),
            workers=workers,
        )

    def _candidate_cells(self, index: int, pool: ThreadPoolExecutor | None) -> _CandidateCells:
        """Reduce one candidate's rows to its sums per cell, block by block of rows."""
        size, shape = self.count.size, self.count.shape
        names = ["sum_d", "mean", "squares", "floor", "missing", "held"]
        sums = {name: np.zeros(size) for name in names}
        cross = [(np.zeros(size), np.zeros(size)) for _ in range(self.lags)]

        def reduce(block: slice) -> None:
            self._block_cells(index, block, sums, cross)

        blocks = self.blocks
        if pool is None or len(blocks) == 1:
            for block in blocks:
                reduce(block)
        else:  # blocks hold disjoint runs of cells: each thread writes its own
            list(pool.map(reduce, blocks))
        return _CandidateCells(
            **{name: values.reshape(shape) for name, values in sums.items()},
            cross=[(product.reshape(shape), pair.reshape(shape)) for product, pair in cross],
        )

    def _block_cells(
        self,
        index: int,
        block: slice,
        sums: dict[str, FloatArray],
        cross: list[tuple[FloatArray, FloatArray]],
    ) -> None:
        """Write the sums of the cells of one block of rows (cells never span blocks)."""
        rows = self.rows
        cell = self.cell[block]
        low = int(cell.min()) if len(cell) else 0
        high = int(cell.max()) + 1 if len(cell) else 0
        local = cell - low
        span, at = high - low, slice(low, high)

        def per_cell(values: FloatArray | BoolArray, where: IntArray = local) -> FloatArray:
            return np.asarray(np.bincount(where, values, span), dtype=np.float64)

        y, g = rows.target[block], rows.global_prediction[block]
        prediction = rows.predictions[index][block]
        missing = np.isnan(prediction)
        c = np.where(missing, 0.0, prediction)
        d = row_loss(y, g, self.objective)
        np.subtract(d, row_loss(y, c, self.objective), out=d)
        sums["sum_d"][at] = per_cell(d)
        count = self.count.reshape(-1)[at]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(count > 0, sums["sum_d"][at] / count, 0.0)
        sums["mean"][at] = mean
        e = d - mean[local]
        for lag, (product, pair_sum) in enumerate(cross, start=1):
            same = local[lag:] == local[:-lag]
            later = local[lag:]
            product[at] = per_cell(np.where(same, e[lag:] * e[:-lag], 0.0), later)
            pair_sum[at] = per_cell(np.where(same, e[lag:] + e[:-lag], 0.0), later)
        sums["squares"][at] = per_cell(e * e)
        spread = np.subtract(c, g, out=c)
        np.multiply(spread, spread, out=spread)
        variance_y = rows.variances[index][block]
        if self.objective == "mae":
            per_row = spread * variance_y / (variance_y + spread / 4.0 + 1e-300)
        else:
            per_row = np.multiply(np.multiply(spread, 4.0, out=spread), variance_y, out=spread)
        sums["floor"][at] = per_cell(per_row)
        sums["missing"][at] = per_cell(missing)
        sums["held"][at] = per_cell(np.where(missing, 0.0, d))

    def best(self, fold_sets: Sequence[BoolArray]) -> list[Best]:
        """Return each entity's best candidate and its test on each set of folds.

        A fold set is a boolean per fold of :attr:`folds` (True: its rows are used).
        """
        keys = [tuple(bool(used) for used in fold_set) for fold_set in fold_sets]
        if any(len(key) != len(self.folds) for key in keys):
            raise ValueError(f"a fold set needs one flag per fold ({len(self.folds)}).")
        wanted = [key for key in dict.fromkeys(keys) if key not in self._known]
        if wanted:
            self._known.update(zip(wanted, self._compute(wanted), strict=True))
        return [self._known[key] for key in keys]

    def _compute(self, keys: list[tuple[bool, ...]]) -> list[Best]:
        n_entities = self.count.shape[1]
        weights = [np.flatnonzero(key) for key in keys]  # the folds each set uses
        counts = [_over(self.count, used) for used in weights]
        running = [_Running(n_entities, np.flatnonzero(~np.asarray(key))) for key in keys]
        # overlapping target windows: L + 1 consecutive rows carry about one window's news
        n_eff = [n / (self.lags + 1.0) + 1.0 for n in counts]
        threads = (os.cpu_count() or 1) if self.workers == -1 else max(1, self.workers)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for index in range(len(self.rows.predictions)):
                cells = self._candidate_cells(index, pool if threads > 1 else None)
                for w, n, effective, best in zip(weights, counts, n_eff, running, strict=True):
                    self._update(best, index, cells, w, n, effective)
                del cells
        results = []
        for w, n, best in zip(weights, counts, running, strict=True):
            tested = best.index >= 0
            p_value = np.ones(n_entities)
            # the t tail, the costly part, once per entity: of its best candidate's statistic
            p_value[tested] = stats.t.sf(best.statistic[tested], df=best.df[tested])
            degenerate = tested & best.degenerate
            p_value[degenerate] = np.where(best.gain[degenerate] > 0, 0.0, 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                loss_global = _over(self.loss_global, w) / n
            results.append(
                Best(
                    index=best.index,
                    gain=best.gain,
                    loss_global=loss_global,
                    p_value=p_value,
                    available=best.available,
                    counts=n,
                    nonzero=_over(self.nonzero, w),
                    held=best.held,
                )
            )
        return results

    def _update(
        self,
        best: _Running,
        index: int,
        cells: _CandidateCells,
        w: IntArray,
        n: FloatArray,
        n_eff: FloatArray,
    ) -> None:
        """Let candidate ``index`` replace the entities' best where it gains more."""
        available = (n > 0) & ~(_over(cells.missing, w) > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = _over(cells.sum_d, w) / n
            squares = np.zeros_like(gain)
            covariances = [np.zeros_like(gain) for _ in cells.cross]
            for fold in w:  # a handful of folds: whole rows of entities at a time
                delta = cells.mean[fold] - gain
                squares += cells.squares[fold] + self.count[fold] * delta**2
                for covariance, (product, pair_sum), pairs in zip(
                    covariances, cells.cross, self.pairs, strict=True
                ):
                    covariance += product[fold] + delta * (pair_sum[fold] + pairs[fold] * delta)
            long_run = squares / n
            for lag, covariance in enumerate(covariances, start=1):
                long_run += 2.0 * (1.0 - lag / (self.lags + 1.0)) * covariance / n
            empirical = np.maximum(long_run, 0.0)
            floor = _over(cells.floor, w) / n
            # the Newey-West variance is already a long-run variance; the floor is a
            # per-row variance, so it is spread over independent windows, not rows
            variance_of_mean = np.maximum(empirical / n, floor / n_eff)
            standard_error = np.sqrt(variance_of_mean)
            statistic = gain / standard_error
        better = available & (gain > best.gain)
        # masked copies, not fancy indexing: whole arrays of entities, no gathers
        np.copyto(best.gain, gain, where=better)
        np.copyto(best.index, index, where=better)
        np.copyto(best.statistic, statistic, where=better)
        np.copyto(best.df, np.maximum(n_eff - 1.0, 1.0), where=better)
        np.copyto(best.degenerate, ~(standard_error > 0), where=better)
        for fold, held in best.held.items():
            np.copyto(held, cells.held[fold], where=better)
        best.available += available
