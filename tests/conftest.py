import os

import numpy as np
import pandas as pd
import pytest
import torch

# Triton reads TRITON_INTERPRET when it is first imported; without a GPU its kernels run on its CPU interpreter.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def restore_default_dtype():
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)


@pytest.fixture
def wide_frame() -> pd.DataFrame:
    """200 hourly rows of three seeded channels with distinct levels, so scaling is visible."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    steps = np.arange(200)
    return pd.DataFrame(
        {
            "a": 10 + np.sin(steps / 4) + 0.1 * rng.standard_normal(200),
            "b": -5 + 2 * np.cos(steps / 6) + 0.1 * rng.standard_normal(200),
            "c": 100 + steps * 0.5 + rng.standard_normal(200),
        },
        index=index,
    )


@pytest.fixture
def wide_csv(tmp_path, wide_frame) -> str:
    path = tmp_path / "wide.csv"
    wide_frame.to_csv(path)
    return str(path)
