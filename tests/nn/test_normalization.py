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
