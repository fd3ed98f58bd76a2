"""Resolve the global learner named in settings and validate its parameters.

``lightgbm`` is the default. Any scikit-learn regressor from ``sklearn.ensemble``,
``sklearn.linear_model`` or ``sklearn.tree`` can be named by its class name; names are
resolved from that whitelist only, never imported from a user string. Parameters are
checked before training, so that a typo fails loudly instead of LightGBM warning and
ignoring it.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Mapping
from typing import Any

import lightgbm as lgb

from glocal.core.errors import ConfigError

__all__ = [
    "LIGHTGBM",
    "LIGHTGBM_DEFAULTS",
    "LIGHTGBM_OBJECTIVES",
    "lightgbm_params",
    "resolve_sklearn",
    "sklearn_params",
    "sklearn_regressors",
]

LIGHTGBM = "lightgbm"
LIGHTGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "verbose": -1,
    "n_jobs": 1,
}
"""Defaults of the LightGBM global model; ``n_estimators`` is a cap for early stopping.

``n_jobs`` is 1 because OpenMP threads that spin-wait for a busy core made training 30x
slower on a shared 2-core machine; raise it on a dedicated host.
"""

_SKLEARN_MODULES = ("ensemble", "linear_model", "tree")
# meta-estimators need other estimators as arguments; multi-task ones need a 2-D target
_EXCLUDED = ("StackingRegressor", "VotingRegressor", "RANSACRegressor", "MultiTask")


@functools.cache
def sklearn_regressors() -> dict[str, type[Any]]:
    """Return the whitelist of scikit-learn regressors by class name."""
    from sklearn.utils import all_estimators

    found: dict[str, type[Any]] = {}
    for name, cls in all_estimators(type_filter="regressor"):
        module = cls.__module__.split(".")
        if len(module) > 1 and module[1] in _SKLEARN_MODULES and not name.startswith(_EXCLUDED):
            found[name] = cls
    return found


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def resolve_sklearn(name: str) -> type[Any]:
    """Return the scikit-learn regressor class called ``name``.

    Raises:
        ConfigError: ``name`` is neither 'lightgbm' nor a whitelisted regressor.

    """
    regressors = sklearn_regressors()
    if name not in regressors:
        valid = [LIGHTGBM, *sorted(regressors)]
        raise ConfigError(
            f"global_model.estimator {name!r} is unknown.{_suggest(name, valid)} "
            f"Valid names: {', '.join(valid)}."
        )
    return regressors[name]


@functools.cache
def _lightgbm_names() -> frozenset[str]:
    names = set(inspect.signature(lgb.LGBMRegressor.__init__).parameters) - {"self", "kwargs"}
    # every parameter of the LightGBM C++ core and all of its aliases
    aliases: Mapping[str, list[str]] = lgb.basic._ConfigAliases._get_all_param_aliases()
    for main, others in aliases.items():
        names.add(main)
        names.update(others)
    names.add("verbose")
    return frozenset(names)


LIGHTGBM_OBJECTIVES = {"mse": "regression", "mae": "regression_l1"}
"""LightGBM's objective for each glocal ``objective``."""

_OBJECTIVE_ALIASES = ("objective", "objective_type", "app", "application", "loss")


def lightgbm_params(params: Mapping[str, Any], seed: int, objective: str = "mse") -> dict[str, Any]:
    """Return LightGBM keyword arguments: defaults, the objective's loss, then ``params``.

    An ``objective`` given in ``params`` wins over the one derived from ``objective``.

    Raises:
        ConfigError: A parameter is not a LightGBM parameter or alias.

    """
    known = _lightgbm_names()
    for name in params:
        if name not in known:
            raise ConfigError(
                f"global_model.params: LightGBM does not accept parameter {name!r}."
                f"{_suggest(name, sorted(known))} See "
                "https://lightgbm.readthedocs.io/en/latest/Parameters.html for valid names."
            )
    loss = {"objective": LIGHTGBM_OBJECTIVES[objective]}
    if any(alias in params for alias in _OBJECTIVE_ALIASES):
        loss = {}
    merged = {**LIGHTGBM_DEFAULTS, "random_state": seed, **loss, **params}
    return merged


def sklearn_params(cls: type[Any], params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Return keyword arguments for the scikit-learn regressor ``cls``, validated.

    Raises:
        ConfigError: A parameter is not accepted by ``cls``.

    """
    accepted = set(cls().get_params())
    for name in params:
        if name not in accepted:
            raise ConfigError(
                f"global_model.params: {cls.__name__} does not accept parameter {name!r}."
                f"{_suggest(name, sorted(accepted))} Accepted: {', '.join(sorted(accepted))}."
            )
    merged = dict(params)
    if "random_state" in accepted and "random_state" not in merged:
        merged["random_state"] = seed
    return merged
