"""Edge cases of the search space's ranges: a step that does not divide the range, bounds that are no numbers."""

import pytest

from forecast.search_space import SearchSpace


@pytest.mark.parametrize(
    ("spec", "fix"),
    [
        ({"int": [1, 10], "step": 4}, r"\[1, 9\] or \[1, 13\]"),
        ({"float": [0.0, 1.0], "step": 0.3}, r"\[0.0, 0.9\] or \[0.0, 1.2\]"),
    ],
)
def test_a_step_that_does_not_divide_the_range_is_refused_naming_ranges_that_it_divides(spec, fix):
    """Optuna would quietly lower ``high`` to the last step below it, which the docstring says is sampled."""
    with pytest.raises(ValueError, match=rf"space.yaml: a: `step` .* does not divide the range .*{fix}"):
        SearchSpace({"a": spec}, source="space.yaml")


@pytest.mark.parametrize("spec", [{"int": [-3, 1], "step": 2}, {"float": [0.1, 0.7], "step": 0.2}])
def test_a_step_that_divides_the_range_is_taken(spec):
    (param,) = SearchSpace({"a": spec}).params
    assert param.bounds == tuple(spec[param.kind]) and param.step == spec["step"]


@pytest.mark.parametrize("bounds", [[True, 5], [1, float("inf")], [float("nan"), 2]])
def test_bounds_that_are_no_finite_numbers_are_refused_naming_the_key(bounds):
    """YAML's ``true``, ``.inf`` and ``.nan`` used to pass, to fail in the first trial (inf, nan) or sample 1."""
    kind = "int" if isinstance(bounds[0], bool) else "float"
    with pytest.raises(ValueError, match=rf"space.yaml: a: `{kind}` takes \[low, high\] as finite {kind}s"):
        SearchSpace({"a": {kind: bounds}}, source="space.yaml")


@pytest.mark.parametrize("document", ["space: [model.optimizer.init_args.lr]\n", "- space\n"])
def test_a_search_file_whose_space_is_no_mapping_is_refused_naming_the_file(document, tmp_path):
    """It used to fail with Python's AttributeError ('list' object has no attribute 'items'), naming neither."""
    path = tmp_path / "search.yaml"
    path.write_text(document)
    with pytest.raises(ValueError, match=rf"{path}: expected a mapping|{path}: `space` takes a mapping"):
        SearchSpace.from_yaml(path)
