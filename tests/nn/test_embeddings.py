import pytest
import torch

from forecast.nn import IdentityEmbedding, LinearEmbedding, SegmentEmbedding


def test_segment_embedding_maps_each_hand_cut_segment():
    torch.manual_seed(0)
    embedding = SegmentEmbedding(2, 12, seg_len=4, embedding_size=5)
    past = torch.randn(3, 12, 2)
    embedded = embedding(past)
    assert embedding.steps == 3 and embedding.output_size == 5 and embedded.shape == (3, 3, 5)
    for segment in range(3):
        rows = past[:, 4 * segment : 4 * (segment + 1)].reshape(3, 8)  # 4 steps x 2 channels, time-major
        torch.testing.assert_close(embedded[:, segment], torch.relu(embedding.linear(rows)))


def test_segment_embedding_needs_seg_len_to_divide_the_lookback():
    with pytest.raises(ValueError, match="seg_len=5 must divide the lookback 12"):
        SegmentEmbedding(2, 12, seg_len=5)


def test_identity_and_linear_embeddings_keep_every_step():
    past = torch.randn(3, 12, 2)
    assert torch.equal(IdentityEmbedding(2, 12)(past), past)
    linear = LinearEmbedding(2, 12, embedding_size=7)
    assert linear(past).shape == (3, 12, 7) and (linear.steps, linear.output_size) == (12, 7)


@pytest.mark.parametrize("embedding", [LinearEmbedding, SegmentEmbedding])
def test_embedding_size_below_one_names_the_key(embedding):
    with pytest.raises(ValueError, match=r"model.embedding.init_args.embedding_size=0 must be at least 1"):
        embedding(2, 48, embedding_size=0)


@pytest.mark.parametrize("seg_len", [0, -2])
def test_segment_embedding_seg_len_below_one_names_the_key(seg_len):
    """-2 divides the lookback 12: the error must say what is wrong with it, not that it must divide 12."""
    with pytest.raises(ValueError, match=rf"model.embedding.init_args.seg_len={seg_len} must be at least 1"):
        SegmentEmbedding(2, 12, seg_len=seg_len)


@pytest.mark.parametrize("steps", [12, 30])
def test_segment_embedding_names_a_window_of_another_length_than_its_lookback(steps):
    """A model called on a window of another length gave torch's "shape '[2, 3, 8]' is invalid for input of size"."""
    embedding = SegmentEmbedding(input_size=2, lookback=24, seg_len=8)
    with pytest.raises(ValueError, match=rf"its lookback, 24 steps, into segments of 8; got a window of {steps} steps"):
        embedding(torch.zeros(2, steps, 2))
