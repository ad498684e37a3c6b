"""The MLP estimators are scikit-learn estimators: they pass its estimator
checks and work in its meta-estimators, model selection and metadata
routing like scikit-learn's own MLPs."""
import warnings

import numpy as np
import pytest
import sklearn
import sklearn.neural_network as sknn
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastact
from fastact import MLPClassifier, MLPRegressor

# Estimator checks with scikit-learn's settings for its MLPs (max_iter=100),
# plus networks using fastact's extensions.


def _expected_failed_checks(estimator):
    if np.any(np.asarray(estimator.dropout) > 0):
        reason = ("dropout draws an independent mask for every row, so a row repeated "
                  "twice is not the same as the row with weight 2")
        return {"check_sample_weight_equivalence_on_dense_data": reason,
                "check_sample_weight_equivalence_on_sparse_data": reason}
    return {}


@parametrize_with_checks(
    [
        MLPClassifier(max_iter=100),
        MLPRegressor(max_iter=100),
        MLPClassifier(hidden_layer_sizes=(32, 16), activation=["gelu", ("leaky_relu",
                                                                           {"alpha": 0.1})],
                      dropout=[0.1, 0.0], learning_rate_init=0.01, max_iter=100),
        MLPRegressor(activation=fastact.activation("elu", alpha=0.5), solver="lbfgs",
                     max_iter=100),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", ConvergenceWarning)
    return ctx


def test_same_public_interface_as_sklearn():
    for ours, theirs in ((MLPClassifier, sknn.MLPClassifier),
                         (MLPRegressor, sknn.MLPRegressor)):
        ours_params = ours().get_params()
        theirs_params = theirs().get_params()
        extra = set(ours_params) - set(theirs_params)
        assert extra == {"dropout", "progress"}
        for name, value in theirs_params.items():
            assert ours_params[name] == value, name
        for method in ("fit", "partial_fit", "predict", "score", "predict_proba",
                       "predict_log_proba", "set_params", "get_params",
                       "set_fit_request", "set_score_request", "set_partial_fit_request"):
            assert hasattr(ours(), method) == hasattr(theirs(), method), method


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_fitted_attributes_match_sklearn(cls):
    ref_cls = getattr(sknn, cls.__name__)
    y = Y_IRIS if cls is MLPClassifier else X_IRIS[:, 0]
    Xs = X_IRIS[:, 1:] if cls is MLPRegressor else X_IRIS
    ctx = _quiet()
    ours = cls(max_iter=5, random_state=0).fit(Xs, y)
    ref = ref_cls(max_iter=5, random_state=0).fit(Xs, y)
    ctx.__exit__(None, None, None)
    public = lambda e: {k for k in vars(e) if k.endswith("_") and not k.startswith("_")}
    assert public(ours) == public(ref)
    for name in public(ref):
        a, b = getattr(ours, name), getattr(ref, name)
        assert type(a) is type(b) or (isinstance(a, float) and isinstance(b, float)), name


def test_pipeline_grid_search_and_cross_val_score():
    pipe = make_pipeline(StandardScaler(), MLPClassifier(learning_rate_init=0.01, max_iter=100,
                                                         random_state=0))
    ctx = _quiet()
    scores = cross_val_score(pipe, X_IRIS, Y_IRIS, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(5,), (10,)],
                               "mlpclassifier__activation": ["relu", ("elu", {"alpha": 0.5})]},
                        cv=3)
    grid.fit(X_IRIS, Y_IRIS)
    ctx.__exit__(None, None, None)
    assert grid.best_score_ > 0.8
    assert set(grid.cv_results_["param_mlpclassifier__hidden_layer_sizes"]) == {(5,), (10,)}
    assert grid.predict(X_IRIS).shape == Y_IRIS.shape


def test_clone_keeps_parameters_and_drops_the_fit():
    act = fastact.activation("leaky_relu", alpha=0.3)
    est = MLPRegressor(activation=[act, "tanh"], hidden_layer_sizes=(4, 3), dropout=[0.1, 0.0],
                       max_iter=5)
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    ctx = _quiet()
    est.fit(X, y)
    ctx.__exit__(None, None, None)
    c = clone(est)
    assert c.get_params()["activation"] == [act, "tanh"]
    assert c.get_params()["dropout"] == [0.1, 0.0]
    assert not hasattr(c, "coefs_")


def test_metadata_routing_of_sample_weight():
    X, y = X_IRIS, Y_IRIS
    sw = np.random.RandomState(0).uniform(0.1, 2.0, len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, random_state=0)
        est.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        pipe = Pipeline([("scale", scaler), ("mlp", est)])
        ctx = _quiet()
        routed = cross_validate(pipe, X, y, cv=2, params={"sample_weight": sw},
                                return_estimator=True, return_indices=True)
        # the same as passing the weights by hand
        direct = clone(pipe).fit(X[routed["indices"]["train"][0]],
                                 y[routed["indices"]["train"][0]],
                                 sample_weight=sw[routed["indices"]["train"][0]])
        ctx.__exit__(None, None, None)
        a = routed["estimator"][0][-1]
        np.testing.assert_array_equal(a.coefs_[0], direct[-1].coefs_[0])
        # without a request, passing sample_weight is an error, as for sklearn's MLPs
        for cls in (MLPClassifier, sknn.MLPClassifier):
            unrequested = Pipeline([("mlp", cls(max_iter=2))])
            with pytest.raises(Exception, match="sample_weight"):
                cross_validate(unrequested, X, y, cv=2, params={"sample_weight": sw})


def test_set_output_like_sklearn():
    # MLPs are not transformers: like scikit-learn's they have no set_output,
    # and they work after transformers configured with it
    assert hasattr(MLPClassifier(), "set_output") == hasattr(sknn.MLPClassifier(), "set_output")
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=20, random_state=0))
    pipe.set_output(transform="default")
    ctx = _quiet()
    pipe.fit(X_IRIS, Y_IRIS)
    ctx.__exit__(None, None, None)
    assert pipe.score(X_IRIS, Y_IRIS) > 0.5


def test_set_output_pandas_gives_feature_names():
    pd = pytest.importorskip("pandas")
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=20, random_state=0))
    pipe.set_output(transform="pandas")
    ctx = _quiet()
    pipe.fit(pd.DataFrame(X_IRIS, columns=list("abcd")), Y_IRIS)
    ctx.__exit__(None, None, None)
    assert list(pipe[-1].feature_names_in_) == list("abcd")
    pipe.predict(pd.DataFrame(X_IRIS, columns=list("abcd")))
