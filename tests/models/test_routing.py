from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.core.errors import FeatureError
from glocal.models import HybridModel
from glocal.models.routing import SOURCES, RoutedPredictor


@pytest.mark.parametrize("which", ["fitted_hybrid", "mixed_hybrid"])
def test_routed_predictions_equal_the_models(which: str, request: pytest.FixtureRequest) -> None:
    model, test = request.getfixturevalue(which)
    router = RoutedPredictor(model)
    frame = test.copy()
    frame.loc[frame.index[:3], "entity_id"] = "UNSEEN"
    expected = model.predict(frame)
    out = router.predict_matrix(list(frame["entity_id"].astype(str)), router.encode_frame(frame))
    np.testing.assert_allclose(out.global_prediction, expected["global_prediction"], rtol=1e-12)
    np.testing.assert_allclose(out.prediction, expected["prediction"], rtol=1e-12)
    assert [SOURCES[c] for c in out.source] == list(expected["source"])
    assert not out.known[:3].any()


def test_one_row_from_a_feature_mapping(fitted_hybrid: tuple[HybridModel, pd.DataFrame]) -> None:
    model, test = fitted_hybrid
    router = RoutedPredictor(model)
    complete = test[router.feature_columns].notna().all(axis=1).to_numpy()
    position = int(np.flatnonzero(complete)[0])
    row = test.iloc[position]
    features = {name: row[name] for name in router.feature_columns}
    features = {k: (v if isinstance(v, str) else float(v)) for k, v in features.items()}
    answer = router.predict_one(str(row["entity_id"]), features)
    expected = model.predict(test.iloc[[position]])
    assert answer.prediction == pytest.approx(float(expected["prediction"].iloc[0]), rel=1e-12)
    assert answer.source == expected["source"].iloc[0]


def test_bad_features_name_the_field(fitted_hybrid: tuple[HybridModel, pd.DataFrame]) -> None:
    router = RoutedPredictor(fitted_hybrid[0])
    good = {"x0": 1.0, "x1": 0.5, "x2": -1.0, "country": "C1"}
    router.encode(good)
    cases = [
        ({k: v for k, v in good.items() if k != "x1"}, {"x1": "missing"}),
        ({**good, "extra": 1.0}, {"extra": "unknown"}),
        ({**good, "x0": "one"}, {"x0": "must be a number"}),
        ({**good, "x0": float("nan")}, {"x0": "must be a finite number"}),
        ({**good, "x2": float("inf")}, {"x2": "must be a finite number"}),
        ({**good, "country": 3}, {"country": "categorical"}),
        ({**good, "x0": True}, {"x0": "must be a number"}),
        ({"x0": "one", "colour": 1.0}, {"x0": "number", "x1": "missing", "colour": "unknown"}),
    ]
    for features, expected in cases:
        with pytest.raises(FeatureError) as raised:
            router.encode(features)
        problems = raised.value.problems
        assert set(problems) >= set(expected), problems  # every bad field at once
        for name, fragment in expected.items():
            assert fragment in problems[name]
            assert repr(name) in str(raised.value) or len(problems) > 5
    # an unseen category level, and None, are read as missing, as in training
    assert np.isnan(router.encode({**good, "country": "Atlantis"})[3])
    assert np.isnan(router.encode({**good, "x1": None})[1])
