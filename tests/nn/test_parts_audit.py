import pytest

from forecast.specs import from_spec, normal_spec

SEGMENTS = "forecast.nn.SegmentEmbedding"


def test_from_spec_refuses_a_key_no_spec_has_naming_it():
    """A misspelt ``init_args`` was dropped without a word, and the class built with its defaults (seg_len 24)."""
    with pytest.raises(TypeError, match=r"has the keys \['init_arg'\], which no spec has; write it as"):
        from_spec({"class_path": SEGMENTS, "init_arg": {"seg_len": 3}}, call=False)


def test_from_spec_without_a_class_path_says_so():
    with pytest.raises(TypeError, match=r"has no 'class_path'; write it as \{'class_path': 'module.Class'"):
        from_spec({"init_args": {"seg_len": 3}}, call=False)


def test_from_spec_reads_dict_kwargs_as_jsonargparse_writes_them():
    """jsonargparse records the arguments of a class's ``**kwargs`` under ``dict_kwargs``."""
    built = from_spec({"class_path": "argparse.Namespace", "init_args": {"a": 1}, "dict_kwargs": {"b": 2}})
    assert (built.a, built.b) == (1, 2)


def test_normal_spec_keeps_a_spec_with_a_misspelt_key_apart_from_the_defaults():
    """Normalized, a spec whose arguments sat under a misspelt key compared equal to the class's defaults."""
    misspelt = {"class_path": SEGMENTS, "init_arg": {"seg_len": 3}}
    assert normal_spec(misspelt) == misspelt
    assert normal_spec({"class_path": SEGMENTS, "init_args": {"seg_len": 3}})["init_args"]["seg_len"] == 3
