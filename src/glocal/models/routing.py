"""A fitted hybrid model compiled for serving: each request costs its rows, not the registry.

:meth:`HybridModel.predict` is built for batches: every call factorises the decisions,
indexes the known entities and converts a pandas frame. :class:`RoutedPredictor` does that
work once, when it is built from a fitted (or loaded) model:

* an entity id → row dictionary (ids are only ever dictionary keys);
* per entity: its source (global, local, blend), blend weight, best candidate kind and its
  position in that kind's ridge bank or correction table;
* the feature schema: the order of the numeric and categorical features, and each
  categorical level's code, as LightGBM was trained on them;
* per member learner of the global stage: where its features and its offset sit in that
  schema.

A request then encodes its features into one float row, each member learner walks its
trees on it (the compiled kernel of :mod:`glocal.models.forest`, bit-identical to LightGBM,
on the calling thread), and the local candidate is a dot product or one stored value. It
gives the numbers :meth:`HybridModel.predict` gives (``tests/models/test_routing.py``).

Examples:
    >>> from glocal.data.synthetic import make_synthetic_panel
    >>> from glocal.config.features import SplitSettings
    >>> panel, _ = make_synthetic_panel(40, 30, 3, heterogeneity=1.0, noise=0.3, seed=0)
    >>> model = HybridModel(split=SplitSettings(validation_days=21), horizon_days=7).fit(panel)
    >>> router = RoutedPredictor(model)
    >>> row = panel.iloc[0]
    >>> features = {name: row[name] for name in router.feature_columns}
    >>> answer = router.predict_one(str(row["entity_id"]), features)
    >>> answer.source in ("global", "local", "blend")
    True

"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.core.errors import FeatureError, ModelError
from glocal.models.candidates import CORRECTION_KINDS
from glocal.models.forest import CompiledForest
from glocal.models.frames import ENTITY_COLUMN
from glocal.models.global_model import GlobalModel
from glocal.models.hybrid import HybridModel

__all__ = ["RoutedPredictions", "RoutedPredictor", "RowPrediction"]

FloatArray = npt.NDArray[np.float64]

SOURCES = ("global", "local", "blend")
_RIDGE_KINDS = ("direct", "residual")


@dataclass(frozen=True)
class RowPrediction:
    """One served prediction."""

    entity_id: str
    prediction: float
    source: str
    global_prediction: float
    local_prediction: float | None


@dataclass(frozen=True)
class RoutedPredictions:
    """Predictions of many rows, as arrays (``source`` as codes into ``SOURCES``)."""

    prediction: FloatArray
    source: npt.NDArray[np.int8]
    global_prediction: FloatArray
    local_prediction: FloatArray
    known: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _Learner:
    """A member learner: its booster and where its inputs sit in the schema row."""

    model: GlobalModel
    columns: npt.NDArray[np.intp]  # schema positions of its features (-1: the entity id)
    offset: int | None  # schema position of its offset column
    forest: CompiledForest | None  # the same trees for the compiled kernel, if it can
    take: npt.NDArray[np.intp] = field(init=False)  # schema positions to gather
    entity_slots: npt.NDArray[np.intp] = field(init=False)  # input positions of the entity id

    def __post_init__(self) -> None:
        object.__setattr__(self, "take", np.maximum(self.columns, 0))
        object.__setattr__(self, "entity_slots", np.flatnonzero(self.columns < 0))

    def predict(self, inputs: FloatArray) -> FloatArray:
        """Return the booster's raw prediction of the input rows."""
        if self.forest is not None:  # bit-identical, without LightGBM's per-call overhead
            return np.asarray(self.forest.predict(inputs), dtype=np.float64)
        return np.asarray(self.model.booster_.predict(inputs, num_threads=1), np.float64)


class RoutedPredictor:
    """Per-row prediction with everything a fitted hybrid model needs indexed once.

    Args:
        model: A fitted :class:`HybridModel`.

    Attributes:
        feature_columns: The features a request must give, in schema order.
        categorical_levels: Per categorical feature, its level → code mapping.
        entity_index: Entity id → position in the routing arrays.

    """

    def __init__(self, model: HybridModel) -> None:
        model._check_fitted()
        stage = model.global_stage_
        self.feature_columns: list[str] = list(model.feature_columns_)
        first = next(iter(stage.models_.values()), None)
        categories = first.categories_ if first is not None else {}
        self.categorical_levels: dict[str, dict[str, int]] = {
            column: {str(level): code for code, level in enumerate(categories.get(column, []))}
            for column in model.categorical_columns_
        }
        self._position = {name: i for i, name in enumerate(self.feature_columns)}
        self._entity_levels = {
            str(level): code for code, level in enumerate(categories.get(ENTITY_COLUMN, []))
        }
        self._members: list[tuple[float, _Learner | int]] = []
        for weight, name in zip(stage.weights_, stage.members_, strict=True):
            if name in stage.models_:
                self._members.append((weight, self._learner(stage.models_[name])))
            else:
                self._members.append((weight, self._position[stage._column(name)]))
        self._route(model)

    def _learner(self, learner: GlobalModel) -> _Learner:
        columns = np.array(
            [-1 if c == ENTITY_COLUMN else self._position[c] for c in learner.feature_columns_],
            dtype=np.intp,
        )
        offset = None if learner.offset is None else self._position[learner.offset]
        return _Learner(learner, columns, offset, learner.compiled_forest())

    def _route(self, model: HybridModel) -> None:
        """Index every entity's decision and its best candidate's stored state."""
        decisions = model.decisions_
        ids = decisions[ENTITY_COLUMN].astype(str).to_numpy(dtype=object).tolist()
        self.entity_index: dict[str, int] = {entity: i for i, entity in enumerate(ids)}
        self._source = np.asarray(
            pd.Index(SOURCES).get_indexer(pd.Index(decisions["decision"])), dtype=np.int8
        )
        if (self._source < 0).any():
            raise ModelError(f"decisions_ holds decisions other than {list(SOURCES)}.")
        self._weight = decisions["weight"].to_numpy(dtype=np.float64)
        # "scale+blend" -> "scale"; no candidate -> -1
        kinds = decisions["candidate"].astype(object).str.split("+").str[0]
        kinds = kinds.where(kinds != "")
        codes, names = pd.factorize(kinds.to_numpy(dtype=object), sort=True)
        self._kinds = [str(name) for name in names]
        self._kind = np.asarray(codes, dtype=np.intp)
        candidates = model.candidates_
        index = pd.Index(ids)
        self._bank_rows: dict[str, npt.NDArray[np.int64]] = {}
        self._bank_columns: dict[str, npt.NDArray[np.intp]] = {}
        for kind in _RIDGE_KINDS:
            if kind in candidates.banks_:
                bank = candidates.banks_[kind]
                self._bank_rows[kind] = bank.entity_codes(index)
                self._bank_columns[kind] = np.array(
                    [self._position[c] for c in bank.feature_columns_], dtype=np.intp
                )
        self._corrections: dict[str, FloatArray] = {}
        for kind in CORRECTION_KINDS:
            if kind in candidates.corrections_:
                correction = candidates.corrections_[kind]
                rows = correction.entity_ids_.get_indexer(index)
                values = np.full(len(ids), np.nan)
                values[rows >= 0] = correction.value_[rows[rows >= 0]]
                self._corrections[kind] = values
        self._model = model

    # -- encoding ----------------------------------------------------------------------
    def encode(self, features: Mapping[str, Any]) -> FloatArray:
        """Return one schema row from a feature mapping, or raise naming the bad field.

        Numeric features must be finite numbers, categorical ones strings (an unseen level
        is read as missing, as in training); ``None`` is a missing value, as the panel's
        empty cells are. Absent and unknown names are refused.

        Raises:
            FeatureError: A feature is missing, unknown, of the wrong type, NaN or infinite.

        """
        problems = {
            name: "missing: every feature of the model is required (null for a missing value)"
            for name in self.feature_columns
            if name not in features
        }
        for name in features:
            if name not in self._position:
                problems[name] = "unknown: the model has no feature of this name"
        row = np.full(len(self.feature_columns), math.nan)
        for position, name in enumerate(self.feature_columns):
            value = features.get(name)
            if value is None:
                continue
            problem = self._check(name, value)
            if problem is not None:
                problems[name] = problem
            elif (levels := self.categorical_levels.get(name)) is not None:
                row[position] = levels.get(value, math.nan)
            else:
                row[position] = float(value)
        if problems:
            raise FeatureError(problems)
        return row

    def _check(self, name: str, value: Any) -> str | None:
        """Return what is wrong with one given (not null) feature value, or None."""
        if name in self.categorical_levels:
            return None if isinstance(value, str) else "categorical: give it as a string"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        return None

    def encode_frame(self, frame: pd.DataFrame) -> FloatArray:
        """Return the schema matrix of a panel-shaped frame (for batches and snapshots)."""
        matrix = np.empty((len(frame), len(self.feature_columns)))
        for position, name in enumerate(self.feature_columns):
            levels = self.categorical_levels.get(name)
            if levels is None:
                matrix[:, position] = pd.to_numeric(frame[name]).to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
            else:
                index = pd.Index(list(levels))
                labels = frame[name].astype(object)
                labels = labels.where(labels.isna(), labels.astype(str))
                codes = index.get_indexer(pd.Index(labels))
                matrix[:, position] = np.where(codes >= 0, codes, np.nan)
        return matrix

    # -- prediction --------------------------------------------------------------------
    def _global(self, matrix: FloatArray, entity_codes: FloatArray) -> FloatArray:
        total = np.zeros(len(matrix))
        for weight, member in self._members:
            if isinstance(member, int):
                total += weight * matrix[:, member]
                continue
            inputs = matrix[:, member.take]
            inputs[:, member.entity_slots] = entity_codes[:, None]  # the entity id category
            value = member.predict(inputs)
            if member.offset is not None:
                value = value + matrix[:, member.offset]
            total += weight * value
        return total

    def _entity_codes(self, entity_ids: Sequence[str]) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """Return routing positions (-1 unknown) and the learners' entity-id category codes."""
        positions = np.array([self.entity_index.get(e, -1) for e in entity_ids], dtype=np.intp)
        levels = np.array(
            [self._entity_levels.get(e, math.nan) for e in entity_ids], dtype=np.float64
        )
        return positions, levels

    def predict_matrix(self, entity_ids: Sequence[str], matrix: FloatArray) -> RoutedPredictions:
        """Predict schema rows of the given entities (unknown entities: global only)."""
        positions, levels = self._entity_codes(entity_ids)
        g = self._global(matrix, levels)
        local = np.full(len(matrix), np.nan)
        known = positions >= 0
        kind = np.where(known, self._kind[np.maximum(positions, 0)], -1)
        for code, name in enumerate(self._kinds):
            rows = np.flatnonzero(kind == code)
            if len(rows) == 0:
                continue
            entity = positions[rows]
            if name in self._bank_rows:
                bank = self._model.candidates_.banks_[name]
                value = bank.predict_codes(
                    np.ascontiguousarray(matrix[np.ix_(rows, self._bank_columns[name])]),
                    self._bank_rows[name][entity],
                )
                local[rows] = value if name == "direct" else g[rows] + value
            elif name in self._corrections:
                correction = self._model.candidates_.corrections_[name]
                local[rows] = g[rows] + correction.apply(self._corrections[name][entity], g[rows])
        source = np.zeros(len(matrix), dtype=np.int8)
        source[known] = self._source[positions[known]]
        source[~np.isfinite(local)] = 0
        weight = np.zeros(len(matrix))
        weight[known] = self._weight[positions[known]]
        prediction = np.where(source == 1, local, g)
        blend = source == 2
        prediction[blend] = g[blend] + weight[blend] * (local[blend] - g[blend])
        return RoutedPredictions(prediction, source, g, local, known)

    def warm_up(self) -> None:
        """Predict one empty row, so kernels compiled on first use are ready beforehand."""
        self.predict_matrix([""], np.full((1, len(self.feature_columns)), np.nan))

    def predict_one(self, entity_id: str, features: Mapping[str, Any]) -> RowPrediction:
        """Validate and predict one request's features for ``entity_id``."""
        out = self.predict_matrix([entity_id], self.encode(features)[None, :])
        local = float(out.local_prediction[0])
        return RowPrediction(
            entity_id=entity_id,
            prediction=float(out.prediction[0]),
            source=SOURCES[int(out.source[0])],
            global_prediction=float(out.global_prediction[0]),
            local_prediction=local if math.isfinite(local) else None,
        )
