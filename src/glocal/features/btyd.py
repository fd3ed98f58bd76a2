"""BG/NBD + Gamma-Gamma expected spend: the standard customer-lifetime-value forecast.

The BG/NBD model (Fader, Hardie & Lee 2005) describes each customer by a Poisson purchase
rate and a probability of dropping out after each purchase, both drawn from population
distributions with four parameters ``r, alpha, a, b``; from a customer's repeat purchases
``x``, the age of the last one ``t_x`` and the age of the customer ``T`` it gives the
expected number of purchases in the next ``t`` days. The Gamma-Gamma model (Fader, Hardie
& Lee 2005b) shrinks the customer's mean spend per purchase toward the population's with
parameters ``p, q, v``. Their product is the expected spend over the horizon.

glocal fits both by maximum likelihood at every cutoff, on the history before it, and
stores the forecast as the panel column ``baseline_btyd``; the model layer uses it as a
feature, an offset and an ensemble member. The likelihoods and the conditional
expectation are those of the ``lifetimes`` library and of pymc-marketing's CLV models, and
``tests/features/test_btyd.py`` checks the expectation against pymc-marketing's. Fitting is
vectorized over customers: identical ``(x, t_x, T)`` triples are fitted once with a count
weight, and at most :data:`MAX_FIT_CUSTOMERS` customers (a seeded sample) enter a fit, so
a cutoff with a million customers fits as fast as one with a hundred thousand. SciPy is
imported where it is used, so that importing the features layer does not cost its 0.6 s.

Examples:
    >>> x = np.array([0.0, 1.0, 5.0, 2.0, 0.0, 8.0])
    >>> t_x = np.array([0.0, 30.0, 200.0, 90.0, 0.0, 300.0])
    >>> age = np.array([40.0, 120.0, 250.0, 300.0, 10.0, 310.0])
    >>> params = fit_bgnbd(x, t_x, age)
    >>> expected = expected_purchases(params, 30, x, t_x, age)
    >>> bool(expected[5] > expected[3] > 0)
    True

"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from glocal.core.atomic import write_json_atomic

__all__ = [
    "BTYD_FITS_FILE",
    "MAX_FIT_CUSTOMERS",
    "BgNbdParams",
    "GammaGammaParams",
    "btyd_expected_spend",
    "btyd_spend",
    "expected_purchases",
    "expected_spend_per_purchase",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "load_remembered_fits",
    "save_remembered_fits",
]

FloatArray = npt.NDArray[np.float64]

MAX_FIT_CUSTOMERS = 50_000
"""Customers that enter one fit at most (a seeded sample); every customer is predicted."""

_PENALTY = 1e-4
"""Ridge penalty on the log-parameters: keeps flat directions of the likelihood finite."""

_FITS_KEPT = 4096
_fits: OrderedDict[bytes, object] = OrderedDict()
_Fit = TypeVar("_Fit")


def _remembered(fit: Callable[..., _Fit], arrays: tuple[FloatArray, ...], seed: int) -> _Fit:
    """Return ``fit(*arrays, seed=seed)``, remembered by its inputs' bytes (a bounded LRU).

    A fit depends only on its inputs, so a replay that rebuilds the panel a week later
    (``glocal backtest``) refits only the new cutoff: every earlier cutoff has the same
    history before it, hence the same arrays and the same parameters.
    """
    digest = hashlib.blake2b(f"{fit.__name__}:{seed}".encode(), digest_size=20)
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        digest.update(b"|")
    key = digest.digest()
    if key in _fits:
        _fits.move_to_end(key)
        return _fits[key]  # type: ignore[return-value]
    result = fit(*arrays, seed=seed)
    _fits[key] = result
    if len(_fits) > _FITS_KEPT:
        _fits.popitem(last=False)
    return result


_MEMORY_FORMAT = "glocal-btyd-fits"
BTYD_FITS_FILE = "btyd_fits.json"
"""Where a workspace keeps its remembered fits (under ``data/processed/``)."""


def save_remembered_fits(path: Path) -> None:
    """Write the remembered fits to ``path`` (JSON, atomically) for the next process.

    A daily ``glocal run`` is a new process: without this it would refit every cutoff of
    the panel although only the newest one has new history.
    """
    fits = []
    for key, params in _fits.items():
        kind = type(params).__name__
        if kind in _PARAM_TYPES:
            fits.append({"key": key.hex(), "kind": kind, "params": asdict(params)})  # type: ignore[call-overload]
    write_json_atomic(path, {"format": _MEMORY_FORMAT, "fits": fits})


def load_remembered_fits(path: Path) -> int:
    """Remember the fits saved at ``path``; return how many.

    A missing or unreadable file, or a malformed entry, is skipped: that fit is computed
    again, so the file can never change a result, only save time.
    """
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        entries = payload["fits"] if payload.get("format") == _MEMORY_FORMAT else []
    except (OSError, ValueError, AttributeError, KeyError):
        return 0
    loaded = 0
    for entry in entries[-_FITS_KEPT:] if isinstance(entries, list) else []:
        try:
            params = _PARAM_TYPES[entry["kind"]](
                **{k: float(v) for k, v in entry["params"].items()}
            )
            _fits[bytes.fromhex(entry["key"])] = params
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        loaded += 1
    while len(_fits) > _FITS_KEPT:
        _fits.popitem(last=False)
    return loaded


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters (time in days)."""

    r: float
    alpha: float
    a: float
    b: float

    def as_log(self) -> FloatArray:
        """Return the log-parameters, e.g. to warm-start the next cutoff's fit."""
        return np.log([self.r, self.alpha, self.a, self.b])


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters of spend per purchase."""

    p: float
    q: float
    v: float


_PARAM_TYPES: dict[str, type[BgNbdParams] | type[GammaGammaParams]] = {
    "BgNbdParams": BgNbdParams,
    "GammaGammaParams": GammaGammaParams,
}


def _compressed(
    columns: tuple[FloatArray, ...], seed: int
) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Return the distinct rows of ``columns`` and their counts (a seeded sample if huge)."""
    n = len(columns[0])
    if n > MAX_FIT_CUSTOMERS:
        keep = np.random.default_rng(seed).choice(n, MAX_FIT_CUSTOMERS, replace=False)
        columns = tuple(column[keep] for column in columns)
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return tuple(unique[:, j] for j in range(unique.shape[1])), counts.astype(np.float64)


def _bgnbd_negative_log_likelihood(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray, weight: FloatArray
) -> float:
    from scipy.special import gammaln

    r, alpha, a, b = np.exp(log_params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + age)
    repeat = x > 0
    a4 = np.full(len(x), -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1.0) - (r + x[repeat]) * np.log(t_x[repeat] + alpha)
    )
    log_likelihood = a1 + a2 + np.logaddexp(a3, a4)
    mean = float(np.dot(weight, log_likelihood) / weight.sum())
    return -mean + _PENALTY * float(np.dot(log_params, log_params))


def fit_bgnbd(
    frequency: FloatArray,
    recency: FloatArray,
    age: FloatArray,
    *,
    start: BgNbdParams | None = None,
    seed: int = 0,
) -> BgNbdParams:
    """Fit BG/NBD by maximum likelihood (with a tiny ridge on the log-parameters).

    Args:
        frequency: Repeat purchases ``x`` of each customer (purchase days minus one).
        recency: Age ``t_x`` of the last purchase, days after the first one.
        age: Age ``T`` of the customer at the cutoff, days after the first purchase.
        start: Parameters to start from (default: a fixed point, so fits are reproducible).
        seed: Seed of the sample taken when there are more than
            :data:`MAX_FIT_CUSTOMERS` customers.

    """
    from scipy.optimize import minimize

    (x, t_x, t_age), weight = _compressed((frequency, recency, age), seed)
    initial = start.as_log() if start is not None else np.log([0.5, 10.0, 0.5, 2.0])
    with np.errstate(all="ignore"):
        result = minimize(
            _bgnbd_negative_log_likelihood,
            initial,
            args=(x, t_x, t_age, weight),
            method="L-BFGS-B",
        )
    r, alpha, a, b = np.exp(result.x)
    return BgNbdParams(float(r), float(alpha), float(a), float(b))


def expected_purchases(
    params: BgNbdParams,
    horizon_days: float,
    frequency: FloatArray,
    recency: FloatArray,
    age: FloatArray,
) -> FloatArray:
    """Return each customer's expected number of purchases in the next ``horizon_days``.

    Equation (10) of Fader, Hardie & Lee (2005), as in ``lifetimes`` and pymc-marketing.
    """
    from scipy.special import hyp2f1

    r, alpha, b, t = params.r, params.alpha, params.b, float(horizon_days)
    # a = 1 is a removable singularity of the closed form; step off it
    a = params.a if abs(params.a - 1.0) > 1e-6 else 1.0 + 1e-6
    x = np.asarray(frequency, dtype=np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hypergeometric = hyp2f1(r + x, b + x, a + b + x - 1.0, t / (alpha + age + t))
        first = (a + b + x - 1.0) / (a - 1.0)
        second = 1.0 - hypergeometric * ((alpha + age) / (alpha + age + t)) ** (r + x)
        denominator = 1.0 + (x > 0) * (a / (b + x - 1.0)) * ((alpha + age) / (alpha + recency)) ** (
            r + x
        )
        expected = first * second / denominator
    return np.where(np.isfinite(expected), np.maximum(expected, 0.0), 0.0)


def _gamma_gamma_negative_log_likelihood(
    log_params: FloatArray, x: FloatArray, m: FloatArray, weight: FloatArray
) -> float:
    from scipy.special import gammaln

    p, q, v = np.exp(log_params)
    log_likelihood = (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1.0) * np.log(m)
        + (p * x) * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )
    return -float(np.dot(weight, log_likelihood) / weight.sum())


def fit_gamma_gamma(
    frequency: FloatArray, monetary: FloatArray, *, seed: int = 0
) -> GammaGammaParams | None:
    """Fit Gamma-Gamma on customers with repeat purchases and positive mean spend.

    Returns ``None`` when there are fewer than 10 such customers or when the fit implies
    an infinite population mean (``q <= 1``: spend too heavy-tailed for the model); the
    caller then uses each customer's own mean spend.
    """
    usable = (frequency > 0) & (monetary > 0) & np.isfinite(monetary)
    if usable.sum() < 10:
        return None
    from scipy.optimize import minimize

    (x, m), weight = _compressed((frequency[usable], monetary[usable]), seed)
    start = np.log([2.0, 3.0, float(np.median(m))])
    with np.errstate(all="ignore"):
        result = minimize(
            _gamma_gamma_negative_log_likelihood, start, args=(x, m, weight), method="L-BFGS-B"
        )
    p, q, v = np.exp(result.x)
    if not (result.success and np.isfinite([p, q, v]).all() and q > 1.01):
        return None
    return GammaGammaParams(float(p), float(q), float(v))


def expected_spend_per_purchase(
    params: GammaGammaParams | None,
    frequency: FloatArray,
    repeat_monetary: FloatArray,
    mean_monetary: FloatArray,
) -> FloatArray:
    """Return each customer's expected spend per future purchase.

    With ``params``, the Gamma-Gamma conditional mean (the population mean for customers
    without repeat purchases); without, the customer's own mean spend per purchase day.
    """
    if params is None:
        return np.nan_to_num(np.maximum(mean_monetary, 0.0))
    p, q, v = params.p, params.q, params.v
    x = np.asarray(frequency, dtype=np.float64)
    m = np.where(x > 0, np.nan_to_num(repeat_monetary), 0.0)
    conditional = p * (v + x * m) / (p * x + q - 1.0)
    return np.where(x > 0, conditional, v * p / (q - 1.0))


def btyd_expected_spend(
    cutoff: npt.NDArray[np.int64],
    frequency: FloatArray,
    recency: FloatArray,
    age: FloatArray,
    repeat_monetary: FloatArray,
    mean_monetary: FloatArray,
    horizon_days: int,
    *,
    seed: int = 0,
) -> FloatArray:
    """Return the BG/NBD + Gamma-Gamma expected spend of every (customer, cutoff) row.

    Both models are fitted once per distinct cutoff on that cutoff's rows (each row is a
    customer's history before the cutoff, so nothing after it is used), each from the same
    starting point: a cutoff's forecast never depends on which other cutoffs were fitted
    before it, so the latest snapshot equals the panel's last cutoff exactly. The loop runs
    over cutoffs, never over customers. Fits are remembered by their exact inputs, so a
    cutoff already fitted (the same rows, the same history) is not fitted again.
    """
    expected = np.zeros(len(cutoff))
    if len(cutoff) == 0:
        return expected
    order = np.argsort(cutoff, kind="stable")
    boundaries = np.flatnonzero(np.diff(cutoff[order])) + 1
    for rows in np.split(order, boundaries):
        x, t_x, t_age = frequency[rows], recency[rows], age[rows]
        params = _remembered(fit_bgnbd, (x, t_x, t_age), seed)
        spend = _remembered(fit_gamma_gamma, (x, repeat_monetary[rows]), seed)
        expected[rows] = btyd_spend(
            params, spend, horizon_days, x, t_x, t_age, repeat_monetary[rows], mean_monetary[rows]
        )
    return expected


def btyd_spend(
    params: BgNbdParams,
    spend: GammaGammaParams | None,
    horizon_days: int,
    frequency: FloatArray,
    recency: FloatArray,
    age: FloatArray,
    repeat_monetary: FloatArray,
    mean_monetary: FloatArray,
) -> FloatArray:
    """Return the expected spend over the horizon of customers of one fitted cutoff.

    Expected purchases (BG/NBD) times expected spend per purchase (Gamma-Gamma, or each
    customer's own mean where ``spend`` is None).
    """
    purchases = expected_purchases(params, horizon_days, frequency, recency, age)
    per_purchase = expected_spend_per_purchase(spend, frequency, repeat_monetary, mean_monetary)
    result: FloatArray = purchases * per_purchase
    return result
