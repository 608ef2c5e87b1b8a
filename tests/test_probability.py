import numpy as np

from fashion_desktop.core.probability import softmax


def test_softmax_is_a_distribution_along_the_last_axis_even_for_huge_logits():
    logits = np.array([[1000.0, 1000.0, -1000.0], [0.0, np.log(3.0), -np.inf]], np.float32)
    probabilities = softmax(logits)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, [[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]], atol=1e-6)


def test_softmax_of_one_vector_matches_its_row_in_a_batch():
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(4, 7))
    np.testing.assert_allclose(softmax(batch[2]), softmax(batch)[2])
    np.testing.assert_allclose(softmax(batch, axis=0).sum(axis=0), np.ones(7))
