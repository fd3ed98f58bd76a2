"""The per-entity candidates that compete with the global model.

* ``direct``: a ridge model of the target on the entity's own rows.
* ``residual``: the global prediction plus a ridge model of the global residual.
* ``level``: the global prediction plus the entity's shrunk mean residual.
* ``scale``: the global prediction times ``1 + a``, ``a`` a shrunk per-entity slope.
* ``intermittent``: the entity's shrunk rate of non-zero targets times their shrunk size.

``direct`` and ``residual`` share one eigendecomposition per entity (same features,
different targets). Every candidate predicts the target itself, so it can be compared
with the global model row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import CandidateKind, LocalModelSettings, Objective
from glocal.core.errors import ModelError
from glocal.models.corrections import CorrectionKind, IntermittentPrior, ShrunkCorrection
from glocal.models.frames import ENTITY_COLUMN
from glocal.models.local_bank import (
    BankFitter,
    LocalModelBank,
    fit_local_banks,
    predict_banks,
)

__all__ = ["CORRECTION_KINDS", "CandidateSet", "blend_weight"]

FloatArray = npt.NDArray[np.float64]

CORRECTION_KINDS: tuple[CorrectionKind, ...] = ("level", "scale", "intermittent")
"""Candidate kinds with one shrunk value per entity (no ridge bank)."""


class CandidateSet:
    """Every configured candidate kind, fitted for all entities at once.

    Args:
        settings: The ``local_models`` settings section.
        feature_columns: Numeric features of the ridge candidates.
        objective: The loss the shrunk candidates serve (``mse`` or ``mae``).
        fitter: What fits the ridge banks (the engine seam); :func:`fit_local_banks`
            in this process by default.

    Attributes:
        banks_: Ridge banks by kind (``direct`` is always fitted).
        corrections_: Shrunk values by kind (``level``, ``scale``, ``intermittent``).
        in_sample_: The ridge candidates' predictions of the training rows, by kind,
            when ``fit(..., keep_in_sample=True)`` ran the in-process fitter; else None.

    """

    def __init__(
        self,
        settings: LocalModelSettings,
        feature_columns: Sequence[str],
        objective: Objective = "mse",
        fitter: BankFitter = fit_local_banks,
    ) -> None:
        self.settings = settings
        self.feature_columns = feature_columns
        self.objective = objective
        self.fitter = fitter

    def fit(
        self,
        frame: pd.DataFrame,
        target: FloatArray,
        global_prediction: FloatArray,
        prior: IntermittentPrior | None = None,
        *,
        keep_in_sample: bool = False,
    ) -> CandidateSet:
        """Fit every candidate on ``frame``'s rows.

        ``prior``: the ``intermittent`` candidate's population prior (see
        :class:`~glocal.models.corrections.IntermittentPrior`); ``None``: from these rows.
        ``keep_in_sample``: keep the ridge banks' predictions of these rows, which the
        in-process fitter computes as it fits (:meth:`predict_fitted_rows` reads them).
        """
        settings = self.settings
        targets = {"direct": target}
        if "residual" in settings.candidates:
            targets["residual"] = target - global_prediction
        options: dict[str, Any] = {
            "feature_columns": list(self.feature_columns),
            "alphas": settings.alphas,
            "standardize": settings.standardize,
            "min_train_rows": settings.min_train_rows,
            "n_jobs": settings.n_jobs,
            "clip": settings.clip,
        }
        self.in_sample_: dict[str, FloatArray] | None = None
        if keep_in_sample and self.fitter is fit_local_banks:
            in_sample: dict[str, FloatArray] = {}
            self.banks_ = fit_local_banks(frame, targets, in_sample_out=in_sample, **options)
            if "residual" in in_sample:
                in_sample["residual"] = global_prediction + in_sample["residual"]
            self.in_sample_ = in_sample
        else:
            self.banks_ = self.fitter(frame, targets, **options)
        self.corrections_: dict[str, ShrunkCorrection] = {}
        for kind in CORRECTION_KINDS:
            if kind in settings.candidates:
                correction = ShrunkCorrection(
                    kind,
                    shrinkage_rows=settings.level_shrinkage_rows,
                    min_train_rows=settings.min_train_rows,
                    objective=self.objective,
                )
                self.corrections_[kind] = correction.fit(
                    frame[ENTITY_COLUMN], target, global_prediction, prior
                )
        return self

    @classmethod
    def from_fitted(
        cls,
        settings: LocalModelSettings,
        feature_columns: Sequence[str],
        banks: Mapping[str, LocalModelBank],
        corrections: Mapping[str, ShrunkCorrection],
        objective: Objective = "mse",
    ) -> CandidateSet:
        """Rebuild a fitted set from its banks and corrections (e.g. read from disk)."""
        if "direct" not in banks:
            raise ModelError("a CandidateSet needs its 'direct' bank; it is missing.")
        candidate_set = cls(settings, feature_columns, objective)
        candidate_set.banks_ = dict(banks)
        candidate_set.corrections_ = dict(corrections)
        candidate_set.in_sample_ = None
        return candidate_set

    def predict(
        self,
        frame: pd.DataFrame,
        global_prediction: FloatArray,
        kinds: Sequence[CandidateKind] | None = None,
    ) -> dict[CandidateKind, FloatArray]:
        """Return each candidate's prediction of the target; NaN where an entity has none."""
        wanted = list(kinds if kinds is not None else self.settings.candidates)
        ridge = [kind for kind in wanted if kind in ("direct", "residual")]
        # the two ridge banks of one fit look up and standardize the rows once
        ridge_predictions = (
            dict(zip(ridge, predict_banks(frame, [self.banks_[k] for k in ridge]), strict=True))
            if ridge
            else {}
        )
        predictions: dict[CandidateKind, FloatArray] = {}
        for kind in wanted:
            if kind == "direct":
                predictions[kind] = ridge_predictions[kind]
            elif kind == "residual":
                predictions[kind] = global_prediction + ridge_predictions[kind]
            else:
                correction = self.corrections_[kind].correction(
                    frame[ENTITY_COLUMN], global_prediction
                )
                predictions[kind] = global_prediction + correction
        return predictions

    def predict_fitted_rows(
        self, frame: pd.DataFrame, global_prediction: FloatArray, rows: npt.NDArray[np.bool_]
    ) -> dict[CandidateKind, FloatArray]:
        """Return :meth:`predict` of the fitted rows selected by ``rows``.

        ``frame`` and ``global_prediction`` are those rows. The ridge banks' predictions
        are read from the fit (``keep_in_sample``) where it kept them, else computed.
        """
        if self.in_sample_ is None:
            return self.predict(frame, global_prediction)
        corrections = [kind for kind in self.settings.candidates if kind in CORRECTION_KINDS]
        predicted = self.predict(frame, global_prediction, corrections)
        for kind in self.settings.candidates:
            if kind not in predicted:
                predicted[kind] = self.in_sample_[kind][rows]
        return {kind: predicted[kind] for kind in self.settings.candidates}

    def relabel(self, ids: pd.Index) -> CandidateSet:
        """Replace integer entity codes by ``ids.take(code)`` (see ``coded_entities``)."""
        fitted: list[LocalModelBank | ShrunkCorrection] = [
            *self.banks_.values(),
            *self.corrections_.values(),
        ]
        relabelled: dict[int, pd.Index] = {}  # banks of one fit keep sharing their ids
        for part in fitted:
            key = id(part.entity_ids_)
            if key not in relabelled:
                codes = part.entity_ids_.to_numpy(dtype=np.int64)
                relabelled[key] = pd.Index(ids.take(codes), name=ENTITY_COLUMN)
            part.entity_ids_ = relabelled[key]
        return self

    def n_train(self) -> pd.Series:
        """Training rows per entity with a ridge model."""
        bank = self.banks_["direct"]
        return pd.Series(bank.n_train_, index=bank.entity_ids_, name="n_train")


def blend_weight(n_train: FloatArray, shrinkage_rows: float) -> FloatArray:
    """Return the blend weight ``n / (n + k)`` of an entity with ``n`` training rows."""
    return np.asarray(n_train / (n_train + shrinkage_rows), dtype=np.float64)
