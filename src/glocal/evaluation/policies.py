"""The reference policies that the hybrid model is compared with on the test block.

* ``global``: the global model alone, on the panel's features (no entity id).
* ``local_only``: each entity's best local candidate where one exists, ``global`` elsewhere.
* ``seed_recipe``: the user's sketch taken literally: a scikit-learn ``RandomForestRegressor``
  with default settings as the global model, an unregularized ``LinearRegression`` per
  entity with at least 20 rows, and the local model whenever it exists.
* ``global_with_entity_id``: the global learner given the entity id as a categorical feature,
  one model that knows who is who.
* ``entity_oracle``: per entity, the better of ``global`` and ``local_only`` judged on the
  test block itself; unreachable, it shows the headroom of per-entity choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import GlobalModelSettings
from glocal.models import GlobalModel, LocalModelBank

__all__ = [
    "SEED_RECIPE_MIN_ROWS",
    "entity_oracle_predictions",
    "global_predictions",
    "seed_recipe_predictions",
]

FloatArray = npt.NDArray[np.float64]

SEED_RECIPE_MIN_ROWS = 20
"""The user's sketch skips customers with fewer than 20 rows."""

_ENTITY_FEATURE = "entity_id"


def seed_recipe_predictions(
    history: pd.DataFrame,
    test: pd.DataFrame,
    feature_columns: Sequence[str],
    categorical_columns: Sequence[str],
    seed: int,
) -> FloatArray:
    """Fit the user's recipe on ``history`` (train + validation) and predict ``test``.

    The random forest keeps scikit-learn's defaults except ``n_jobs=-1``, which changes
    speed, not the model. The per-entity regressions use the numeric features only: the
    sketch's ``group.drop(columns=[...])`` would hand a string column to ``LinearRegression``.
    """
    forest = GlobalModel(
        GlobalModelSettings(estimator="RandomForestRegressor", params={"n_jobs": -1}), seed=seed
    ).fit(history, None, list(feature_columns), list(categorical_columns))
    numeric = [c for c in feature_columns if c not in categorical_columns]
    bank = LocalModelBank.unregularized(min_train_rows=SEED_RECIPE_MIN_ROWS)
    bank.fit(history, feature_columns=numeric)
    local = bank.predict(test)
    return np.where(np.isnan(local), forest.predict(test), local)


def global_predictions(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    feature_columns: Sequence[str],
    categorical_columns: Sequence[str],
    settings: GlobalModelSettings,
    seed: int,
    with_entity_id: bool = False,
) -> FloatArray:
    """Fit the global learner as the hybrid model does and predict ``test``.

    With ``with_entity_id`` the entity id is one more categorical feature: the
    ``global_with_entity_id`` policy, one model that knows who is who.
    """
    features, categorical = list(feature_columns), list(categorical_columns)
    if with_entity_id:
        features.append(_ENTITY_FEATURE)
        categorical.append(_ENTITY_FEATURE)
    model = GlobalModel(settings, seed=seed).fit(train, validation, features, categorical)
    return model.predict(test)


def entity_oracle_predictions(
    entity_ids: pd.Series, target: FloatArray, global_pred: FloatArray, local_pred: FloatArray
) -> FloatArray:
    """Per entity, take whichever of the two predictions has the lower test MSE."""
    frame = pd.DataFrame(
        {
            "entity_id": entity_ids.to_numpy(),
            "global": (global_pred - target) ** 2,
            "local": (local_pred - target) ** 2,
        }
    )
    means = frame.groupby("entity_id", observed=True)[["global", "local"]].transform("mean")
    use_local = (means["local"] < means["global"]).to_numpy()
    return np.where(use_local, local_pred, global_pred)
