"""Specs (``forecast.specs``) that a checkpoint's parts and data options are rebuilt from: the forms a user
gives by hand (a bare class name, a misspelt init_args key) and classes nested in others."""

import pytest
import torch

from forecast.specs import check_spec, from_spec, to_spec


class Outer:
    class Inner:
        def __init__(self, size: int = 1):
            self.size = size


def test_a_nested_class_rebuilds_from_the_spec_it_records():
    spec = to_spec(Outer.Inner(size=3))
    assert spec["class_path"].endswith(".Outer.Inner")
    assert from_spec(spec).size == 3
    check_spec(spec, (object,), "part")  # a checkpoint holding it loads


def test_an_init_args_key_the_class_does_not_take_is_named_with_the_nearest_one():
    spec = {"class_path": "sklearn.preprocessing.StandardScaler", "init_args": {"with_meen": False}}
    with pytest.raises(TypeError, match=r"StandardScaler gives init_args 'with_meen', .* did you mean 'with_mean'\?"):
        from_spec(spec, call=False)  # a factory, called only later, is checked now


def test_a_bare_class_name_is_refused_naming_its_dotted_path():
    with pytest.raises(TypeError, match=r"'encoder' names GRUEncoder, .* dotted path, e.g. forecast.nn.\w+.GRUEncoder"):
        check_spec("GRUEncoder", (torch.nn.Module,), "encoder")
