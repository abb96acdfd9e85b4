import math

import lightning as L
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from forecast import Forecaster
from forecast.callbacks import FiniteLossCheck
from forecast.losses import GaussianNLLLoss, HuberLoss, MAELoss, MSELoss, QuantileLoss, StudentTNLLoss

B, H, C = 2, 3, 4
LOSSES = [
    MSELoss(),
    MAELoss(),
    HuberLoss(delta=0.5),
    GaussianNLLLoss(),
    StudentTNLLoss(),
    StudentTNLLoss(df=3.0),
    QuantileLoss([0.05, 0.25, 0.5, 0.75, 0.95]),
]
PROBABILISTIC = [loss for loss in LOSSES if loss.levels]


def identity(shape=(B, 1, C)):
    return torch.zeros(shape, dtype=torch.float64), torch.ones(shape, dtype=torch.float64)


def random_params(loss, seed=0):
    """Constrained parameters in original units, from random raw head output and a random rescaling."""
    generator = torch.Generator().manual_seed(seed)
    raw = torch.randn(B, H, C, loss.num_params, generator=generator, dtype=torch.float64)
    loc = torch.randn(B, 1, C, generator=generator, dtype=torch.float64)
    scale = torch.rand(B, 1, C, generator=generator, dtype=torch.float64) + 0.5
    return loss.rescale(raw, loc, scale)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: repr(loss))
def test_loss_gives_gradient_to_every_raw_param(loss):
    raw = torch.randn(B, H, C, loss.num_params, dtype=torch.float64, requires_grad=True)
    loss(loss.rescale(raw, *identity()), torch.randn(B, H, C, dtype=torch.float64)).backward()
    assert loss.point(loss.rescale(raw, *identity())).shape == (B, H, C)
    assert (raw.grad.abs().sum(dim=(0, 1, 2)) > 0).all(), f"No gradient for some of {loss.num_params} params"


def test_quantile_loss_matches_hand_computed_pinball():
    params = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, 4.0]]]])  # (B=1, H=2, C=1, Q=3)
    target = torch.tensor([[[2.5], [5.0]]])
    # Step 1, errors y - q = 1.5, 0.5, -0.5: 0.1 * 1.5 + 0.5 * 0.5 + 0.1 * 0.5 = 0.45.
    # Step 2, errors 5, 4, 1: 0.1 * 5 + 0.5 * 4 + 0.9 * 1 = 3.4. Mean over 6 pairs: 3.85 / 6.
    assert QuantileLoss([0.1, 0.5, 0.9])(params, target).item() == pytest.approx(3.85 / 6)


def test_huber_loss_matches_hand_computation():
    params, target = torch.tensor([[[[0.5]], [[3.0]]]]), torch.zeros(1, 2, 1)
    # |e| = 0.5 <= delta: 0.5 * 0.5**2 = 0.125; |e| = 3 > delta: 1 * (3 - 0.5) = 2.5.
    assert HuberLoss(delta=1.0)(params, target).item() == pytest.approx((0.125 + 2.5) / 2)


def test_gaussian_nll_matches_scipy_log_density():
    loss = GaussianNLLLoss()
    params, target = random_params(loss), torch.randn(B, H, C, dtype=torch.float64)
    expected = -stats.norm.logpdf(target.numpy(), params[..., 0].numpy(), params[..., 1].numpy()).mean()
    assert loss(params, target).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("loss", [StudentTNLLoss(), StudentTNLLoss(df=2.5)], ids=["learned_df", "fixed_df"])
def test_student_t_nll_matches_scipy_log_density(loss):
    params, target = random_params(loss), torch.randn(B, H, C, dtype=torch.float64) * 3
    df = params[..., 2].numpy() if loss.df is None else loss.df
    expected = -stats.t.logpdf(target.numpy(), df, params[..., 0].numpy(), params[..., 1].numpy()).mean()
    assert loss(params, target).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("df", [1e4, 1e6, 1e8])
def test_student_t_nll_in_float32_matches_scipy_at_large_df(df):
    """float32 lost the log density at large fixed df: lgamma((df + 1) / 2) - lgamma(df / 2) cancels two
    values near df log(df), off by 5e-3 at df 1e4 and by 1.6 at df 1e8."""
    params = torch.tensor([[[[0.1, 0.5]], [[0.0, 1.0]], [[1.0, 2.0]]]])  # (B=1, H=3, C=1, P=2)
    target = torch.tensor([[[0.3], [2.0], [-5.0]]])
    nll = StudentTNLLoss(df=df).elementwise(params, target)
    expected = -stats.t.logpdf(
        target.double().numpy(), df, params[..., 0].double().numpy(), params[..., 1].double().numpy()
    )
    np.testing.assert_allclose(nll.double().numpy(), expected, rtol=0, atol=1e-5)


def test_student_t_learned_df_gradient_in_float32_matches_float64():
    """At learned df 1e4 the float32 gradient to df had the wrong sign (6.8e-8 for -1.7e-8). It is a difference
    of terms near 1 / df, so float32 keeps it to about 1e-11 absolute, not to float32's relative precision."""
    params = torch.tensor([[[[0.0, 1.0, 1e4]], [[0.5, 2.0, 3e4]]]], requires_grad=True)  # (B=1, H=2, C=1, P=3)
    target = torch.tensor([[[2.0], [-1.0]]])
    StudentTNLLoss()(params, target).backward()
    reference = params.detach().double().requires_grad_()
    exact = torch.distributions.StudentT(reference[..., 2], reference[..., 0], reference[..., 1])
    (-exact.log_prob(target.double()).mean()).backward()
    torch.testing.assert_close(params.grad[..., 2].double(), reference.grad[..., 2], rtol=0, atol=1e-10)


def test_rescale_applies_softplus_then_scale():
    raw = torch.tensor([[[[0.7, 0.0, 1.0]]]], dtype=torch.float64)
    loc, scale = torch.full((1, 1, 1), 10.0, dtype=torch.float64), torch.full((1, 1, 1), 2.0, dtype=torch.float64)
    params = StudentTNLLoss(min_scale=0.01).rescale(raw, loc, scale)
    expected = [0.7 * 2 + 10, (math.log(2) + 0.01) * 2, 2 + math.log(1 + math.e)]
    torch.testing.assert_close(params.flatten(), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("loss", PROBABILISTIC, ids=lambda loss: repr(loss))
def test_rescaled_quantiles_are_the_quantiles_rescaled(loss):
    raw = torch.randn(B, H, C, loss.num_params, dtype=torch.float64)
    loc, scale = torch.randn(B, 1, C, dtype=torch.float64), torch.rand(B, 1, C, dtype=torch.float64) + 0.1
    normalized = loss.quantiles(loss.rescale(raw, *identity()), loss.levels)  # -> (B, H, C, Q)
    rescaled = loss.quantiles(loss.rescale(raw, loc, scale), loss.levels)
    torch.testing.assert_close(rescaled, normalized * scale.unsqueeze(-1) + loc.unsqueeze(-1))


def test_gaussian_rescale_by_a_negative_scale_mirrors_the_distribution():
    loss, raw = GaussianNLLLoss(), torch.randn(B, H, C, 2, dtype=torch.float64)
    loc, scale = torch.randn(B, 1, C, dtype=torch.float64), -torch.rand(B, 1, C, dtype=torch.float64) - 0.1
    normalized = loss.quantiles(loss.rescale(raw, *identity()), loss.levels)  # -> (B, H, C, Q)
    rescaled = loss.quantiles(loss.rescale(raw, loc, scale), loss.levels)
    torch.testing.assert_close(rescaled, (normalized * scale.unsqueeze(-1) + loc.unsqueeze(-1)).flip(-1))


@pytest.mark.parametrize("loss", [GaussianNLLLoss(), StudentTNLLoss()], ids=["gaussian", "student_t"])
def test_rescaled_nll_differs_by_the_log_jacobian(loss):
    raw, target = torch.randn(B, H, C, loss.num_params, dtype=torch.float64), torch.randn(B, H, C, dtype=torch.float64)
    loc, scale = torch.randn(B, 1, C, dtype=torch.float64), torch.rand(B, 1, C, dtype=torch.float64) + 0.1
    normalized = loss(loss.rescale(raw, *identity()), target)
    rescaled = loss(loss.rescale(raw, loc, scale), target * scale + loc)
    log_jacobian = scale.log().expand(B, H, C).mean()
    torch.testing.assert_close(rescaled, normalized + log_jacobian)


def test_gaussian_quantiles_match_scipy():
    loss = GaussianNLLLoss()
    params = random_params(loss)
    expected = stats.norm.ppf([0.1, 0.5, 0.9], params[..., :1].numpy(), params[..., 1:2].numpy())
    np.testing.assert_allclose(loss.quantiles(params, [0.1, 0.5, 0.9]).numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize(
    ("df", "standard_quantile"),
    [
        (1.0, lambda p: math.tan(math.pi * (p - 0.5))),  # Cauchy
        (2.0, lambda p: (2 * p - 1) / math.sqrt(2 * p * (1 - p))),
    ],
)
def test_student_t_quantiles_match_closed_forms(df, standard_quantile):
    levels = [0.01, 0.3, 0.5, 0.95]
    params = torch.tensor([[[[1.5, 2.0]]]], dtype=torch.float64)  # loc 1.5, scale 2
    expected = torch.tensor([[[[1.5 + 2.0 * standard_quantile(p) for p in levels]]]], dtype=torch.float64)
    torch.testing.assert_close(StudentTNLLoss(df=df).quantiles(params, levels), expected)


def test_student_t_quantiles_use_each_values_learned_df():
    params = torch.tensor([[[[0.0, 1.0, 1.0], [0.0, 1.0, 2.0]]]], dtype=torch.float64)  # df 1 and 2
    quantiles = StudentTNLLoss().quantiles(params, [0.9])[..., 0]
    torch.testing.assert_close(quantiles, torch.tensor([[[math.tan(0.4 * math.pi), 0.8 / math.sqrt(0.18)]]]).double())


@pytest.mark.parametrize("loss", PROBABILISTIC, ids=lambda loss: repr(loss))
def test_quantiles_of_params_with_gradients_have_the_point_as_median(loss):
    raw = torch.randn(B, H, C, loss.num_params, requires_grad=True)
    quantiles = loss.quantiles(loss.rescale(raw, *identity()), loss.levels)
    assert quantiles.shape == (B, H, C, len(loss.levels))
    torch.testing.assert_close(quantiles[..., loss.levels.index(0.5)], loss.point(loss.rescale(raw, *identity())))


@settings(max_examples=60, deadline=None)
@given(
    raw=st.lists(st.floats(-1e4, 1e4, width=32), min_size=30, max_size=30),
    num_levels=st.integers(1, 6),
    scale=st.floats(1e-3, 1e3),
)
def test_quantile_loss_outputs_are_monotone_for_any_head_output(raw, num_levels, scale):
    loss = QuantileLoss(np.linspace(0.05, 0.95, num_levels).tolist())
    raw = torch.tensor(raw)[: 5 * num_levels].reshape(1, 5, 1, num_levels)
    params = loss.rescale(raw, torch.full((1, 1, 1), -3.0), torch.full((1, 1, 1), scale))
    quantiles = loss.quantiles(params, loss.levels)
    assert (quantiles.diff(dim=-1) >= 0).all()


@settings(max_examples=30, deadline=None)
@given(raw=st.lists(st.floats(-50, 50), min_size=3, max_size=3), loss_index=st.integers(0, 2))
def test_distribution_quantiles_are_strictly_increasing_for_any_head_output(raw, loss_index):
    loss = [GaussianNLLLoss([0.1, 0.5, 0.9]), StudentTNLLoss([0.1, 0.5, 0.9]), StudentTNLLoss([0.1, 0.5, 0.9], df=4)][
        loss_index
    ]
    raw = torch.tensor(raw[: loss.num_params], dtype=torch.float64).reshape(1, 1, 1, -1)
    quantiles = loss.quantiles(loss.rescale(raw, *identity((1, 1, 1))), loss.levels)
    assert (quantiles.diff(dim=-1) > 0).all()


def test_quantile_loss_steps_out_from_the_median_by_softplus():
    loss = QuantileLoss([0.1, 0.5, 0.9])
    raw = torch.tensor([[[[5.0, -2.0, 7.0]]]])
    params = loss.rescale(raw, torch.full((1, 1, 1), 1.0), torch.full((1, 1, 1), 3.0))
    median = -2.0 * 3 + 1
    expected = [median - 3 * math.log1p(math.exp(5.0)), median, median + 3 * math.log1p(math.exp(7.0))]
    assert params.flatten().tolist() == pytest.approx(expected)
    assert loss.point(params).item() == pytest.approx(median)


def test_quantile_loss_anchors_on_the_level_closest_to_half():
    assert QuantileLoss([0.1, 0.4, 0.7, 0.9]).anchor == 1
    assert QuantileLoss([0.2, 0.8]).anchor == 0


@pytest.mark.parametrize("levels", [(0.3, 0.7), (0.05, 0.95), (0.05, 0.3, 0.7, 0.95)])
def test_quantile_loss_anchors_on_the_lower_level_of_a_tie(levels):
    # In floats 0.7 - 0.5 < 0.5 - 0.3 and 0.95 - 0.5 < 0.5 - 0.05: the tie must not go by rounding error.
    loss = QuantileLoss(levels)
    assert loss.levels[loss.anchor] == levels[len(levels) // 2 - 1]


def test_quantile_loss_selects_trained_levels_in_order():
    loss = QuantileLoss([0.1, 0.5, 0.9])
    params = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    assert loss.quantiles(params, [0.1, 0.9]).flatten().tolist() == [1.0, 3.0]


def test_quantile_loss_refuses_an_untrained_level():
    with pytest.raises(ValueError, match=r"levels \[0.1, 0.5, 0.9\] only; got 0.25"):
        QuantileLoss().quantiles(torch.zeros(1, 1, 1, 3), [0.25])


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        ([0.0, 0.5], "strictly between 0 and 1"),
        ([0.5, 1.0], "strictly between 0 and 1"),
        ([0.9, 0.1], "strictly increasing"),
        ([0.1, 0.5, 0.5], "strictly increasing"),
        ([], "empty"),
    ],
)
@pytest.mark.parametrize("loss_class", [QuantileLoss, GaussianNLLLoss, StudentTNLLoss])
def test_bad_quantile_levels_are_refused_at_construction(loss_class, quantiles, message):
    with pytest.raises(ValueError, match=message):
        loss_class(quantiles)


@pytest.mark.parametrize("loss", [MSELoss(), MAELoss(), HuberLoss()], ids=lambda loss: repr(loss))
def test_point_losses_have_no_quantiles(loss):
    assert loss.levels == ()
    with pytest.raises(ValueError, match="point forecasts only.*QuantileLoss"):
        loss.quantiles(torch.zeros(1, 1, 1, 1), [0.5])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: HuberLoss(delta=0.0), "positive delta"),
        (lambda: StudentTNLLoss(df=-1.0), "positive degrees of freedom"),
        (lambda: GaussianNLLLoss(min_scale=0.0), "positive min_scale"),
    ],
)
def test_bad_options_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_num_params_follows_the_options():
    assert [StudentTNLLoss().num_params, StudentTNLLoss(df=5).num_params, QuantileLoss([0.2, 0.8]).num_params] == [
        3,
        2,
        2,
    ]


@pytest.mark.parametrize("loss", [GaussianNLLLoss(), StudentTNLLoss(), StudentTNLLoss(df=3.0)], ids=repr)
def test_distribution_loss_of_nan_params_is_nan(loss):
    """A NaN in any parameter, learned degrees of freedom too, gives a NaN loss for ``FiniteLossCheck`` to stop
    at: a NaN df raised torch's ``ValueError`` about a Chi2 instead."""
    for column in range(loss.num_params):
        params = random_params(loss)
        params[0, 0, 0, column] = math.nan
        assert loss(params, torch.zeros(B, H, C, dtype=torch.float64)).isnan(), f"NaN in parameter {column}"


@pytest.mark.parametrize("loss", [GaussianNLLLoss(), StudentTNLLoss()], ids=repr)
def test_nan_weights_stop_fit_at_the_finite_loss_check(loss, tmp_path, random_batch):
    """NaN weights (what an overflowing update leaves) end fit with the check's error, naming the step."""
    model = Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, loss=loss)
    with torch.no_grad():
        model.head.linear.weight[:, 0] = math.nan  # every parameter of every value, the degrees of freedom too
    batch = random_batch(4, 8, 4, 1, 1)
    trainer = L.Trainer(
        max_steps=1,
        callbacks=[FiniteLossCheck()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    with pytest.raises(FloatingPointError, match="training loss is nan at epoch 0, global step 0, batch index 0"):
        trainer.fit(model, torch.utils.data.DataLoader([batch], batch_size=None))


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_a_loss_averages_over_the_observed_targets_only(loss):
    """A repaired target (``Batch.observed`` False) neither trains nor scores: the loss is that of the observed
    values alone, whatever the repair put in the others, and its gradient does not reach their forecasts."""
    raw = torch.randn(B, H, C, loss.num_params, dtype=torch.float64, requires_grad=True)
    target = torch.randn(B, H, C, dtype=torch.float64)
    observed = torch.rand(B, H, C, generator=torch.Generator().manual_seed(0)) > 0.4
    params = loss.rescale(raw, *identity())
    masked = loss(params, target, observed)
    expected = loss.elementwise(params, target)[observed].mean()
    torch.testing.assert_close(masked, expected)
    repaired = target.where(observed, 1e3)  # whatever the repair wrote
    torch.testing.assert_close(loss(params, repaired, observed), expected)
    masked.backward()
    assert (raw.grad[~observed] == 0).all() and (raw.grad[observed] != 0).any()
    torch.testing.assert_close(loss(params, target), loss.elementwise(params, target).mean())  # all observed


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
@pytest.mark.parametrize("missing", [math.nan, math.inf])
def test_a_target_left_missing_where_not_observed_gives_no_nan_gradient(loss, missing):
    """A target marked unobserved may hold no value at all (NaN, as a series' rows past its data do): the loss
    and its gradient are those of the observed values, and no NaN reaches the weights (the loss stays finite,
    so ``FiniteLossCheck`` would not stop the fit that NaN weights came from)."""
    raw = torch.randn(B, H, C, loss.num_params, dtype=torch.float64, requires_grad=True)
    target = torch.randn(B, H, C, dtype=torch.float64)
    observed = torch.rand(B, H, C, generator=torch.Generator().manual_seed(0)) > 0.4
    expected = loss(loss.rescale(raw, *identity()), target, observed)
    (reference,) = torch.autograd.grad(expected, raw)
    missing_loss = loss(loss.rescale(raw, *identity()), target.where(observed, missing), observed)
    (gradient,) = torch.autograd.grad(missing_loss, raw)
    torch.testing.assert_close(missing_loss, expected)
    torch.testing.assert_close(gradient, reference)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gaussian_quantiles_of_half_precision_params_match_float32(dtype):
    """A model moved to bfloat16 (``model.bfloat16()``, as predict allows) failed: torch has no CPU ndtri in
    half precision ("ndtri_cpu" not implemented for 'BFloat16')."""
    params = torch.tensor([[[[1.0, 2.0]]]])  # mean 1, standard deviation 2
    expected = GaussianNLLLoss().quantiles(params, [0.1, 0.5, 0.9]).to(dtype)
    quantiles = GaussianNLLLoss().quantiles(params.to(dtype), [0.1, 0.5, 0.9])
    assert quantiles.dtype == dtype
    torch.testing.assert_close(quantiles, expected)  # to the dtype's rounding
