"""Bad input to the MLP estimators raises what scikit-learn raises, with a
clear message, and a failed fit leaves the estimator as it was."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import fastact
from fastact import MLPClassifier, MLPRegressor

X, Y = load_iris(return_X_y=True)
ESTIMATORS = [MLPClassifier, MLPRegressor]


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {cls: cls(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, Y)
                for cls in ESTIMATORS}


def _fitted_state(est):
    state = {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}
    return {k: ([a.copy() for a in v] if k in ("coefs_", "intercepts_") else
                (list(v) if isinstance(v, list) else v)) for k, v in state.items()}


def _assert_same_state(before, est):
    after = _fitted_state(est)
    assert before.keys() == after.keys()
    for k in before:
        if k in ("coefs_", "intercepts_"):
            for a, b in zip(before[k], after[k]):
                np.testing.assert_array_equal(a, b)
        elif isinstance(before[k], np.ndarray):
            np.testing.assert_array_equal(before[k], after[k])
        else:
            assert before[k] == after[k] or (before[k] != before[k] and after[k] != after[k])


# -- X -------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("bad,match", [(np.nan, "NaN"), (np.inf, "infinity"),
                                       (-np.inf, "infinity")])
def test_non_finite_X_in_fit(cls, bad, match):
    Xb = X.copy()
    Xb[7, 2] = bad
    with pytest.raises(ValueError, match=match):
        cls(max_iter=3).fit(Xb, Y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("rows", [1, 3, 2000])
@pytest.mark.parametrize("bad,match", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_X_in_predict(fitted, cls, rows, bad, match):
    # the short path for small float arrays detects it too
    Xb = np.resize(X, (rows, 4)).copy()
    Xb[rows // 2, 1] = bad
    est = fitted[cls]
    methods = ["predict"] + (["predict_proba", "predict_log_proba"] if cls is MLPClassifier
                             else [])
    for method in methods:
        with pytest.raises(ValueError, match=match):
            getattr(est, method)(Xb)
        with pytest.raises(ValueError, match=match):
            getattr(est, method)(Xb.astype(np.float32))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_non_numeric_X(fitted, cls):
    with pytest.raises(ValueError, match="could not convert"):
        cls(max_iter=3).fit([["a", "b"], ["c", "d"]], [0, 1])
    with pytest.raises(ValueError):
        fitted[cls].predict(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match="Complex data not supported"):
        fitted[cls].predict(X.astype(complex))


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix, np.float32])
def test_wrong_number_of_features_at_predict(fitted, cls, container):
    Xw = X[:4, :3]
    Xw = Xw.astype(np.float32) if container is np.float32 else container(Xw)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 features"):
        fitted[cls].predict(Xw)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_one_dimensional_and_empty_X(fitted, cls):
    with pytest.raises(ValueError, match="Expected 2D array"):
        fitted[cls].predict(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        fitted[cls].predict(X[:0])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_predict_before_fit(cls):
    with pytest.raises(NotFittedError):
        cls().predict(X)


# -- y -------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
def test_y_of_the_wrong_length_or_shape(cls):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        cls(max_iter=3).fit(X, Y[:-1])
    with pytest.raises(ValueError, match="dim 3"):
        cls(max_iter=3).fit(X, Y.reshape(-1, 1, 1))


def test_classifier_rejects_continuous_y():
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier(max_iter=3).fit(X, X[:, 0])


def test_labels_unseen_by_partial_fit():
    with pytest.raises(ValueError, match="classes not in `self.classes_`"):
        MLPClassifier().partial_fit(X, Y, classes=[0, 1])
    clf = MLPClassifier(random_state=0).partial_fit(X[:50], Y[:50], classes=[0, 1, 2])
    before = _fitted_state(clf)
    with pytest.raises(ValueError, match="classes not in `self.classes_`"):
        clf.partial_fit(X, Y + 1)
    _assert_same_state(before, clf)
    with pytest.raises(ValueError, match="must be passed on the first call"):
        MLPClassifier().partial_fit(X, Y)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, Y, classes=[0, 1, 2, 3])


def test_warm_start_with_other_classes():
    clf = MLPClassifier(warm_start=True, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, Y)
    with pytest.raises(ValueError, match="warm_start can only be used"):
        clf.fit(X[Y < 2], Y[Y < 2])


def test_sample_weight_of_the_wrong_length():
    with pytest.raises(ValueError, match="sample_weight.shape"):
        MLPClassifier(max_iter=3).fit(X, Y, sample_weight=np.ones(3))


def test_poisson_rejects_negative_y():
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson", max_iter=3).fit(X, Y - 1.0)


# -- hyperparameters ------------------------------------------------------------

@pytest.mark.parametrize("params", [
    dict(solver="newton"), dict(alpha=-1.0), dict(learning_rate_init=0.0),
    dict(batch_size=0), dict(max_iter=0), dict(momentum=1.5), dict(beta_1=1.0),
    dict(validation_fraction=1.0), dict(hidden_layer_sizes=0), dict(activation="relux"),
    dict(activation=3), dict(dropout=1.0), dict(dropout=-0.1), dict(dropout="0.5"),
    dict(n_iter_no_change=0), dict(epsilon=0.0),
])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_invalid_hyperparameters(cls, params):
    with pytest.raises(InvalidParameterError):
        cls(**params).fit(X, Y)


@pytest.mark.parametrize("params,exc,match", [
    (dict(hidden_layer_sizes=(4, 4), dropout=[0.1, 1.2]), ValueError, r"in \[0, 1\)"),
    (dict(hidden_layer_sizes=(4, 4), dropout=[0.1]), ValueError, "per hidden layer"),
    (dict(solver="lbfgs", dropout=0.1), ValueError, "stochastic solver"),
    (dict(activation="step"), ValueError, "cannot be trained"),
    (dict(hidden_layer_sizes=(4, 4), activation=["relu", ("step", {"threshold": 1.0})]),
     ValueError, r"activation\[1\].*cannot be trained"),
    (dict(activation=("leaky_relu", {"alpha": -1.0})), ValueError, "alpha"),
    (dict(activation=("leaky_relu", {"beta": 1.0})), TypeError, "unexpected parameter"),
    (dict(activation=("nope", {})), ValueError, "unknown activation"),
    (dict(hidden_layer_sizes=(4, 4), activation=["relu"]), ValueError, "one activation per"),
    (dict(hidden_layer_sizes=(4,), activation=[3]), TypeError, "activation name"),
    (dict(hidden_layer_sizes=(4,), activation=("prelu", {"alpha": [0.1] * 3})), ValueError,
     "3 alpha values"),
    (dict(hidden_layer_sizes=(10**12,)), ValueError, "too large"),
    (dict(hidden_layer_sizes=(10**6, 10**6)), ValueError, "too large"),
    (dict(hidden_layer_sizes=(0,)), ValueError, "must be > 0"),
    (dict(hidden_layer_sizes=(-3, 2)), ValueError, "must be > 0"),
    (dict(hidden_layer_sizes=(2.5,)), ValueError, "integers"),
])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_invalid_network_specification(cls, params, exc, match):
    est = cls(max_iter=3, **params)
    with pytest.raises(exc, match=match):
        est.fit(X, Y)
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(est))


def test_partial_fit_restrictions():
    with pytest.raises(ValueError, match="does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, Y, classes=[0, 1, 2])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:2], Y[:2])


# -- non-finite training and half-fitted state --------------------------------------

def _huge():
    rng = np.random.RandomState(0)
    return np.finfo(np.float64).max * rng.uniform(size=(10, 4)), rng.standard_normal(10)


def test_diverging_fit_raises_clearly_and_leaves_unfitted():
    Xh, yh = _huge()
    est = MLPRegressor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="non-finite parameter weights.*non-finite"):
            est.fit(Xh, yh)
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(est))
    with pytest.raises(NotFittedError):
        est.predict(X)


@pytest.mark.parametrize("warm_start", [False, True])
def test_failed_refit_keeps_the_previous_model(warm_start):
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=5, random_state=0,
                       warm_start=warm_start)
    Xh, yh = _huge()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(Xh / 1e300, yh)
    before = _fitted_state(est)
    pred = est.predict(Xh / 1e300)
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(Xh, yh)
    _assert_same_state(before, est)
    np.testing.assert_array_equal(est.predict(Xh / 1e300), pred)
    # and it still trains
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(Xh / 1e300, yh)


def test_failed_partial_fit_keeps_the_previous_model():
    est = MLPRegressor(hidden_layer_sizes=(3,), random_state=0)
    Xh, yh = _huge()
    est.partial_fit(Xh / 1e300, yh)
    before = _fitted_state(est)
    with pytest.raises(ValueError, match="non-finite"):
        est.partial_fit(Xh, yh)
    _assert_same_state(before, est)


def test_diverging_fit_with_early_stopping_restores_best_weights():
    # as scikit-learn: no error, the best weights are kept, the last
    # validation score is NaN
    est = MLPRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd",
                       learning_rate_init=1, max_iter=20, early_stopping=True,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(ConvergenceWarning, match="non-finite"):
            est.fit(X, Y)
    assert str(est.validation_scores_[-1]) == str(np.nan)
    assert isinstance(est.validation_scores_[-1], float)
    assert all(np.isfinite(c).all() for c in est.coefs_)
    assert np.isfinite(est.predict(X)).all()


def test_activation_spec_errors_name_the_choices():
    # scikit-learn's exception type for a bad parameter value, fastact's message
    for spec in ("rleu", ("rleu", {})):
        with pytest.raises(InvalidParameterError,
                           match="'activation' parameter of MLPClassifier.*did you mean 'relu'"):
            MLPClassifier(activation=spec).fit(X, Y)
    with pytest.raises(InvalidParameterError, match="'dropout' parameter of MLPRegressor"):
        MLPRegressor(hidden_layer_sizes=(3, 3), dropout=[0.1, 1.5]).fit(X, Y)
    assert "leaky_relu" in fastact.ACTIVATIONS


def test_float32_fit_refuses_parameters_outside_the_float32_range():
    # scale=1e300 is a valid float64 selu parameter but rounds to inf in float32
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation=("selu", {"scale": 1e300}),
                        max_iter=2)
    with pytest.raises(ValueError, match="float32"):
        clf.fit(X.astype(np.float32), y)
    assert not hasattr(clf, "coefs_")
