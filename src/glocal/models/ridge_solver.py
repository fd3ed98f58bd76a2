"""Vectorized per-group ridge regression: every group's model in one batched pass.

Rows are grouped by an integer code (one group per entity). Groups are processed in
chunks of similar size: a chunk's rows are gathered into a zero-padded 3-D array
(groups x rows x features), so that per-group Gram matrices are one batched ``matmul``.
Every group's Gram matrix is then reduced once to tridiagonal form by Householder
reflections, ``A = Q T Q'``, as array operations over all the chunk's groups at once. One
reduction serves every target and penalty: the ridge system for ``lam`` becomes
``(T + lam I) y = Q' b``, solved in ``O(features)`` steps, and its generalized
cross-validation (GCV) score needs the trace of ``(T + lam I)^-1``, which the forward and
backward pivots of the same tridiagonal matrix give in ``O(features)`` too. So each group
picks its own penalty at the cost of one reduction. (LAPACK's batched ``eigh`` did the
same from an eigendecomposition, about three times slower on 10 x 10 matrices: it is
kept for penalty lists that include 0, where ``T + 0 I`` may be singular.)

Chunks bound the working memory (no copy of the full design matrix is ever made) and run
on a small thread pool, because numpy's batched linear algebra releases the GIL.

The model of group ``g`` is
``y = intercept[g] + sum_j coef[g, j] * (x_j - means[g, j]) / scales[g, j]``, where a missing
``x_j`` contributes 0 (it is imputed with the group's mean). The intercept is the group's
target mean and is not penalized; the penalty is ``alpha * n_g`` (per row of the group).
Optionally (``clip``) the standardized features are clipped to ``[-clip, clip]`` in fit and
prediction, the intercept absorbs the mean of the clipped features, and predictions are
clipped to the group's training target range: a rare spike of a sparse feature (one large
order in 30 weeks) otherwise extrapolates to absurd predictions.
With ``standardize=False`` and a single penalty of 0, the solution is the minimum-norm least
squares solution of the centered problem (the semantics of scikit-learn's
``LinearRegression``), computed with a batched pseudo-inverse.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "RidgeArrays",
    "fit_grouped_ridge",
    "predict_grouped_ridge",
    "predict_grouped_ridges",
    "share_scaling",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_CONSTANT_TOLERANCE = 1e-10
_PREDICT_CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class RidgeArrays:
    """The state of every group's model; group ``g`` is row ``g`` of each array.

    Attributes:
        means: Feature means per group, shape (groups, features).
        scales: Feature scales per group (1 where constant or not standardized).
        coef: Coefficients on the standardized features, shape (groups, features).
        intercept: Target mean per group.
        alpha: Penalty chosen per group (per row), NaN where no model was fitted.
        n_rows: Training rows per group.
        fitted: Whether the group has a model (it had at least ``min_rows`` rows).
        target_min: Smallest training target per group; predictions are clipped to it.
        target_max: Largest training target per group.
        clip: Standardized features are clipped to ``[-clip, clip]`` (inf: no clipping).

    """

    means: FloatArray
    scales: FloatArray
    coef: FloatArray
    intercept: FloatArray
    alpha: FloatArray
    n_rows: IntArray
    fitted: npt.NDArray[np.bool_]
    target_min: FloatArray
    target_max: FloatArray
    clip: float = np.inf

    @classmethod
    def concat(cls, parts: Sequence[RidgeArrays]) -> RidgeArrays:
        """Stack the states of disjoint runs of groups, in order (same clip)."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            means=np.concatenate([p.means for p in parts]),
            scales=np.concatenate([p.scales for p in parts]),
            coef=np.concatenate([p.coef for p in parts]),
            intercept=np.concatenate([p.intercept for p in parts]),
            alpha=np.concatenate([p.alpha for p in parts]),
            n_rows=np.concatenate([p.n_rows for p in parts]),
            fitted=np.concatenate([p.fitted for p in parts]),
            target_min=np.concatenate([p.target_min for p in parts]),
            target_max=np.concatenate([p.target_max for p in parts]),
            clip=parts[0].clip,
        )


def _chunks(sorted_counts: IntArray, budget_rows: int) -> list[tuple[int, int]]:
    """Split groups sorted by row count into ``[start, stop)`` runs of padded size <= budget."""
    bounds: list[tuple[int, int]] = []
    start, total = 0, len(sorted_counts)
    while start < total:
        stop = min(total, start + max(1, budget_rows // max(1, int(sorted_counts[start]))))
        while stop - start > 1 and int(sorted_counts[stop - 1]) * (stop - start) > budget_rows:
            stop = start + max(1, budget_rows // max(1, int(sorted_counts[stop - 1])))
        bounds.append((start, stop))
        start = stop
    return bounds


def _gather(
    features: FloatArray,
    targets: FloatArray,
    order: IntArray | None,
    starts: IntArray,
    counts: IntArray,
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_], IntArray]:
    """Gather the rows of some groups into padded arrays (groups x rows x features).

    Also returned: which padded places hold a row, and the row each place holds.
    """
    width = int(counts.max())
    position = np.arange(width)
    valid = position[None, :] < counts[:, None]
    index = np.where(valid, starts[:, None] + position[None, :], starts[:, None])
    if order is not None:
        index = order[index]
    return features[index], targets[index], valid, index


def _standardize(
    padded: FloatArray, valid: npt.NDArray[np.bool_], standardize: bool, clip: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Center (and scale) each group's features in place.

    Returns the features, means, scales, the mean of the clipped standardized features
    (zero without clipping) and which features are constant within their group (dropped);
    the features returned are centered after clipping.
    """
    # the common chunk (groups of one row count, no missing value) needs no masks
    complete = bool(valid.all()) and not np.isnan(padded).any()
    if complete:
        n_observed: npt.NDArray[np.int64] | int = padded.shape[1]
    else:
        observed = valid[:, :, None] & ~np.isnan(padded)
        np.copyto(padded, 0.0, where=~observed)
        n_observed = observed.sum(axis=1)
    # einsum sums over the rows about three times faster than .sum(axis=1)
    means = np.einsum("grp->gp", padded) / np.maximum(n_observed, 1)
    padded -= means[:, None, :]
    if not complete:
        np.copyto(padded, 0.0, where=~observed)
    scales = np.sqrt(np.einsum("grp,grp->gp", padded, padded) / np.maximum(n_observed, 1))
    constant = scales <= _CONSTANT_TOLERANCE * (1.0 + np.abs(means))
    scales[constant] = 1.0
    if standardize:
        padded /= scales[:, None, :]
    else:
        scales = np.ones_like(scales)
    # a constant feature carries only rounding noise after centering: drop it exactly
    if constant.any():
        np.copyto(padded, 0.0, where=constant[:, None, :])
    if not np.isfinite(clip):
        return padded, means, scales, np.zeros_like(means), constant
    # a rare spike of a sparse feature would otherwise extrapolate wildly at prediction
    np.clip(padded, -clip, clip, out=padded)
    clipped_mean = np.einsum("grp->gp", padded) / np.maximum(valid.sum(axis=1), 1)[:, None]
    padded -= clipped_mean[:, None, :]
    if not complete:
        padded *= valid[:, :, None]
    return padded, means, scales, clipped_mean, constant


def _gcv_score(rss: FloatArray, dof: FloatArray, n_rows: FloatArray) -> FloatArray:
    """Generalized cross-validation score; infinite without residual degrees of freedom."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dof > 0.5, n_rows * np.maximum(rss, 0.0) / dof**2, np.inf)


def _solve_eigen(
    gram: FloatArray,
    moments: FloatArray,
    yy: FloatArray,
    n_rows: FloatArray,
    alphas: Sequence[float],
) -> list[tuple[FloatArray, FloatArray]]:
    """Solve every group's ridge systems from an eigendecomposition (any penalty, 0 too).

    ``gram`` is (groups, features, features), ``moments`` (groups, features, targets) and
    ``yy`` (groups, targets). Returns, per target, the coefficients of the GCV-best penalty
    and that penalty, per group. Directions of eigenvalue 0 get coefficient 0.
    """
    eigenvalues, vectors = np.linalg.eigh(gram)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    tolerance = eigenvalues.max(axis=1, keepdims=True) * 1e-12
    solved = []
    for k in range(moments.shape[2]):
        rotated = np.einsum("gpk,gp->gk", vectors, moments[:, :, k])
        best_score = np.full(len(n_rows), np.inf)
        best_alpha = np.full(len(n_rows), float(alphas[0]))
        best_shrink = np.zeros_like(eigenvalues)
        for alpha in alphas:
            penalty = alpha * n_rows[:, None]
            with np.errstate(divide="ignore"):
                shrink = np.where(eigenvalues > tolerance, 1.0 / (eigenvalues + penalty), 0.0)
            squared = rotated**2
            rss = (
                yy[:, k]
                - 2.0 * np.einsum("gk,gk->g", squared, shrink)
                + np.einsum("gk,gk->g", eigenvalues * squared, shrink**2)
            )
            # residual degrees of freedom: rows - intercept - effective parameters
            dof = n_rows - 1.0 - np.einsum("gk,gk->g", eigenvalues, shrink)
            score = _gcv_score(rss, dof, n_rows)
            better = (score < best_score) | (len(alphas) == 1)
            best_score[better] = score[better]
            best_alpha[better] = alpha
            best_shrink[better] = shrink[better]
        solved.append((np.einsum("gpk,gk->gp", vectors, rotated * best_shrink), best_alpha))
    return solved


def _tridiagonalize(gram: FloatArray, moments: FloatArray) -> tuple[FloatArray, ...]:
    """Reduce every group's Gram matrix to tridiagonal form by Householder reflections.

    Works on (features, features, groups) and (features, targets, groups) arrays, so every
    step is an operation on contiguous runs of groups. Returns the diagonal and the
    off-diagonal of ``T`` (features x groups and features - 1 x groups), the moments
    rotated by ``Q'`` and the unit reflector of each step (features - 2, each
    remaining features x groups; zero where the column was already reduced).
    """
    a = np.ascontiguousarray(gram.transpose(1, 2, 0))
    rotated = np.ascontiguousarray(moments.transpose(1, 2, 0))
    n_features = a.shape[0]
    reflectors = []
    for step in range(n_features - 2):
        column = a[step + 1 :, step]
        norm = np.sqrt((column * column).sum(axis=0))
        head = np.where(column[0] >= 0.0, -norm, norm)
        reflector = column.copy()
        reflector[0] -= head
        length = np.sqrt((reflector * reflector).sum(axis=0))
        reflector *= np.divide(1.0, length, out=np.zeros_like(length), where=length > 0.0)
        # A <- H A H on the trailing block, with H = I - 2 v v'
        block = a[step + 1 :, step + 1 :]
        product = (block * reflector[None]).sum(axis=1)
        product -= (reflector * product).sum(axis=0) * reflector
        outer = 2.0 * reflector[:, None] * product[None]
        block -= outer
        block -= outer.transpose(1, 0, 2)
        a[step + 1, step] = head
        _reflect(rotated[step + 1 :], reflector)
        reflectors.append(reflector)
    index = np.arange(n_features)
    return a[index, index], a[index[1:], index[:-1]], rotated, *reflectors


def _reflect(vectors: FloatArray, reflector: FloatArray) -> None:
    """Apply ``I - 2 v v'`` in place to (features, targets, groups) vectors."""
    vectors -= 2.0 * reflector[:, None] * (reflector[:, None] * vectors).sum(axis=0)[None]


def _solve_tridiagonal(
    gram: FloatArray,
    moments: FloatArray,
    yy: FloatArray,
    n_rows: FloatArray,
    alphas: Sequence[float],
) -> list[tuple[FloatArray, FloatArray]]:
    """Solve every group's ridge systems from one tridiagonal reduction (penalties > 0).

    Same arguments and result as :func:`_solve_eigen`. For each penalty, ``T + lam I`` is
    positive definite: its forward pivots solve the rotated system, and the forward and
    backward pivots together give the diagonal of its inverse,
    ``1 / (forward_i + backward_i - (T + lam I)_ii)``, whose sum is the trace GCV needs.
    """
    diagonal, off, rotated, *reflectors = _tridiagonalize(gram, moments)
    n_features, n_targets, n_groups = rotated.shape
    off_squared = off * off
    best_score = np.full((n_targets, n_groups), np.inf)
    best_alpha = np.full((n_targets, n_groups), float(alphas[0]))
    best = np.zeros((n_features, n_targets, n_groups))
    forward, backward = np.empty((2, n_features, n_groups))
    solution = np.empty((n_features, n_targets, n_groups))
    for alpha in alphas:
        penalty = alpha * n_rows
        shifted = diagonal + penalty
        forward[0], backward[-1] = shifted[0], shifted[-1]
        for i in range(1, n_features):
            forward[i] = shifted[i] - off_squared[i - 1] / forward[i - 1]
        for i in range(n_features - 2, -1, -1):
            backward[i] = shifted[i] - off_squared[i] / backward[i + 1]
        trace = (1.0 / (forward + backward - shifted)).sum(axis=0)
        # residual degrees of freedom: rows - intercept - effective parameters
        dof = n_rows - 1.0 - (n_features - penalty * trace)
        # (T + lam I) y = Q'b: eliminate forward, substitute backward
        solution[0] = rotated[0]
        for i in range(1, n_features):
            solution[i] = rotated[i] - (off[i - 1] / forward[i - 1]) * solution[i - 1]
        solution[-1] /= forward[-1]
        for i in range(n_features - 2, -1, -1):
            solution[i] = (solution[i] - off[i] * solution[i + 1]) / forward[i]
        # rss = y'y - 2 b'x + x'Ax, in the rotated coordinates
        applied = diagonal[:, None] * solution
        applied[1:] += off[:, None] * solution[:-1]
        applied[:-1] += off[:, None] * solution[1:]
        rss = yy.T - ((2.0 * rotated - applied) * solution).sum(axis=0)
        score = _gcv_score(rss, dof, n_rows)
        better = (score < best_score) | (len(alphas) == 1)  # one penalty: no choice
        best_score[better] = score[better]
        best_alpha[better] = alpha
        np.copyto(best, solution, where=better[None])
    for reflector in reversed(reflectors):
        _reflect(best[n_features - len(reflector) :], reflector)
    return [(np.ascontiguousarray(best[:, k].T), best_alpha[k]) for k in range(n_targets)]


def _fit_chunk(
    features: FloatArray,
    targets: FloatArray,
    order: IntArray | None,
    starts: IntArray,
    counts: IntArray,
    alphas: Sequence[float],
    standardize: bool,
    clip: float,
    in_sample: bool = False,
) -> tuple[FloatArray, FloatArray, list[tuple[FloatArray, ...]], _InSample | None]:
    """Fit the groups of one chunk.

    Returns means, scales, per target (coef, intercept, alpha, target min, target max)
    and, if ``in_sample``, each of the chunk's rows' in-sample predictions.
    """
    padded, y, valid, index = _gather(features, targets, order, starts, counts)
    padded, means, scales, clipped_mean, constant = _standardize(padded, valid, standardize, clip)
    n_rows = counts.astype(np.float64)
    n_groups, n_features = len(counts), padded.shape[2]
    transposed = padded.transpose(0, 2, 1)
    minimum_norm = len(alphas) == 1 and alphas[0] == 0.0
    # per target, a contiguous sum over the rows: the same in any chunk of groups
    sums = [np.where(valid, y[:, :, k], 0.0).sum(axis=1) for k in range(y.shape[2])]
    intercepts = np.stack(sums, axis=1) / n_rows[:, None]
    centered = np.where(valid[:, :, None], y - intercepts[:, None, :], 0.0)
    if not n_features:
        solved = [(np.zeros((n_groups, 0)), np.full(n_groups, float(alphas[0])))] * y.shape[2]
    elif minimum_norm:
        # minimum-norm least squares, as LinearRegression (lstsq) does
        rcond = np.finfo(np.float64).eps * max(padded.shape[1], n_features)
        pseudo_inverse = np.linalg.pinv(padded, rcond=rcond)
        coefs = np.einsum("gpr,grk->gkp", pseudo_inverse, centered)
        solved = [(coefs[:, k], np.zeros(n_groups)) for k in range(y.shape[2])]
    else:
        # one reduction of the shared Gram matrix serves every target and penalty
        gram = np.matmul(transposed, padded)
        moments = np.matmul(transposed, centered)
        yy = np.einsum("grk,grk->gk", centered, centered)
        solve = _solve_tridiagonal if min(alphas) > 0.0 else _solve_eigen
        solved = solve(gram, moments, yy, n_rows, alphas)
    results: list[tuple[FloatArray, ...]] = []
    for k, (coef, alpha) in enumerate(solved):
        intercept = intercepts[:, k]
        # the solver leaves rounding noise (1e-25) where a feature is constant: not a fit
        coef[constant] = 0.0
        # predictions use clipped but uncentered features: fold the centering in
        intercept = intercept - np.einsum("gp,gp->g", coef, clipped_mean)
        lowest = np.where(valid, y[:, :, k], np.inf).min(axis=1)
        highest = np.where(valid, y[:, :, k], -np.inf).max(axis=1)
        results.append((coef, intercept, alpha, lowest, highest))
    fitted_rows = _in_sample(padded, valid, index, intercepts, results, clip) if in_sample else None
    return means, scales, results, fitted_rows


_InSample = tuple[IntArray, FloatArray]
"""Rows of a chunk and their in-sample predictions (rows x targets)."""


def _in_sample(
    padded: FloatArray,
    valid: npt.NDArray[np.bool_],
    index: IntArray,
    means: FloatArray,
    results: list[tuple[FloatArray, ...]],
    clip: float,
) -> _InSample:
    """Predict a chunk's own rows from the fit's standardized, centered features.

    ``padded`` holds the clipped features centered on their clipped means, and ``means``
    the groups' target means: the same numbers :func:`predict_grouped_ridges` gives the
    rows (which folds the centering into the intercept), up to rounding.
    """
    columns = []
    for k, (coef, _, _, lowest, highest) in enumerate(results):
        fitted = means[:, k, None] + np.einsum("grp,gp->gr", padded, coef)
        if np.isfinite(clip):
            np.clip(fitted, lowest[:, None], highest[:, None], out=fitted)
        columns.append(fitted[valid])
    return index[valid], np.column_stack(columns)


class _GroupResults:
    """The per-group arrays every chunk of :func:`fit_grouped_ridge` fills in."""

    def __init__(self, n_groups: int, n_features: int, n_targets: int) -> None:
        self.means = np.zeros((n_groups, n_features))
        self.scales = np.ones((n_groups, n_features))
        self.coefs = [np.zeros((n_groups, n_features)) for _ in range(n_targets)]
        self.intercepts = [np.full(n_groups, np.nan) for _ in range(n_targets)]
        self.chosen = [np.full(n_groups, np.nan) for _ in range(n_targets)]
        self.lowest = [np.full(n_groups, np.nan) for _ in range(n_targets)]
        self.highest = [np.full(n_groups, np.nan) for _ in range(n_targets)]

    def store(
        self,
        chunk: IntArray,
        means: FloatArray,
        scales: FloatArray,
        results: list[tuple[FloatArray, ...]],
    ) -> None:
        """Write one chunk's groups (each thread owns its rows: no lock needed)."""
        self.means[chunk], self.scales[chunk] = means, scales
        for k, (coef, intercept, alpha, low, high) in enumerate(results):
            self.coefs[k][chunk], self.intercepts[k][chunk] = coef, intercept
            self.chosen[k][chunk] = alpha
            self.lowest[k][chunk], self.highest[k][chunk] = low, high

    def arrays(
        self, counts: IntArray, fitted: npt.NDArray[np.bool_], limit: float
    ) -> list[RidgeArrays]:
        """Return one :class:`RidgeArrays` per target."""
        return [
            RidgeArrays(
                self.means,
                self.scales,
                self.coefs[k],
                self.intercepts[k],
                self.chosen[k],
                counts,
                fitted,
                self.lowest[k],
                self.highest[k],
                limit,
            )
            for k in range(len(self.coefs))
        ]


def _run_chunks(
    run: Callable[[tuple[int, int]], None], bounds: list[tuple[int, int]], n_jobs: int
) -> None:
    """Run every chunk, on a thread pool when there are several (numpy releases the GIL)."""
    workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
    if workers == 1 or len(bounds) == 1:
        for bound in bounds:
            run(bound)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, bounds))


def fit_grouped_ridge(
    features: FloatArray,
    targets: FloatArray,
    codes: IntArray,
    n_groups: int,
    *,
    alphas: Sequence[float] = (1.0,),
    standardize: bool = True,
    min_rows: int = 1,
    n_jobs: int = 1,
    chunk_elements: int | None = None,
    clip: float | None = None,
    in_sample_out: FloatArray | None = None,
) -> list[RidgeArrays]:
    """Fit one ridge model per group and target in batched passes.

    Args:
        features: Design matrix, shape (rows, features); NaN marks a missing value.
        targets: Targets, shape (rows,) or (rows, k); every target shares the features,
            so one eigendecomposition per group serves all of them.
        codes: Group code per row, in ``[0, n_groups)``; rows need not be sorted.
        n_groups: Number of groups.
        alphas: Penalties per row of the group; with several, each group and target keeps
            the one with the lowest GCV score. ``[0.0]`` without standardization gives the
            minimum-norm least squares solution.
        standardize: Scale each group's features to unit variance before the fit.
        min_rows: Groups with fewer rows get no model (``fitted`` is False).
        n_jobs: Threads; -1 means every core.
        chunk_elements: Padded array elements per chunk; bounds the working memory.
            ``None`` scales it with the data (1/64 of the padded total, between 2**18 and
            2**20), so the working memory stays a small fraction of the input.
        clip: Clip standardized features to ``[-clip, clip]`` (fit and prediction), so a
            rare spike of a sparse feature cannot extrapolate; ``None`` disables it.
            Predictions are also clipped to the group's training target range.
        in_sample_out: If given, an array of shape (rows, targets) in which each row of a
            group with a model gets its in-sample prediction, computed from the fit's own
            standardized rows: :func:`predict_grouped_ridges`' numbers for the row, up to
            rounding, without a second pass over the features. Other rows are untouched.

    Returns:
        The per-group model state, one per target column.

    """
    targets = targets.reshape(len(targets), -1)
    n_features, n_targets = features.shape[1], targets.shape[1]
    if in_sample_out is not None and in_sample_out.shape != targets.shape:
        raise ValueError(
            f"in_sample_out has shape {in_sample_out.shape}; the targets need {targets.shape}."
        )
    counts = np.bincount(codes, minlength=n_groups).astype(np.int64)
    order = None if np.all(codes[1:] >= codes[:-1]) else np.argsort(codes, kind="stable")
    starts = np.cumsum(counts) - counts
    fitted = counts >= max(1, min_rows)
    groups = np.flatnonzero(fitted)
    groups = groups[np.argsort(counts[groups], kind="stable")]
    sorted_alphas = sorted({float(a) for a in alphas}, reverse=True)

    limit = np.inf if clip is None or not standardize else float(clip)
    results = _GroupResults(n_groups, n_features, n_targets)

    def run(bounds: tuple[int, int]) -> None:
        chunk = groups[bounds[0] : bounds[1]]
        fitted_chunk = _fit_chunk(
            features,
            targets,
            order,
            starts[chunk],
            counts[chunk],
            sorted_alphas,
            standardize,
            limit,
            in_sample=in_sample_out is not None,
        )
        results.store(chunk, *fitted_chunk[:3])
        if in_sample_out is not None and fitted_chunk[3] is not None:
            rows, values = fitted_chunk[3]
            in_sample_out[rows] = values  # chunks hold disjoint groups, so disjoint rows

    width = max(1, n_features + n_targets)
    if chunk_elements is None:
        chunk_elements = int(np.clip(len(features) * width // 64, 1 << 18, 1 << 20))
    _run_chunks(run, _chunks(counts[groups], max(1, chunk_elements // width)), n_jobs)
    return results.arrays(counts, fitted, limit)


def predict_grouped_ridge(
    features: FloatArray, codes: IntArray, arrays: RidgeArrays, *, n_jobs: int = 1
) -> FloatArray:
    """Predict every row with its group's model; NaN where the group has no model.

    Args:
        features: Design matrix with the columns used at fit time; NaN is imputed with the
            group's training mean.
        codes: Group code per row; -1 (an unseen group) gives NaN.
        arrays: The fitted state from :func:`fit_grouped_ridge`.
        n_jobs: Threads over chunks of rows; -1 means every core.

    """
    return predict_grouped_ridges(features, codes, [arrays], n_jobs=n_jobs)[0]


def share_scaling(states: Sequence[RidgeArrays]) -> bool:
    """Whether the states are targets of one fit: the same groups' means, scales and clip."""
    first = states[0]
    return all(
        other.means is first.means
        and other.scales is first.scales
        and other.fitted is first.fitted
        and other.clip == first.clip
        for other in states[1:]
    )


def predict_grouped_ridges(
    features: FloatArray, codes: IntArray, states: Sequence[RidgeArrays], *, n_jobs: int = 1
) -> list[FloatArray]:
    """Predict every row with each state's group model, standardizing the rows once.

    The states must share their groups' feature standardization (``means``, ``scales``,
    ``clip`` and ``fitted``), as the targets of one :func:`fit_grouped_ridge` call do:
    the standardized rows, the costly part, then serve every state. Same arguments and
    numbers as :func:`predict_grouped_ridge` per state.
    """
    first = states[0]
    if not share_scaling(states):
        raise ValueError("predict_grouped_ridges needs states of one fit (shared scaling).")
    predictions = [np.full(len(codes), np.nan) for _ in states]
    known = codes >= 0
    known[known] = first.fitted[codes[known]]
    rows = np.flatnonzero(known)
    clipped = np.isfinite(first.clip)

    def run(bounds: tuple[int, int]) -> None:
        part = rows[bounds[0] : bounds[1]]
        group = codes[part]
        standardized = (features[part] - first.means[group]) / first.scales[group]
        np.nan_to_num(standardized, copy=False, nan=0.0)
        if clipped:
            np.clip(standardized, -first.clip, first.clip, out=standardized)
        for arrays, prediction in zip(states, predictions, strict=True):
            raw = arrays.intercept[group] + np.einsum("rp,rp->r", standardized, arrays.coef[group])
            if clipped:
                raw = np.clip(raw, arrays.target_min[group], arrays.target_max[group])
            prediction[part] = raw

    starts = range(0, len(rows), _PREDICT_CHUNK_ROWS)
    _run_chunks(run, [(s, min(s + _PREDICT_CHUNK_ROWS, len(rows))) for s in starts], n_jobs)
    return predictions
