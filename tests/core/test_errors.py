from __future__ import annotations

import pytest

from glocal.core import errors


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_glocal_error(name: str) -> None:
    assert issubclass(getattr(errors, name), errors.GlocalError)


def test_not_fitted_error_is_caught_by_value_and_attribute_error_handlers() -> None:
    assert issubclass(errors.NotFittedError, ValueError)
    assert issubclass(errors.NotFittedError, AttributeError)
