"""Training fastact estimators on Dask collections (optional).

Needs the ``dask`` extra: ``pip install 'fastact[dask]'`` (``import fastact``
never imports dask; only ``import fastact.dask`` does).

Inference needs nothing from here: a fitted ``fastact.MLPClassifier`` or
``fastact.MLPRegressor`` works inside ``dask_ml.wrappers.ParallelPostFit``,
which predicts chunk by chunk on the workers.  For training on data larger
than memory, ``dask_ml.wrappers.Incremental`` makes one pass of
``partial_fit`` over the chunks; :func:`partial_fit_epochs` makes several,
shuffling the order of the chunks in every epoch.
"""

import copy
import numbers
import uuid

import numpy as np
from sklearn.base import is_classifier

try:
    import dask
    import dask.array as da
    from dask.delayed import delayed
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "fastact.dask needs dask, which is an optional dependency of fastact; "
        "install it with: pip install 'fastact[dask]'"
    ) from exc

__all__ = ["partial_fit_epochs"]


def _is_dask_frame(obj):
    # dask DataFrame / Series (legacy and dask-expr) without importing
    # dask.dataframe, which needs pandas
    return hasattr(obj, "npartitions") and hasattr(obj, "to_delayed")


def _blocks(obj, name, n_rows_chunks=None):
    """The row blocks of a dask array / DataFrame / Series as a list of
    Delayed objects.  A NumPy array (or list) is cut like `n_rows_chunks`."""
    if isinstance(obj, da.Array):
        if obj.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D, got {obj.ndim}-D")
        if obj.ndim == 2 and len(obj.chunks[1]) > 1:
            obj = obj.rechunk({1: -1})  # one block per row range
        return list(obj.to_delayed().ravel()), obj.chunks[0]
    if _is_dask_frame(obj):
        return list(obj.to_delayed()), None
    if n_rows_chunks is None or any(np.isnan(c) for c in n_rows_chunks):
        raise TypeError(
            f"{name} must be a dask array, DataFrame or Series (a NumPy {name} "
            "is accepted only when X is a dask array with known chunk sizes)")
    arr = np.asarray(obj)
    return _blocks(da.from_array(arr, chunks=(n_rows_chunks,) + arr.shape[1:]), name)


def _aligned_blocks(obj, name, row_chunks, n_blocks):
    """The blocks of y / sample_weight, cut like the rows of X."""
    if isinstance(obj, da.Array) and row_chunks is not None and obj.chunks[0] != row_chunks:
        n_x, n_obj = sum(row_chunks), sum(obj.chunks[0])
        if np.isnan(n_x) or np.isnan(n_obj):
            raise ValueError(f"X and {name} have unknown chunk sizes and cannot be "
                             "aligned; call compute_chunk_sizes() on them first")
        if n_x != n_obj:
            raise ValueError(f"X has {n_x} rows but {name} has {n_obj}")
        obj = obj.rechunk({0: row_chunks})
    elif (not isinstance(obj, da.Array) and not _is_dask_frame(obj)
            and row_chunks is not None and len(obj) != sum(row_chunks)):
        raise ValueError(f"X has {sum(row_chunks)} rows but {name} has {len(obj)}")
    blocks, _ = _blocks(obj, name, row_chunks)
    if len(blocks) != n_blocks:
        raise ValueError(f"X has {n_blocks} row chunks but {name} has {len(blocks)}")
    return blocks


def _partial_fit_block(model, X, y, sample_weight, fit_params):
    # a task never mutates its input: the model that comes in may be the
    # previous task's result held in a worker's memory, and a retried or
    # recomputed task must see it unchanged
    model = copy.deepcopy(model)
    if sample_weight is not None:
        fit_params = dict(fit_params, sample_weight=sample_weight)
    model.partial_fit(X, y, **fit_params)
    return model


def _block_unique(y):
    return np.unique(np.asarray(y))


def partial_fit_epochs(estimator, X, y, epochs=1, classes=None, *, sample_weight=None,
                       shuffle_blocks=True, random_state=None, compute=True, **fit_params):
    """Train `estimator` by `partial_fit` over the chunks of a Dask collection,
    `epochs` times.

    One epoch calls ``partial_fit`` once per row chunk of `X`, in a random order
    of the chunks (a fresh order every epoch, from `random_state`); each call
    runs the estimator's own mini-batch loop over that chunk (with
    ``shuffle=True`` the rows within a chunk are shuffled too).  The calls
    form one chain of Dask tasks, so the whole training runs as a single
    computation on the current scheduler (a ``dask.distributed`` cluster when
    a ``Client`` is active): the model, which is small, travels to the worker
    that holds each chunk, the data does not move.

    Parameters
    ----------
    estimator : object with ``partial_fit``
        Typically ``fastact.MLPClassifier`` or ``fastact.MLPRegressor``
        (``solver='adam'`` or ``'sgd'``).  If it is already fitted, training
        continues from its current weights and optimizer state.  It is not
        modified: the trained model is returned.
    X : dask array of shape (n_samples, n_features), or dask DataFrame
        The row chunks (partitions) are the units of streaming; chunks along
        the columns are merged.
    y : dask array, dask Series/DataFrame, or ndarray
        Targets, chunked like the rows of `X` (an ndarray or a dask array with
        other chunks is re-chunked to match a dask array `X`).
    epochs : int, default=1
        Number of passes over all the chunks.
    classes : array-like, default=None
        All the class labels (classifiers).  When None and the estimator is
        an unfitted classifier, they are computed from `y` first (one extra
        pass over `y`).
    sample_weight : dask array or ndarray, default=None
        Per-row weights, chunked like `y`; passed to ``partial_fit``.
    shuffle_blocks : bool, default=True
        Visit the chunks in a random order in every epoch; otherwise in order.
    random_state : int, numpy Generator or None, default=None
        Seed of the chunk orders (the estimator's own ``random_state``
        governs its weights and its shuffling inside a chunk).
    compute : bool, default=True
        Run the computation and return the trained estimator; with False,
        return a ``dask.delayed.Delayed`` that computes it.
    **fit_params
        Other keyword arguments of ``partial_fit``.

    Returns
    -------
    estimator or Delayed
        A trained copy of `estimator`.

    Notes
    -----
    The number of optimizer steps per epoch is the sum over the chunks of
    ``ceil(chunk_rows / batch_size)``: with chunk sizes that are multiples of
    the batch size, an epoch takes as many steps as an epoch of ``fit`` on
    the data in memory, and training to the same number of epochs reaches the
    same accuracy.  The estimator's convergence checks (``tol``,
    ``n_iter_no_change``, ``early_stopping``) do not apply to ``partial_fit``:
    the number of epochs is the stopping rule.

    Examples
    --------
    >>> import dask.array as da
    >>> from fastact import MLPClassifier
    >>> from fastact.dask import partial_fit_epochs
    >>> X = da.random.random((10_000, 20), chunks=(1_000, 20))
    >>> y = (X[:, 0] > 0.5).astype(int)
    >>> clf = partial_fit_epochs(MLPClassifier(random_state=0), X, y,
    ...                          epochs=5, classes=[0, 1], random_state=0)
    >>> clf.predict(X[:5].compute()).shape
    (5,)
    """
    if (not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool)
            or epochs < 1):
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not hasattr(estimator, "partial_fit"):
        raise TypeError(f"{type(estimator).__name__} has no partial_fit method")
    if not (isinstance(X, da.Array) or _is_dask_frame(X)):
        raise TypeError(
            f"X must be a dask array or dask DataFrame, got {type(X).__name__}; "
            "for data in memory, call the estimator's fit or partial_fit")

    x_blocks, row_chunks = _blocks(X, "X")
    y_blocks = _aligned_blocks(y, "y", row_chunks, len(x_blocks))
    if sample_weight is None:
        w_blocks = [None] * len(x_blocks)
    else:
        w_blocks = _aligned_blocks(sample_weight, "sample_weight", row_chunks, len(x_blocks))

    if classes is None and is_classifier(estimator) and not hasattr(estimator, "classes_"):
        uniques = dask.compute(*[delayed(_block_unique)(b) for b in y_blocks])
        classes = np.unique(np.concatenate(uniques))
    if classes is not None:
        fit_params = dict(fit_params, classes=np.asarray(classes))

    rng = np.random.default_rng(random_state)
    token = uuid.uuid4().hex
    model = estimator  # the first task copies it: `estimator` stays as it is
    n = len(x_blocks)
    for epoch in range(epochs):
        order = rng.permutation(n) if shuffle_blocks else range(n)
        for step, i in enumerate(order):
            model = delayed(_partial_fit_block, pure=False)(
                model, x_blocks[i], y_blocks[i], w_blocks[i], fit_params,
                dask_key_name=f"partial_fit_epochs-{token}-{epoch}-{step}")
    if not compute:
        return model
    (trained,) = dask.compute(model)
    return trained
