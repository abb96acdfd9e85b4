"""The CLI evaluates and forecasts some of the series a checkpoint was trained on, whose static categories are
fewer than the checkpoint knows: the model's embeddings are sized by the checkpoint, as ``Forecaster.predict``'s."""

from pathlib import Path

import pandas as pd
import pytest

from forecast import Forecaster
from forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fitted(long_frame, tmp_path, tiny_cli):
    """A quickstart fit on the three series (regions north and south), and the arguments of its runs."""
    long_frame.to_csv(tmp_path / "long.csv", index=False)
    north = long_frame[long_frame["region"] == "north"]
    north.to_csv(tmp_path / "north.csv", index=False)
    options = ["--data.columns.targets", "[y]", "--data.columns.static_covariates", "[region, size]",
               "--model.static_embedding_size", "3", "--model.encoder.init_args.hidden_size", "4",
               "--trainer.max_epochs", "1"]  # fmt: skip
    config = ["--config", str(ROOT / "configs/quickstart.yaml")]
    main(["fit", *config, *tiny_cli(tmp_path / "long.csv", tmp_path, lookback=12, horizon=4), *options])
    return config, options, north


def test_predict_of_the_series_of_one_region_uses_the_checkpoints_categories(fitted, tmp_path, tiny_cli):
    config, options, north = fitted
    run = main(["predict", *config, *tiny_cli(tmp_path / "north.csv", tmp_path, lookback=12, horizon=4), *options,
                "--ckpt_path", "last", "--prediction_writer.output", str(tmp_path / "north_forecast.csv")])  # fmt: skip
    assert run.model.hparams["static_cardinalities"] == [2, 0]  # the checkpoint's north and south, not the data's north
    written = pd.read_csv(tmp_path / "north_forecast.csv")
    expected = Forecaster.load(run.trainer.ckpt_path).predict(north)
    assert sorted(written["id"].unique()) == ["A", "C"]
    pd.testing.assert_series_equal(
        written.sort_values(["id", "time"])["y"].reset_index(drop=True),
        expected.sort_values(["id", "time"])["y"].reset_index(drop=True),
        rtol=1e-5,
    )


def test_a_category_the_checkpoint_does_not_know_is_named(fitted, tmp_path, tiny_cli):
    config, options, north = fitted
    north.assign(region="west").to_csv(tmp_path / "west.csv", index=False)
    with pytest.raises(ValueError, match="west.*map it to a known one"):
        main(["test", *config, *tiny_cli(tmp_path / "west.csv", tmp_path, lookback=12, horizon=4), *options,
              "--ckpt_path", "last"])  # fmt: skip
