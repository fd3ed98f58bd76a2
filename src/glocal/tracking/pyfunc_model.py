"""The MLflow pyfunc of a glocal bundle (MLflow "models from code"; nothing is pickled).

MLflow runs this file when it loads the model: :class:`GlocalPyfunc` reads the bundle (its
``bundle`` artifact: LightGBM text, Parquet, JSON) with glocal's own loader, and predicts
a DataFrame of ``entity_id`` plus the panel's features exactly as ``glocal predict`` does,
returning ``prediction``, ``source`` ('global', 'local' or 'blend'), ``global_prediction``
and ``local_prediction``.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from glocal.models.persistence import load_hybrid

__all__ = ["GlocalPyfunc"]


class GlocalPyfunc(PythonModel):  # type: ignore[misc]
    """A whole hybrid bundle as one MLflow model."""

    def load_context(self, context: PythonModelContext) -> None:
        """Load the bundle from the model's ``bundle`` artifact."""
        self.model = load_hybrid(context.artifacts["bundle"])

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Predict every row: the served prediction, its source and both components."""
        scored = self.model.predict(model_input)
        return pd.DataFrame(
            {
                "prediction": scored["prediction"].to_numpy(),
                "source": scored["source"].astype(str).to_numpy(),
                "global_prediction": scored["global_prediction"].to_numpy(),
                "local_prediction": scored["local_prediction"].to_numpy(),
            },
            index=model_input.index,
        )


mlflow.models.set_model(GlocalPyfunc())
