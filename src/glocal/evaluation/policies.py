"""The reference policies that the hybrid model is compared with on the test block.

* ``naive``: the panel's ``baseline_naive`` column: each entity's net spend over the last
  ``features.naive_window_days`` scaled to the horizon (the spreadsheet forecast).
* ``btyd``: BG/NBD + Gamma-Gamma from pymc-marketing (:mod:`glocal.evaluation.btyd`).
* ``global``: the global learner on the panel's features, early-stopped on the most
  recent validation fold and refitted on the whole history: one model for everyone.
* ``global_with_entity_id``: the same learner given the entity id as a categorical
  feature, one model that knows who is who.
* ``seed_recipe``: the user's sketch taken literally: a scikit-learn
  ``RandomForestRegressor`` with default settings as the global model, an unregularized
  ``LinearRegression`` per entity with at least 20 rows, and the local model whenever it
  exists.
* ``global_stage``: the hybrid's own global stage alone (no per-entity choice).
* ``local_only``: each entity's best local candidate where one exists, the global stage
  elsewhere.
* ``entity_oracle``: per entity, the better of ``global_stage`` and ``local_only`` judged on
  the test block itself; unreachable, it shows the headroom of per-entity choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import GlobalModelSettings, Objective
from glocal.features import Fold
from glocal.models import GlobalModel, LocalModelBank
from glocal.models.losses import row_loss

__all__ = [
    "SEED_RECIPE_MAX_ROWS",
    "SEED_RECIPE_MIN_ROWS",
    "entity_oracle_predictions",
    "learner_predictions",
    "naive_predictions",
    "seed_recipe_predictions",
]

FloatArray = npt.NDArray[np.float64]

SEED_RECIPE_MIN_ROWS = 20
"""The user's sketch skips customers with fewer than 20 rows."""

SEED_RECIPE_MAX_ROWS = 20_000
"""The recipe's random forest is fitted on a seeded sample of at most this many rows.

Unbounded, scikit-learn's default forest took more than 15 minutes on a 1.1M-row history;
the sample keeps it to seconds, and the recipe's per-entity regressions (where its error
comes from) still see every row.
"""

_ENTITY_FEATURE = "entity_id"
_NAIVE = "baseline_naive"


def seed_recipe_predictions(
    history: pd.DataFrame,
    test: pd.DataFrame,
    feature_columns: Sequence[str],
    categorical_columns: Sequence[str],
    seed: int,
) -> tuple[FloatArray, str]:
    """Fit the user's recipe on ``history`` and predict ``test``; also return a note.

    The random forest keeps scikit-learn's defaults except ``n_jobs=-1``, which changes
    speed, not the model; it is fitted on at most :data:`SEED_RECIPE_MAX_ROWS` rows. The
    per-entity regressions use the numeric features only: the sketch's
    ``group.drop(columns=[...])`` would hand a string column to ``LinearRegression``.
    """
    sample = history
    note = "random forest on every history row"
    if len(history) > SEED_RECIPE_MAX_ROWS:
        sample = history.sample(n=SEED_RECIPE_MAX_ROWS, random_state=seed)
        note = (
            f"random forest on a seeded sample of {SEED_RECIPE_MAX_ROWS:,} of the "
            f"{len(history):,} history rows; per-entity regressions on every row"
        )
    forest = GlobalModel(
        GlobalModelSettings(estimator="RandomForestRegressor", params={"n_jobs": -1}), seed=seed
    ).fit(sample, None, list(feature_columns), list(categorical_columns))
    numeric = [c for c in feature_columns if c not in categorical_columns]
    bank = LocalModelBank.unregularized(min_train_rows=SEED_RECIPE_MIN_ROWS)
    bank.fit(history, feature_columns=numeric)
    local = bank.predict(test)
    return np.where(np.isnan(local), forest.predict(test), local), note


def learner_predictions(
    history: pd.DataFrame,
    test: pd.DataFrame,
    fold: Fold,
    feature_columns: Sequence[str],
    categorical_columns: Sequence[str],
    settings: GlobalModelSettings,
    seed: int,
    objective: Objective,
    with_entity_id: bool = False,
) -> FloatArray:
    """Fit the global learner as the hybrid's plain learner is fitted and predict ``test``.

    Early stopping on ``fold`` (trained on the rows before it), then a refit on the whole
    history with the early-stopped size. With ``with_entity_id`` the entity id is one
    more categorical feature.
    """
    features, categorical = list(feature_columns), list(categorical_columns)
    if with_entity_id:
        features.append(_ENTITY_FEATURE)
        categorical.append(_ENTITY_FEATURE)
    staged = settings.model_copy(update={"refit_on_validation": False})
    cutoffs = history["cutoff"]
    model = GlobalModel(staged, seed=seed, objective=objective).fit(
        history.loc[fold.train_mask(cutoffs)],
        history.loc[fold.validation_mask(cutoffs)],
        features,
        categorical,
    )
    if settings.refit_on_validation:
        model = model.refit(history)
    return model.predict(test)


def naive_predictions(test: pd.DataFrame) -> FloatArray | None:
    """Return the panel's ``baseline_naive`` forecast of each test row, if it has one."""
    if _NAIVE not in test.columns:
        return None
    return test[_NAIVE].to_numpy(dtype=np.float64)


def entity_oracle_predictions(
    entity_ids: pd.Series,
    target: FloatArray,
    global_pred: FloatArray,
    local_pred: FloatArray,
    objective: Objective = "mse",
) -> FloatArray:
    """Per entity, take whichever of the two predictions has the lower test loss."""
    frame = pd.DataFrame(
        {
            "entity_id": entity_ids.to_numpy(),
            "global": row_loss(target, global_pred, objective),
            "local": row_loss(target, local_pred, objective),
        }
    )
    means = frame.groupby("entity_id", observed=True)[["global", "local"]].transform("mean")
    use_local = (means["local"] < means["global"]).to_numpy()
    return np.where(use_local, local_pred, global_pred)
