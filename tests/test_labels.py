"""fastact._labels: the short path for 1-D integer labels gives exactly what
scikit-learn's LabelBinarizer gives, and everything else goes through it."""

import numpy as np
import pytest
from sklearn.preprocessing import LabelBinarizer

from fastact._labels import binarize_labels, fit_label_binarizer

CASES = [
    np.array([3, 1, 2, 3, 1]),
    np.array([7, 7, 7]),                              # one class
    np.array([0, 1, 1, 0]),                           # binary
    np.array([-5, 2, -5, 2]),                         # binary, negative labels
    np.array([1, 2, 3], dtype=np.int32),
    np.array([200, 3, 9, 3], dtype=np.uint8),
    np.array([2**40, -(2**40), 0], dtype=np.int64),
    np.arange(1000) % 17,
    np.array(["b", "a", "c"]),                        # the rest: LabelBinarizer's own
    np.array([0.0, 1.0, 2.0]),
    [1, 2, 2, 3],
    np.array([[1, 0, 1], [0, 1, 0]]),                 # multilabel indicator
]


@pytest.mark.parametrize("y", CASES, ids=lambda y: repr(np.asarray(y))[:40])
def test_same_as_label_binarizer(y):
    ours, ref = fit_label_binarizer(y), LabelBinarizer().fit(y)
    assert ours.y_type_ == ref.y_type_
    assert ours.sparse_input_ == ref.sparse_input_
    assert ours.classes_.dtype == ref.classes_.dtype
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    got = binarize_labels(ours, y)
    want = ref.transform(y).astype(bool)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ours.inverse_transform(got.astype(int)),
                                  ref.inverse_transform(want.astype(int)))


def test_labels_outside_the_classes_give_empty_rows():
    lb = fit_label_binarizer(np.array([0, 1, 2]))
    y = np.array([2, 5, 0])
    np.testing.assert_array_equal(binarize_labels(lb, y),
                                  LabelBinarizer().fit([0, 1, 2]).transform(y).astype(bool))


def test_a_fitted_binarizer_of_other_labels_takes_the_long_path():
    lb = LabelBinarizer().fit(np.array(["x", "y", "z"]))
    np.testing.assert_array_equal(binarize_labels(lb, np.array(["z", "x"])),
                                  [[False, False, True], [True, False, False]])


def test_errors_are_scikit_learns():
    with pytest.raises(ValueError, match="Unknown label type"):
        fit_label_binarizer(np.array([0.5, 1.5]))
