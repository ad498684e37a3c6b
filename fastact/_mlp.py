"""Multi-layer perceptrons with scikit-learn's API, trained by fastact's
compiled engine.

:class:`MLPClassifier` and :class:`MLPRegressor` take scikit-learn 1.9's
parameters with the same defaults and meanings and produce the same fitted
attributes; the algorithm follows scikit-learn's step for step (Glorot
initialisation drawn in the same order, the same shuffling, batches, losses,
L2 term, Adam/SGD updates, convergence and early-stopping rules), so both
agree closely for the same hyperparameters.  What differs is where the work
runs: a whole mini-batch step runs in C without the GIL
(:mod:`fastact._mlp_core`), Python only once per epoch.

Beyond scikit-learn:

- ``activation`` takes any activation of the fastact table, with parameters
  (``("leaky_relu", {"alpha": 0.1})`` or ``fastact.activation(...)``), or a
  list with one per hidden layer;
- ``dropout``: inverted dropout on the hidden layers during training, one
  rate or one per hidden layer, reproducible with ``random_state``;
- training runs in float32 when X is float32 (float64 otherwise).
"""

import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from fastact import _mlp_validation as _params
from fastact._blas_threads import single_threaded_blas as _single_threaded_blas
from fastact._kernels import Activation
from fastact._labels import binarize_labels, fit_label_binarizer
from fastact._mlp_core import Network, shuffle_rows
from fastact._optimizers import AdamOptimizer, SGDOptimizer

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ["sgd", "adam"]



_NONFINITE_MSG = ("Solver produced non-finite parameter weights. The input data may "
                  "contain large values and need to be preprocessed.")


def _as_csr32(X):
    """CSR with int32 indices (what the engine reads); CSC is converted."""
    X = X.tocsr()
    if X.indices.dtype != np.int32 or X.indptr.dtype != np.int32:
        if X.nnz >= 2**31 or X.shape[1] >= 2**31:
            raise ValueError("sparse X with more than 2**31 - 1 stored values or "
                             "columns is not supported")
        X = X.copy()
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
    return X


class BaseMultilayerPerceptron(BaseEstimator, ABC):
    """Base class of MLPClassifier and MLPRegressor.

    Warning: This class should not be used directly; use the derived classes.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        # any name of fastact's table; checked (with suggestions) in fit
        "activation": [str, tuple, list, Activation],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "progress": [callable, None],
    }

    @abstractmethod
    def __init__(self, hidden_layer_sizes, activation, solver, alpha, batch_size,
                 learning_rate, learning_rate_init, power_t, max_iter, loss, shuffle,
                 random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
                 early_stopping, validation_fraction, beta_1, beta_2, epsilon,
                 n_iter_no_change, max_fun, dropout, progress):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.progress = progress

    # -- the network ------------------------------------------------------------

    @abstractmethod
    def _engine_loss(self):
        """Output activation + loss of the engine for the current targets."""

    def _bind_views(self, engine):
        """coefs_ and intercepts_ become views into the engine's buffer."""
        self._engine = engine
        self.coefs_ = engine.coef_views()
        self.intercepts_ = engine.intercept_views()
        self._views = (list(self.coefs_), list(self.intercepts_))
        engine.bind_views(self.coefs_, self.intercepts_)

    def _views_intact(self):
        views = self.__dict__.get("_views")
        if views is None:
            return False
        coefs, intercepts = self.coefs_, self.intercepts_
        if len(coefs) != len(views[0]) or len(intercepts) != len(views[1]):
            return False
        for a, b in zip(coefs, views[0]):
            if a is not b:
                return False
        for a, b in zip(intercepts, views[1]):
            if a is not b:
                return False
        return True

    def _sync_engine(self):
        """If coefs_/intercepts_ were replaced by the user, copy them into the
        engine's buffer and point the attributes at it again."""
        if "_engine" in self.__dict__ and not self._views_intact():
            engine = self._engine
            engine.set_params(self.coefs_, self.intercepts_)
            self._bind_views(engine)

    def _initialize(self, y, layer_units, dtype, acts, dropout):
        # set all attributes, allocate weights etc. for first call
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()

        engine = Network(layer_units, acts, dropout, self._engine_loss(), dtype)
        # Glorot-uniform draws in scikit-learn's order: per layer, the weights
        # then the intercepts, in float64, then cast into the engine's buffer
        # (one layer at a time: the float64 draws never all exist at once)
        for i, (coef, intercept) in enumerate(zip(engine.coef_views(),
                                                  engine.intercept_views())):
            fan_in, fan_out = coef.shape
            act = acts[min(i, len(acts) - 1)] if acts else self._output_init_activation()
            init_bound = np.sqrt(_params.init_factor(act) / (fan_in + fan_out))
            coef[...] = self._random_state.uniform(-init_bound, init_bound, (fan_in, fan_out))
            intercept[...] = self._random_state.uniform(-init_bound, init_bound, fan_out)
        self._bind_views(engine)
        self._best_params = engine.params.copy()

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _engine_from_attributes(self, layer_units, acts, dropout, dtype):
        """A network holding the coefs_/intercepts_ the user assigned."""
        coefs = [np.asarray(c) for c in self.coefs_]
        if coefs and coefs[0].dtype in (np.float32, np.float64):
            dtype = coefs[0].dtype
        if not hasattr(self, "out_activation_"):
            self.out_activation_ = self._out_activation()
        engine = Network(layer_units, acts, dropout, self._engine_loss(), dtype)
        engine.set_params(coefs, [np.asarray(b) for b in self.intercepts_])
        self._bind_views(engine)
        self.n_layers_ = len(layer_units)
        for name, value in (("n_iter_", 0), ("t_", 0), ("loss_curve_", []),
                            ("_no_improvement_count", 0)):
            if not hasattr(self, name):
                setattr(self, name, value)
        if not hasattr(self, "best_loss_"):
            self.best_loss_ = None if self.early_stopping else np.inf
        if not hasattr(self, "validation_scores_"):
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight=None, *unused):
        """Loss and gradient at the packed parameters, as scikit-learn's
        private method of the same name (the trailing workspace arguments are
        ignored): for gradient checks.  Computed by the engine."""
        engine = self._engine.copy()
        X = np.asarray(X, dtype=engine.dtype) if not sp.issparse(X) else \
            _as_csr32(X.astype(engine.dtype))
        y = np.asarray(y, dtype=engine.dtype)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if sample_weight is not None:
            sample_weight = np.require(sample_weight, engine.dtype, ("C", "A"))
        engine.bind(X, np.require(y, None, ("C", "A")), sample_weight, alpha=float(self.alpha))
        return engine.loss_grad(packed_coef_inter)

    def _output_init_activation(self):
        """Activation whose Glorot factor the output layer uses when the
        network has no hidden layer (scikit-learn uses `activation`)."""
        a = self.activation
        if isinstance(a, list):
            return None
        return _params._one_activation(a, "activation", type(self).__name__)

    def _network_spec(self, n_features, n_outputs, n_samples, itemsize):
        hidden = _params.hidden_layer_sizes(self.hidden_layer_sizes)
        owner = type(self).__name__
        acts = _params.activations(self.activation, len(hidden), owner)
        dropout = _params.dropout_rates(self.dropout, len(hidden), owner)
        if self.solver == "lbfgs" and any(dropout):
            raise ValueError("dropout needs a stochastic solver ('adam' or 'sgd'); "
                             "lbfgs minimizes a deterministic loss. Set dropout=0.")
        pieces = [a.params["pieces"] if a.name == "maxout" else 1 for a in acts] + [1]
        for i, a in enumerate(acts):
            if a.name == "prelu" and len(a.params["alpha"]) != hidden[i]:
                raise ValueError(
                    f"prelu in hidden layer {i + 1} has {len(a.params['alpha'])} alpha "
                    f"values; that layer has {hidden[i]} units")
        layer_units = [n_features] + hidden + [n_outputs]
        if self.solver == "lbfgs":
            batch_rows = n_samples
        elif self.batch_size == "auto":
            batch_rows = min(200, n_samples)
        else:
            batch_rows = int(np.clip(self.batch_size, 1, n_samples))
        _params.check_network_size(layer_units, pieces, itemsize, self.solver, batch_rows)
        return layer_units, acts, dropout

    # -- fitting ----------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False):
        # A failed fit leaves the estimator as it was: every attribute is
        # restored (lists that training appends to are copied first, and a
        # warm-started network is trained on a copy).
        snapshot = dict(self.__dict__)
        try:
            with _single_threaded_blas:
                return self._fit_unsafe(X, y, sample_weight, incremental)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise
        finally:
            engine = self.__dict__.get("_engine")
            if engine is not None:
                engine.unbind()

    def _fit_unsafe(self, X, y, sample_weight, incremental):
        _params.hidden_layer_sizes(self.hidden_layer_sizes)  # refuse bad sizes before any work
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)

        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)

        # Ensure y is 2D
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self._check_targets(y)

        # the dtype the network computes in: a warm-started one keeps its own
        engine = None if first_pass else self.__dict__.get("_engine")
        itemsize = (X.dtype if engine is None else engine.dtype).itemsize
        layer_units, acts, dropout = self._network_spec(n_features, y.shape[1], n_samples,
                                                        itemsize)

        # check random state
        self._random_state = check_random_state(self.random_state)

        if first_pass:
            # First time training the model
            self.n_outputs_ = y.shape[1]
            self._initialize(y, layer_units, X.dtype, acts, dropout)
            engine = self._engine
        else:
            if "_engine" not in self.__dict__:
                # coefs_/intercepts_ set by hand (as scikit-learn allows)
                self._engine_from_attributes(layer_units, acts, dropout, X.dtype)
            self._sync_engine()
            engine = self._engine
            if y.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"y has {y.shape[1]} outputs but the model was fitted with "
                    f"{self.n_outputs_}; fit it anew (warm_start=False) to change them")
            if ([s[1] for s in engine.shapes()[:-1]] !=
                    [u * (a.params["pieces"] if a.name == "maxout" else 1)
                     for u, a in zip(layer_units[1:-1], acts)]):
                raise ValueError(
                    "hidden_layer_sizes or activation changed since the model was fitted; "
                    "warm_start and partial_fit continue the same network")
            engine = engine.copy()
            self._bind_views(engine)
            for name in ("loss_curve_", "validation_scores_"):
                if isinstance(self.__dict__.get(name), list):
                    setattr(self, name, list(getattr(self, name)))

        dtype = engine.dtype
        if X.dtype != dtype:    # warm start on data of another dtype
            X = X.astype(dtype)
        if sp.issparse(X):
            X = _as_csr32(X)
        targets = np.require(y, dtype, ("C", "A"))
        if sample_weight is not None:
            sample_weight = np.require(sample_weight, dtype, ("C", "A"))
        engine.bind(X, targets, sample_weight, alpha=float(self.alpha))

        # Run the Stochastic optimization solver
        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(engine, X, y, sample_weight, dropout, incremental)
        # Run the LBFGS solver
        elif self.solver == "lbfgs":
            self._fit_lbfgs(engine)

        # validate parameter weights
        if not np.isfinite(engine.params).all():
            raise ValueError(_NONFINITE_MSG)
        return self

    def _fit_lbfgs(self, engine):
        if self.verbose is True or self.verbose >= 1:
            iprint = 1
        else:
            iprint = -1
        # Squared error over several outputs: scikit-learn back-propagates
        # sum over outputs but reports the mean; L-BFGS gets the objective
        # whose gradient that is, and loss_ is reported as scikit-learn does.
        rescale = engine.loss_name == "squared_error" and engine.n_outputs > 1
        k = float(engine.n_outputs)
        alpha = float(self.alpha)
        last = {"x": engine.params.astype(np.float64), "fun": None, "nit": 0}

        def fun(x):
            loss, grad = engine.loss_grad(x)
            if rescale:
                penalty = self._l2_penalty(engine, x, alpha)
                loss = k * (loss - penalty) + penalty
            if last["fun"] is None and np.array_equal(x, last["x"]):
                last["fun"] = loss      # at the start: loss_ if Ctrl-C comes before an iteration
            return loss, grad

        def callback(intermediate_result):
            # one call: a Ctrl-C cannot leave x and fun of different iterations
            last.update(x=intermediate_result.x.copy(), fun=intermediate_result.fun,
                        nit=last["nit"] + 1)
            if self.progress is not None:
                self.progress(last["nit"], float(intermediate_result.fun))

        try:
            opt_res = scipy.optimize.minimize(
                fun, last["x"], method="L-BFGS-B", jac=True, callback=callback,
                options={
                    "maxfun": self.max_fun,
                    "maxiter": self.max_iter,
                    "gtol": self.tol,
                    **_get_additional_lbfgs_options_dict("iprint", iprint),
                },
            )
        except KeyboardInterrupt:
            # no pass over the data after Ctrl-C (it takes as long as an
            # evaluation): the loss at x is known unless the first evaluation
            # was interrupted (then nan)
            warnings.warn("Training interrupted by user.")
            x, self.n_iter_, fun = last["x"], last["nit"], last["fun"]
            if fun is None:
                fun = np.nan
        else:
            self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
            x, fun = opt_res.x, opt_res.fun
        if rescale:  # report scikit-learn's loss, not the objective
            penalty = self._l2_penalty(engine, x, alpha)
            fun = (fun - penalty) / k + penalty
        self.loss_ = float(fun)
        engine.params[...] = x

    @staticmethod
    def _l2_penalty(engine, x, alpha):
        if alpha == 0:
            return 0.0
        w = np.asarray(x[:engine.n_coef], dtype=np.float64)
        return 0.5 * alpha * float(w @ w) / engine.norm

    def _fit_stochastic(self, engine, X, y, sample_weight, dropout, incremental):
        if not incremental or not hasattr(self, "_optimizer") \
                or engine.solver_name != self.solver:
            if self.solver == "sgd":
                self._optimizer = SGDOptimizer(
                    self.learning_rate_init, self.learning_rate, self.momentum,
                    self.nesterovs_momentum, self.power_t)
            elif self.solver == "adam":
                self._optimizer = AdamOptimizer(
                    self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
            self._optimizer.start(engine)
        if any(dropout):
            engine.seed = int(self._random_state.randint(np.iinfo(np.int64).max,
                                                         dtype=np.int64))
        if self.early_stopping and getattr(self, "_best_params", None) is None:
            self._best_params = engine.params.copy()   # unpickled without them

        # early_stopping in partial_fit doesn't make sense
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        n_all = X.shape[0]
        if early_stopping:
            # don't stratify in multilabel classification; the split is made
            # on row indices (the same split scikit-learn makes on X itself)
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            train_idx, val_idx = train_test_split(
                np.arange(n_all), random_state=self._random_state,
                test_size=self.validation_fraction, stratify=stratify)
            if val_idx.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset.")
            y_val = y[val_idx]
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
            sample_weight_val = None if sample_weight is None else sample_weight[val_idx]
            validation = (X, val_idx, y_val, sample_weight_val)
        else:
            train_idx = None
            validation = None

        n_samples = n_all if train_idx is None else train_idx.shape[0]
        sample_idx = np.arange(n_samples, dtype=np.int64)

        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        rs = self._random_state
        optimizer = self._optimizer
        try:
            self.n_iter_ = 0
            for it in range(self.max_iter):
                if self.shuffle:
                    # sklearn.utils.shuffle(sample_idx, random_state=rs) draws
                    # perm = rs.shuffle(arange(n)) and takes sample_idx[perm];
                    # shuffling sample_idx in place makes the same swaps with
                    # the same draws, so the same order.  Only the row order
                    # is shuffled, never X.
                    shuffle_rows(rs, sample_idx)
                order = sample_idx if train_idx is None else train_idx[sample_idx]
                order = np.ascontiguousarray(order, dtype=np.int64)

                accumulated_loss, status = engine.train_epoch(order, batch_size)
                optimizer.epoch_ends(engine)
                self.n_iter_ += 1
                if status == "nonfinite":
                    self._diverged(engine, early_stopping, validation)
                    break
                self.loss_ = accumulated_loss / n_samples

                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                if self.progress is not None:
                    self.progress(self.n_iter_, self.loss_)

                # update no_improvement_count based on training loss or
                # validation score according to early_stopping
                self._update_no_improvement_count(early_stopping, engine, validation)

                # for learning rate that needs to be updated at iteration end
                optimizer.iteration_ends(engine, self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    # not better than last `n_iter_no_change` iterations by tol
                    # stop or decrease learning rate
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than "
                            "tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f"
                            " for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )

                    is_stopping = optimizer.trigger_stopping(engine, msg, self.verbose)
                    if is_stopping:
                        break
                    else:
                        self._no_improvement_count = 0

                if incremental:
                    break

                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) "
                        "reached and the optimization hasn't converged yet."
                        % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")

        if early_stopping:
            # restore best weights
            engine.params[...] = self._best_params

    def _diverged(self, engine, early_stopping, validation):
        """The loss of a batch was NaN or infinite: stop.  With early stopping
        the best weights so far are restored (as scikit-learn ends up doing);
        otherwise the fit fails."""
        self.loss_ = np.nan
        self.loss_curve_.append(np.nan)
        if not early_stopping:
            raise ValueError(
                f"{_NONFINITE_MSG} The training loss became non-finite at iteration "
                f"{self.n_iter_}; scale the features or lower learning_rate_init.")
        self.validation_scores_.append(np.nan)
        warnings.warn(
            f"The training loss became non-finite at iteration {self.n_iter_}; training "
            f"stopped and the weights with the best validation score were restored. "
            f"Scale the features or lower learning_rate_init.", ConvergenceWarning)

    def _update_no_improvement_count(self, early_stopping, engine, validation):
        if early_stopping:
            # compute validation score (can be NaN), use that for stopping
            X, rows, y_val, sw_val = validation
            val_score = self._score_rows(engine, X, rows, y_val, sw_val)

            self.validation_scores_.append(val_score)

            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            # update best parameters
            # use validation_scores_, not loss_curve_
            # let's hope no-one overloads .score with mse
            last_valid_score = self.validation_scores_[-1]

            if last_valid_score < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0

            if last_valid_score > self.best_validation_score_:
                self.best_validation_score_ = last_valid_score
                self._best_params = engine.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _score_rows(self, engine, X, rows, y, sample_weight):
        """Validation score of the rows `rows` of X (no copy of X)."""
        y_pred = self._output_to_prediction(engine.forward(X, rows))
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return float(self._score_function(y, y_pred, sample_weight=sample_weight))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            The input data.  float32 data trains in float32.

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    def _check_targets(self, y):
        pass

    # -- prediction -------------------------------------------------------------

    def _forward_pass_fast(self, X, check_input=True):
        """Output activations of the network for X, in the network's dtype."""
        out = self._lean_forward(X)
        if out is not None:
            return out
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        self._sync_engine()
        engine = self._engine
        if sp.issparse(X):
            X = _as_csr32(X.astype(engine.dtype))
        else:
            X = np.asarray(X, dtype=engine.dtype)
        return engine.forward(X)

    def _lean_forward(self, X):
        """The short path for a float ndarray of the network's dtype and a
        model fitted without feature names: no scikit-learn validation (the
        engine's shape checks apply, and the finiteness of X is checked on
        the first layer's output).  None when it does not apply or X is not
        finite, so that the full validation runs and reports the problem."""
        d = self.__dict__
        engine = d.get("_engine")
        if engine is None or "feature_names_in_" in d:
            return None
        coefs, intercepts = d.get("coefs_"), d.get("intercepts_")
        if type(coefs) is not list or type(intercepts) is not list:
            return None
        return engine.lean_forward(X, coefs, intercepts)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- persistence ------------------------------------------------------------

    def __getstate__(self):
        # coefs_/intercepts_ are views into the engine's parameter buffer,
        # which the engine pickles once; they are re-created on load
        self._sync_engine()
        state = super().__getstate__()
        if "_engine" in state:
            state = dict(state)
            for name in ("coefs_", "intercepts_", "_views"):
                state.pop(name, None)
            if not self.early_stopping:
                # only early stopping reads the best weights (as a warm start
                # would); without it they are dead weight in the file
                state.pop("_best_params", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        engine = self.__dict__.get("_engine")
        if engine is not None:
            self._bind_views(engine)


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    """Multi-layer Perceptron classifier, trained by fastact's compiled engine.

    This model optimizes the log-loss function using LBFGS or stochastic
    gradient descent, exactly as :class:`sklearn.neural_network.MLPClassifier`
    does, with the whole mini-batch step in C.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape(n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith
        hidden layer.  A network whose fit would need more memory than the
        machine has is refused with MemoryError before anything is allocated.

    activation : str, tuple, Activation or list, default='relu'
        Activation function for the hidden layers: the name of any activation
        of the fastact table (``fastact.ACTIVATIONS``: 'identity', 'logistic',
        'tanh', 'relu', 'leaky_relu', 'elu', 'gelu', 'swish', 'maxout'...), a
        ``(name, params)`` tuple such as ``("leaky_relu", {"alpha": 0.1})``,
        an object from :func:`fastact.activation`, or a list of these with
        one entry per hidden layer.  'step' has no gradient and is refused.
        For maxout, a layer size is the number of outputs; the layer computes
        ``pieces`` times as many pre-activations.  prelu's alpha is fixed.

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The solver for weight optimization.

        - 'lbfgs' is an optimizer in the family of quasi-Newton methods
          (scipy's L-BFGS-B; loss and gradient computed by compiled code).
        - 'sgd' refers to stochastic gradient descent.
        - 'adam' refers to a stochastic gradient-based optimizer proposed
          by Kingma, Diederik, and Jimmy Ba.

    alpha : float, default=0.0001
        Strength of the L2 regularization term. The L2 regularization term
        is divided by the sample size when added to the loss.

    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers.
        If the solver is 'lbfgs', the classifier will not use minibatch.
        When set to "auto", `batch_size=min(200, n_samples)`.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for weight updates (solver='sgd' only).

        - 'constant' is a constant learning rate given by
          'learning_rate_init'.
        - 'invscaling' gradually decreases the learning rate at each
          time step 't' using an inverse scaling exponent of 'power_t'.
          effective_learning_rate = learning_rate_init / pow(t, power_t)
        - 'adaptive' keeps the learning rate constant to
          'learning_rate_init' as long as training loss keeps decreasing.
          Each time two consecutive epochs fail to decrease training loss by at
          least tol, or fail to increase validation score by at least tol if
          'early_stopping' is on, the current learning rate is divided by 5.

    learning_rate_init : float, default=0.001
        The initial learning rate used. Only used when solver='sgd' or 'adam'.

    power_t : float, default=0.5
        The exponent for inverse scaling learning rate (solver='sgd').

    max_iter : int, default=200
        Maximum number of iterations: epochs for the stochastic solvers,
        iterations for lbfgs.

    shuffle : bool, default=True
        Whether to shuffle samples in each iteration (solver='sgd' or 'adam').
        Only the order of the rows is shuffled; X is never copied.

    random_state : int, RandomState instance, default=None
        Determines random number generation for weights and bias
        initialization, train-test split if early stopping is used, batch
        sampling and dropout masks.
        Pass an int for reproducible results across multiple function calls.

    tol : float, default=1e-4
        Tolerance for the optimization. When the loss or score is not improving
        by at least ``tol`` for ``n_iter_no_change`` consecutive iterations,
        unless ``learning_rate`` is set to 'adaptive', convergence is
        considered to be reached and training stops.

    verbose : bool, default=False
        Whether to print progress messages to stdout.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous
        call to fit as initialization, otherwise, just erase the
        previous solution.

    momentum : float, default=0.9
        Momentum for gradient descent update (solver='sgd').

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (solver='sgd' and momentum > 0).

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it will automatically set
        aside ``validation_fraction`` of training data as validation and
        terminate training when validation score is not improving by at least
        ``tol`` for ``n_iter_no_change`` consecutive epochs. The split is
        stratified, except in a multilabel setting.
        Only effective when solver='sgd' or 'adam'.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping. Only used if early_stopping is True.

    beta_1 : float, default=0.9
        Exponential decay rate for estimates of first moment vector in adam.

    beta_2 : float, default=0.999
        Exponential decay rate for estimates of second moment vector in adam.

    epsilon : float, default=1e-8
        Value for numerical stability in adam.

    n_iter_no_change : int, default=10
        Maximum number of epochs to not meet ``tol`` improvement
        (solver='sgd' or 'adam').

    max_fun : int, default=15000
        Only used when solver='lbfgs'. Maximum number of loss function calls.

    dropout : float or array-like of float, default=0.0
        Inverted-dropout rate in [0, 1) of the hidden layers' outputs during
        training (one rate, or one per hidden layer); off at prediction time.
        Requires a stochastic solver.

    progress : callable, default=None
        Called as ``progress(iteration, loss)`` after every epoch (stochastic
        solvers) or L-BFGS iteration, e.g. to drive a progress bar.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.

    loss_ : float
        The current loss computed with the loss function.

    best_loss_ : float or None
        The minimum loss reached by the solver throughout fitting.
        If `early_stopping=True`, this attribute is set to `None`.

    loss_curve_ : list of shape (`n_iter_`,)
        The ith element in the list represents the loss at the ith iteration.

    validation_scores_ : list of shape (`n_iter_`,) or None
        The accuracy on the held-out validation set at each iteration, if
        `early_stopping=True`, else None.

    best_validation_score_ : float or None
        The best validation accuracy, if `early_stopping=True`, else None.

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (n_layers - 1,)
        The ith element in the list represents the weight matrix corresponding
        to layer i.  Views into one contiguous parameter buffer.

    intercepts_ : list of shape (n_layers - 1,)
        The ith element in the list represents the bias vector corresponding to
        layer i + 1.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    n_iter_ : int
        The number of iterations the solver has run.

    n_layers_ : int
        Number of layers.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function.

    See Also
    --------
    MLPRegressor : Multi-layer Perceptron regressor.
    sklearn.neural_network.MLPClassifier : The reference implementation.

    Examples
    --------
    >>> from fastact import MLPClassifier
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=100, random_state=1)
    >>> clf = MLPClassifier(random_state=1, max_iter=300).fit(X, y)
    >>> clf.predict(X[:5]).shape
    (5,)
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        progress=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss="log_loss",
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            progress=progress,
        )

    def _out_activation(self):
        # softmax for multiclass, logistic for binary and multilabel
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _engine_loss(self):
        return "softmax" if self.out_activation_ == "softmax" else "logistic"

    _score_function = staticmethod(accuracy_score)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        # incremental warm_start classes_ def  action
        #    0            0         0        define classes_
        #    0            1         0        define classes_
        #    0            0         1        redefine classes_
        #    0            1         1        check compat warm_start
        #    1            1         1        check compat warm_start
        #    1            0         1        check compat last fit
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = fit_label_binarizer(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )

        # This downcast to bool is to prevent upcasting when working with
        # float32 data
        y = binarize_labels(self._label_binarizer, y)
        return X, y

    def _output_to_prediction(self, y_pred):
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if self._label_binarizer.y_type_ == "multiclass":
            return self.classes_.take(y_pred.argmax(axis=1), mode="clip")
        return self._label_binarizer.inverse_transform(y_pred)

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        out = self._lean_forward(X)
        if out is None:
            check_is_fitted(self)
            out = self._forward_pass_fast(X)
        return self._output_to_prediction(out)

    def _predict(self, X, check_input=True):
        """Private predict method with optional input validation"""
        return self._output_to_prediction(self._forward_pass_fast(X, check_input=check_input))

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit.
            Can be obtained via `np.unique(y_all)`, where y_all is the
            target vector of the entire dataset.
            This argument is required for the first call to partial_fit
            and can be omitted in the subsequent calls.
            Note that y doesn't need to contain all labels in `classes`.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        # classes_ may be set below: a failed call restores the estimator
        snapshot = dict(self.__dict__)
        try:
            if _check_partial_fit_first_call(self, classes):
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)
            return self._fit(X, y, sample_weight=sample_weight, incremental=True)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise

    def predict_log_proba(self, X):
        """Return the log of probability estimates.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The predicted log-probability of the sample for each class
            in the model, where classes are ordered as they are in
            `self.classes_`. Equivalent to `log(predict_proba(X))`.
        """
        y_prob = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of the sample for each class in the
            model, where classes are ordered as they are in `self.classes_`.
        """
        y_pred = self._lean_forward(X)
        if y_pred is None:
            check_is_fitted(self)
            y_pred = self._forward_pass_fast(X)

        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()

        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        else:
            return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    """Multi-layer Perceptron regressor, trained by fastact's compiled engine.

    This model optimizes the squared error (or the Poisson deviance) using
    LBFGS or stochastic gradient descent, exactly as
    :class:`sklearn.neural_network.MLPRegressor` does, with the whole
    mini-batch step in C.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss function to use when training the weights. Note that the
        "squared error" and "poisson" losses actually implement
        "half squares error" and "half poisson deviance" to simplify the
        computation of the gradient. Furthermore, the "poisson" loss internally
        uses a log-link (exponential as the output activation function) and
        requires ``y >= 0``.

    hidden_layer_sizes : array-like of shape(n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith
        hidden layer.  A network whose fit would need more memory than the
        machine has is refused with MemoryError before anything is allocated.

    activation : str, tuple, Activation or list, default='relu'
        Activation of the hidden layers; see :class:`MLPClassifier`.

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The solver for weight optimization.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, divided by the sample size
        when added to the loss.

    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers.
        When set to "auto", `batch_size=min(200, n_samples)`.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for weight updates (solver='sgd').

    learning_rate_init : float, default=0.001
        The initial learning rate used (solver='sgd' or 'adam').

    power_t : float, default=0.5
        The exponent for inverse scaling learning rate (solver='sgd').

    max_iter : int, default=200
        Maximum number of iterations (epochs for the stochastic solvers).

    shuffle : bool, default=True
        Whether to shuffle samples in each iteration.

    random_state : int, RandomState instance, default=None
        Determines random number generation for weights and bias
        initialization, train-test split if early stopping is used, batch
        sampling and dropout masks.

    tol : float, default=1e-4
        Tolerance for the optimization.

    verbose : bool, default=False
        Whether to print progress messages to stdout.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous call to fit as
        initialization.

    momentum : float, default=0.9
        Momentum for gradient descent update (solver='sgd').

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum.

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when the
        validation R2 score is not improving.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping.

    beta_1 : float, default=0.9
        Exponential decay rate for estimates of first moment vector in adam.

    beta_2 : float, default=0.999
        Exponential decay rate for estimates of second moment vector in adam.

    epsilon : float, default=1e-8
        Value for numerical stability in adam.

    n_iter_no_change : int, default=10
        Maximum number of epochs to not meet ``tol`` improvement.

    max_fun : int, default=15000
        Only used when solver='lbfgs'. Maximum number of function calls.

    dropout : float or array-like of float, default=0.0
        Inverted-dropout rate in [0, 1) of the hidden layers during training.

    progress : callable, default=None
        Called as ``progress(iteration, loss)`` after every epoch or L-BFGS
        iteration.

    Attributes
    ----------
    loss_ : float
        The current loss computed with the loss function.

    best_loss_ : float
        The minimum loss reached by the solver throughout fitting.

    loss_curve_ : list of shape (`n_iter_`,)
        Loss value evaluated at the end of each training step.

    validation_scores_ : list of shape (`n_iter_`,) or None
        The R2 score on the validation set at each iteration, if
        `early_stopping=True`.

    best_validation_score_ : float or None
        The best validation R2 score, if `early_stopping=True`.

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (n_layers - 1,)
        The weight matrices; views into one contiguous parameter buffer.

    intercepts_ : list of shape (n_layers - 1,)
        The bias vectors.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`.

    n_iter_ : int
        The number of iterations the solver has run.

    n_layers_ : int
        Number of layers.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function.

    See Also
    --------
    MLPClassifier : Multi-layer Perceptron classifier.
    sklearn.neural_network.MLPRegressor : The reference implementation.

    Examples
    --------
    >>> from fastact import MLPRegressor
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(n_samples=200, n_features=20, random_state=1)
    >>> regr = MLPRegressor(random_state=1, max_iter=2000, tol=0.1).fit(X, y)
    >>> regr.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        progress=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            progress=progress,
        )

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _engine_loss(self):
        return "poisson" if self.loss == "poisson" else "squared_error"

    _score_function = staticmethod(r2_score)

    def _check_targets(self, y):
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "the Poisson loss (it models counts or rates >= 0).")

    def _output_to_prediction(self, y_pred):
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples, n_outputs)
            The predicted values.
        """
        out = self._lean_forward(X)
        if out is None:
            check_is_fitted(self)
            out = self._forward_pass_fast(X)
        return self._output_to_prediction(out)

    def _predict(self, X, check_input=True):
        """Private predict method with optional input validation"""
        return self._output_to_prediction(self._forward_pass_fast(X, check_input=check_input))

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : ndarray of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
