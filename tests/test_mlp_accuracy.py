"""Test accuracy (R² for the regressor) of fastact's estimators against
scikit-learn's with the same hyperparameters on the same splits: within one
point or better.  Run with -s to see the table."""
import warnings

import numpy as np
import pytest
import sklearn.neural_network as sknn
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    make_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import fastact


def _digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def _scaled(X, y, stratify=True, scale_y=False):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0,
                                          stratify=y if stratify else None)
    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    if scale_y:
        mu, sd = ytr.mean(), ytr.std()
        ytr, yte = (ytr - mu) / sd, (yte - mu) / sd
    return Xtr, Xte, ytr, yte


# T1 of BENCHMARKS.md: 200 epochs exactly
T1 = dict(hidden_layer_sizes=(100,), activation="relu", solver="adam", learning_rate_init=1e-3,
          batch_size=200, max_iter=200, tol=0, n_iter_no_change=10**6, random_state=0)

CASES = {
    "digits T1 (float32)": ("MLPClassifier", _digits, T1),
    "digits lbfgs": ("MLPClassifier", _digits,
                     dict(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=60,
                          random_state=0)),
    "iris": ("MLPClassifier", lambda: _scaled(*load_iris(return_X_y=True)),
             dict(hidden_layer_sizes=(20,), max_iter=300, random_state=0)),
    "iris sgd": ("MLPClassifier", lambda: _scaled(*load_iris(return_X_y=True)),
                 dict(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=0.05,
                      max_iter=300, random_state=0)),
    "breast_cancer": ("MLPClassifier", lambda: _scaled(*load_breast_cancer(return_X_y=True)),
                      dict(max_iter=100, random_state=0)),
    "make_classification": ("MLPClassifier",
                            lambda: _scaled(*make_classification(
                                n_samples=2000, n_features=20, n_informative=10, n_classes=3,
                                random_state=0)),
                            dict(hidden_layer_sizes=(64, 32), max_iter=60, random_state=0)),
    "make_regression": ("MLPRegressor",
                        lambda: _scaled(*make_regression(n_samples=1000, n_features=20,
                                                         noise=10, random_state=0),
                                        stratify=False, scale_y=True),
                        dict(hidden_layer_sizes=(64,), max_iter=200, random_state=0)),
    "make_regression lbfgs": ("MLPRegressor",
                              lambda: _scaled(*make_regression(n_samples=1000, n_features=20,
                                                               noise=10, random_state=0),
                                              stratify=False, scale_y=True),
                              dict(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=100,
                                   random_state=0)),
    "diabetes": ("MLPRegressor",
                 lambda: _scaled(*load_diabetes(return_X_y=True), stratify=False,
                                 scale_y=True),
                 dict(hidden_layer_sizes=(32,), max_iter=300, alpha=1.0, random_state=0)),
    "diabetes lbfgs": ("MLPRegressor",
                       lambda: _scaled(*load_diabetes(return_X_y=True), stratify=False,
                                       scale_y=True),
                       dict(hidden_layer_sizes=(16,), solver="lbfgs", alpha=10.0,
                            max_iter=200, random_state=0)),
}

RESULTS = {}


@pytest.mark.parametrize("case", list(CASES))
def test_accuracy_within_one_point_of_sklearn(case):
    est_name, data, params = CASES[case]
    Xtr, Xte, ytr, yte = data()
    scores = []
    for mod in (fastact, sknn):
        est = getattr(mod, est_name)(**params)
        # one BLAS thread for both (fastact trains on one anyway)
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(Xtr, ytr)
        scores.append(est.score(Xte, yte))
    RESULTS[case] = scores
    ours, theirs = scores
    assert ours >= theirs - 0.01, f"{case}: fastact {ours:.4f} < scikit-learn {theirs:.4f} - 0.01"


def test_print_table():
    if not RESULTS:
        pytest.skip("run together with the accuracy cases")
    print("\n{:<24} {:>9} {:>13}".format("task", "fastact", "scikit-learn"))
    for case, (ours, theirs) in RESULTS.items():
        print(f"{case:<24} {ours:9.4f} {theirs:13.4f}")
