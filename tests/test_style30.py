"""Errors a user reads name the setting at fault and the fix."""

import functools

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler

from forecast.data import FractionSplit, sharding
from forecast.search_space import SearchSpace


def test_a_when_value_that_is_no_choice_is_refused_with_the_choices_to_give():
    space = {"a": {"choice": ["x", "y"]}, "b": {"int": [1, 3], "when": {"a": ["x", "z"]}}}
    with pytest.raises(ValueError, match=r"`when` value\(s\) \['z'\] are not choices of a; .*\['x', 'y'\]$"):
        SearchSpace(space, source="search.yaml")


def test_a_reversed_feature_range_under_series_shards_is_refused_naming_the_key_and_a_range_to_give():
    scaler = functools.partial(MinMaxScaler, feature_range=(1, 0))
    key = "data.scaling.covariate_scaler"
    with pytest.raises(ValueError, match=rf"^{key}: MinMaxScaler's feature_range \(1, 0\) .*; give one such as"):
        sharding.global_scaling(scaler, [np.arange(10.0)], np.array([0]), np.array([5]), key=key)


@pytest.mark.parametrize(("val", "test"), [(0.5, 0.6), (0.0, 0.2), (0.1, -0.1)])
def test_fractions_that_leave_no_part_are_refused_naming_the_keys_and_a_split_to_give(val, test):
    with pytest.raises(ValueError, match=rf"data\.split\.val > 0, .*got val={val}, test={test}: give .*val=0\.1"):
        FractionSplit(val, test)
