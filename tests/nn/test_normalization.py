import pytest
import torch

from forecast.nn import InstanceNormalization, LastValueNormalization, NoNormalization


@pytest.mark.parametrize("normalization", [NoNormalization, LastValueNormalization, InstanceNormalization])
def test_normalization_inverse_recovers_the_targets(normalization):
    torch.manual_seed(0)
    module = normalization(4)
    if isinstance(module, InstanceNormalization):
        module.weight.data.uniform_(0.5, 2.0)
        module.bias.data.normal_()
    past = torch.randn(3, 12, 4) * 5 + 7
    normalized, (loc, scale) = module(past, target_size=2)
    torch.testing.assert_close(normalized[..., :2] * scale + loc, past[..., :2])


def test_instance_normalization_standardizes_each_window():
    past = torch.randn(3, 50, 2) * torch.tensor([1.0, 30.0]) + torch.tensor([-4.0, 200.0])
    normalized, _ = InstanceNormalization(2)(past, target_size=2)
    torch.testing.assert_close(normalized.mean(1), torch.zeros(3, 2), atol=1e-4, rtol=0)
    torch.testing.assert_close(normalized.std(1, unbiased=False), torch.ones(3, 2), atol=1e-3, rtol=0)


def test_last_value_normalization_makes_the_last_step_zero():
    normalized, _ = LastValueNormalization(2)(torch.randn(3, 8, 2), target_size=1)
    assert torch.equal(normalized[:, -1], torch.zeros(3, 2))


def test_instance_normalization_with_a_zero_weight_inverts_to_finite_values():
    """A RevIN weight trained to zero would divide by zero when mapping forecasts back."""
    module = InstanceNormalization(2)
    module.weight.data.zero_()
    normalized, (loc, scale) = module(torch.randn(3, 12, 2), target_size=2)
    assert torch.isfinite(scale).all() and torch.isfinite(loc).all()
    assert torch.isfinite(torch.randn(3, 4, 2) * scale + loc).all()


@pytest.mark.parametrize("spread", [1e18, 1e25, 1e36])
def test_instance_normalization_inverts_windows_whose_variance_passes_float32(spread):
    """A window spread over more than 1.8e19 (unscaled data: ``scaling: {scaler: null}``) has a variance beyond
    float32: the inverse must still recover it, not turn every forecast into NaN."""
    torch.manual_seed(0)
    past = torch.randn(3, 12, 2) * spread
    normalized, (loc, scale) = InstanceNormalization(2)(past, target_size=2)
    assert torch.isfinite(normalized).all() and torch.isfinite(scale).all() and torch.isfinite(loc).all()
    torch.testing.assert_close(normalized.std(1, unbiased=False), torch.ones(3, 2), atol=1e-4, rtol=0)
    torch.testing.assert_close(normalized * scale + loc, past, atol=0, rtol=1e-5)


@pytest.mark.parametrize("eps", [0.0, -1e-5, float("nan")])
def test_instance_normalization_refuses_an_eps_that_leaves_a_flat_window_undefined(eps):
    """A flat window (a sensor stuck at one value) has variance 0: only a positive eps keeps it finite."""
    with pytest.raises(ValueError, match=r"model\.normalization\.init_args\.eps=.* must be positive"):
        InstanceNormalization(2, eps=eps)


@pytest.mark.parametrize(
    ("dtype", "eps", "smallest"), [(torch.float32, 1e-30, "1.1e-19"), (torch.float64, 1e-160, "1.5e-154")]
)
def test_instance_normalization_refuses_an_eps_whose_square_underflows(dtype, eps, smallest):
    """Below the square root of the dtype's smallest normal number, ``weight + eps**2`` adds nothing: a weight
    trained to zero made a flat window's forecasts inf and NaN (float32, eps 1e-30: scale inf, loc NaN)."""
    torch.set_default_dtype(dtype)
    with pytest.raises(ValueError, match=rf"model\.normalization\.init_args\.eps={eps} .* use eps >= {smallest} "):
        InstanceNormalization(2, eps=eps)


@pytest.mark.parametrize(("dtype", "eps"), [(torch.float32, 1.1e-19), (torch.float64, 1.5e-154)])
@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_instance_normalization_inverts_a_flat_window_at_the_smallest_eps(dtype, eps, weight):
    """A flat window (all 3.0) at the smallest eps the error allows: finite, and its normalized values map back to 3."""
    torch.set_default_dtype(dtype)
    module = InstanceNormalization(2, eps=eps)
    module.weight.data.fill_(weight)
    normalized, (loc, scale) = module(torch.full((2, 12, 2), 3.0), target_size=2)
    assert torch.isfinite(normalized).all() and torch.isfinite(scale).all() and torch.isfinite(loc).all()
    torch.testing.assert_close(normalized * scale + loc, torch.full((2, 12, 2), 3.0), rtol=0, atol=0)


@pytest.mark.parametrize("affine", [False, True])
def test_instance_normalization_inverse_is_exact_at_a_large_eps(affine):
    """The inverse undoes the forward for any eps: adding eps**2 to every weight, as RevIN does, mapped each
    normalized value back off by a factor 1 + eps**2 (eps 0.1: 1% of the window's deviation), also without affine."""
    torch.manual_seed(0)
    past = torch.randn(2, 10, 3, dtype=torch.float64) * 3 + 1
    module = InstanceNormalization(3, affine=affine, eps=0.1).double()
    normalized, (loc, scale) = module(past, target_size=2)
    deviation = (past.var(1, keepdim=True, unbiased=False) + 0.1).sqrt()  # RevIN's, by hand
    torch.testing.assert_close(normalized, (past - past.mean(1, keepdim=True)) / deviation)
    torch.testing.assert_close(normalized[..., :2] * scale + loc, past[..., :2])
