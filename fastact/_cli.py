"""The ``fastact`` command: demo, plot, bench, train, predict.

Every user error (missing file, malformed CSV, unknown column, a model file
that is not fastact's, a missing optional dependency) prints one line to
stderr and exits with status 2, never a traceback.
"""

import argparse
import csv
import os
import sys
import time

import numpy as np

EXIT_USAGE = 2
MODEL_FORMAT = "fastact-model-1"


class CLIError(Exception):
    """A user error: reported as one line on stderr, exit status 2."""


# ---------------------------------------------------------------------------
# helpers

def _need_matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CLIError("plotting needs matplotlib: pip install 'fastact[plot]'") from None
    return plt


def _read_csv(path):
    """(header, rows as lists of str) of a CSV file with a header line."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read: {exc}") from None
    except csv.Error as exc:
        raise CLIError(f"{path}: malformed CSV: {exc}") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise CLIError(f"{path}: empty file (a header line and data rows are expected)")
    header, data = [h.strip() for h in rows[0]], rows[1:]
    if not data:
        raise CLIError(f"{path}: no data rows after the header")
    for i, row in enumerate(data, start=2):
        if len(row) != len(header):
            raise CLIError(f"{path}: line {i} has {len(row)} fields, the header has "
                           f"{len(header)}")
    return header, data


def _numeric_columns(path, header, data, names):
    idx = []
    for name in names:
        if name not in header:
            raise CLIError(f"{path}: no column {name!r} (columns: {', '.join(header)})")
        idx.append(header.index(name))
    X = np.empty((len(data), len(idx)), dtype=np.float64)
    for i, row in enumerate(data):
        for j, c in enumerate(idx):
            try:
                X[i, j] = float(row[c])
            except ValueError:
                raise CLIError(f"{path}: line {i + 2}, column {header[c]!r}: "
                               f"{row[c]!r} is not a number") from None
    if not np.all(np.isfinite(X)):
        raise CLIError(f"{path}: features must be finite numbers (found NaN or inf)")
    return X


def _parse_hidden(text):
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise CLIError(f"--hidden must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise CLIError(f"--hidden must list positive layer sizes, got {text!r}")
    return sizes


def _fit(est, X, y, desc):
    """fit with a progress bar on stderr; returns the fit time in seconds."""
    from fastact import progress_bar

    with progress_bar(est, desc=desc):
        t0 = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - t0


# ---------------------------------------------------------------------------
# subcommands

def cmd_demo(args):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLP

    from fastact import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    settings = dict(hidden_layer_sizes=(100,), activation="relu", solver="adam",
                    learning_rate_init=1e-3, batch_size=200, max_iter=args.epochs,
                    tol=0.0, n_iter_no_change=args.epochs + 1, random_state=0)
    print(f"digits: {len(Xtr)} training rows, {len(Xte)} test rows, 64 features, "
          f"10 classes; MLP (100,) relu adam, {args.epochs} epochs\n")
    from threadpoolctl import threadpool_limits
    import warnings
    from sklearn.exceptions import ConvergenceWarning

    results = []
    with threadpool_limits(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**settings)
        t_ours = _fit(ours, Xtr, ytr, "fastact")
        results.append(("fastact.MLPClassifier", t_ours, ours.score(Xte, yte), ours))
        if not args.no_sklearn:
            theirs = SkMLP(**settings)
            print("scikit-learn ... ", end="", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            theirs.fit(Xtr, ytr)
            t_theirs = time.perf_counter() - t0
            print("done", file=sys.stderr)
            results.append(("sklearn MLPClassifier", t_theirs, theirs.score(Xte, yte), theirs))

    print(f"| {'model':<24} | fit time | test accuracy |")
    print(f"|{'-' * 26}|---------:|--------------:|")
    for name, t, acc, _ in results:
        print(f"| {name:<24} | {t:7.3f}s | {acc:13.4f} |")
    if len(results) == 2:
        print(f"\nfastact fits {results[1][1] / results[0][1]:.1f}x faster "
              f"({args.threads} thread{'s' if args.threads > 1 else ''}).")
    if args.png:
        try:
            plt = _need_matplotlib()
        except CLIError as exc:
            print(f"(no loss-curve plot: {exc})", file=sys.stderr)
            return 0
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, _, _, est in results:
            ax.plot(np.arange(1, len(est.loss_curve_) + 1), est.loss_curve_, label=name)
        ax.set(xlabel="epoch", ylabel="training loss", yscale="log",
               title="digits, MLP (100,), adam")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png, dpi=100)
        print(f"loss curves written to {args.png}")
    return 0


def cmd_plot(args):
    plt = _need_matplotlib()
    import fastact

    os.makedirs(args.out, exist_ok=True)
    if args.model:
        est = _load_model(args.model)["estimator"]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(est.loss_curve_, label="training loss")
        ax.set(xlabel="epoch", ylabel="loss")
        scores = getattr(est, "validation_scores_", None)
        if scores:
            ax2 = ax.twinx()
            ax2.plot(scores, color="C1", label="validation score")
            ax2.set_ylabel("validation score")
        ax.legend(loc="upper right")
        fig.tight_layout()
        path = os.path.join(args.out, "model_curves.png")
        fig.savefig(path, dpi=100)
        print(path)
        return 0
    plottable = [n for n, info in fastact.ACTIVATIONS.items()
                 if info.pattern in ("elementwise", "per_feature")]
    names = args.names or plottable
    for name in names:
        if name not in fastact.ACTIVATIONS:
            raise CLIError(f"unknown activation {name!r} (plottable: {', '.join(plottable)})")
        info = fastact.ACTIVATIONS[name]
        if info.pattern not in ("elementwise", "per_feature"):
            raise CLIError(f"{name} acts on whole rows; plottable: {', '.join(plottable)}")
        params = {"alpha": [0.25]} if info.name == "prelu" else {}
        act = fastact.activation(info.name, **params)
        x = np.linspace(-5, 5, 1001)
        grid = x[:, None] if info.name == "prelu" else x
        y = act.forward(grid.copy())
        # the slope as the backward kernel computes it: from the output y
        slope = act.backward(y, np.ones_like(y), x=grid)
        if isinstance(slope, tuple):
            slope = slope[0]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(x, y.ravel(), label=f"{info.name}(x)")
        ax.plot(x, slope.ravel(), "--", label=f"slope (from {info.slope_from})")
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.set(xlabel="x", title=info.name)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(args.out, f"{info.name}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        print(path)
    return 0


def cmd_bench(args):
    import fastact
    from fastact import _bench
    from fastact._table import unknown_name_message

    only = tuple(w.strip() for w in args.only.split(",") if w.strip())
    unknown = set(only) - {"fwd", "bwd", "fused", "train"}
    if unknown or not only:
        raise CLIError(f"--only takes fwd,bwd,fused,train; got {args.only!r}")
    try:
        threads = tuple(int(t) for t in args.threads.split(","))
    except ValueError:
        threads = ()
    if not threads or min(threads) < 1:
        raise CLIError(f"--threads takes thread counts such as 1,2; got {args.threads!r}")
    activations = None
    if args.activations:
        activations = [a.strip() for a in args.activations.split(",") if a.strip()]
        for name in activations:
            if name not in fastact.ACTIVATIONS:
                raise CLIError(f"--activations: {unknown_name_message(name)}")
    # fail before the long run, not after it
    if args.png and "fwd" not in only:
        raise CLIError("--png charts the K-fwd results: include fwd in --only")
    plt = _need_matplotlib() if args.png else None
    results = _bench.run_report(only=only, threads=threads, quick=args.quick,
                                activations=activations)
    print(_bench.markdown_report(results))
    if plt is not None:
        _bench_chart(plt, results, args.png)
        print(f"\nbar chart written to {args.png}")
    return 0


def _bench_chart(plt, results, path):
    """Fastest peer time / fastact time per activation: K-fwd, float32, the
    largest size, 1 thread (>= 1 means fastact wins)."""
    from fastact._bench import derive

    recs = [derive(r) for r in results["records"] if r.get("workload") == "fwd"
            and r.get("threads") == 1 and "32" in str(r.get("dtype"))]
    if not recs:
        raise CLIError("no K-fwd float32 results to chart (include fwd in --only)")
    n = max(r["n"] for r in recs)
    rows = [(r["activation"], r["peer_over_fa"]) for r in recs
            if r["n"] == n and r["peer_over_fa"]]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(rows)), 4))
    names, ratios = zip(*rows)
    ax.bar(names, ratios, color=["C2" if v >= 1 else "C3" for v in ratios])
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(ylabel="fastest peer time / fastact time", yscale="log",
           title=f"K-fwd float32, n={n}, 1 thread (>= 1: fastact wins)")
    ax.tick_params(axis="x", rotation=70)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _load_model(path):
    import joblib

    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise CLIError(f"{path}: not a fastact model file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise CLIError(f"{path}: not a fastact model file")
    return payload


def cmd_train(args):
    import joblib

    from fastact import MLPClassifier, MLPRegressor

    header, data = _read_csv(args.data)
    if args.target not in header:
        raise CLIError(f"{args.data}: no column {args.target!r} (columns: {', '.join(header)})")
    features = [h for h in header if h != args.target]
    if not features:
        raise CLIError(f"{args.data}: no feature columns besides the target")
    X = _numeric_columns(args.data, header, data, features)
    t = header.index(args.target)
    raw_y = [row[t].strip() for row in data]
    try:
        y_num = np.array([float(v) for v in raw_y])
    except ValueError:
        y_num = None
    task = args.task
    if task == "auto":
        integral = y_num is not None and np.all(y_num == np.round(y_num))
        task = "classify" if y_num is None or (integral and len(set(raw_y)) <= 50) \
            else "regress"
    if task == "regress":
        if y_num is None:
            raise CLIError(f"{args.data}: target {args.target!r} must be numeric to regress")
        y, cls = y_num, MLPRegressor
    else:
        y, cls = np.array(raw_y, dtype=object), MLPClassifier
        if y_num is not None and np.all(y_num == np.round(y_num)):
            y = y_num.astype(np.int64)
    import fastact
    from fastact._table import unknown_name_message

    activation = args.activation
    if activation not in fastact.ACTIVATIONS:
        raise CLIError(f"--activation: {unknown_name_message(activation)}")
    if not 0 <= args.dropout < 1:
        raise CLIError(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.max_iter < 1:
        raise CLIError(f"--max-iter must be >= 1, got {args.max_iter}")
    est = cls(hidden_layer_sizes=_parse_hidden(args.hidden), activation=activation,
              dropout=args.dropout, max_iter=args.max_iter, random_state=args.random_state)
    try:
        _fit(est, X.astype(np.float32), y, "training")
    except (ValueError, TypeError) as exc:
        raise CLIError(f"cannot train: {exc}") from None
    payload = {"format": MODEL_FORMAT, "estimator": est, "features": features,
               "target": args.target, "task": task}
    joblib.dump(payload, args.out)
    print(f"{task} model on {len(features)} features, {len(data)} rows: "
          f"training score {est.score(X.astype(np.float32), y):.4f}; saved to {args.out}")
    return 0


def cmd_predict(args):
    payload = _load_model(args.model)
    est = payload["estimator"]
    header, data = _read_csv(args.data)
    X = _numeric_columns(args.data, header, data, payload["features"]).astype(np.float32)
    if args.proba:
        if not hasattr(est, "predict_proba"):
            raise CLIError("--proba needs a classifier model")
        P = est.predict_proba(X)
        lines = [",".join(str(c) for c in est.classes_)]
        lines += [",".join(f"{p:.6g}" for p in row) for row in P]
    else:
        lines = [str(v) for v in est.predict(X)]
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


# ---------------------------------------------------------------------------

def build_parser():
    p = argparse.ArgumentParser(
        prog="fastact",
        description="fastact: fast activation kernels and scikit-learn MLPs on the CPU. "
                    "With no subcommand, runs the demo.")
    sub = p.add_subparsers(dest="command", metavar="{demo,plot,bench,train,predict}")

    d = sub.add_parser("demo", help="train on digits beside scikit-learn (default)",
                       description="Train fastact.MLPClassifier on scikit-learn's digits "
                                   "beside sklearn's MLPClassifier with the same settings; "
                                   "print fit times and test accuracies, plot loss curves.")
    d.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
    d.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    d.add_argument("--png", default="fastact_demo_loss.png",
                   help="loss-curve PNG to write ('' for none)")
    d.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn run")
    d.set_defaults(func=cmd_demo)

    pl = sub.add_parser("plot", help="PNGs of activations and slopes, or of a model's curves",
                        description="Draw each activation and its slope over [-5, 5] (the "
                                    "slope computed by the backward kernel), or with --model "
                                    "a saved model's loss and validation curves.")
    pl.add_argument("names", nargs="*", help="activations to draw (default: all)")
    pl.add_argument("--out", default=".", help="output directory (default .)")
    pl.add_argument("--model", help="a model file saved by 'fastact train'")
    pl.set_defaults(func=cmd_plot)

    b = sub.add_parser("bench", help="kernel and training benchmarks as ratio tables",
                       description="Run the workloads of BENCHMARKS.md and print ratio "
                                   "tables as markdown.")
    b.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    b.add_argument("--png", help="also write a bar chart to this PNG")
    b.add_argument("--only", default="fwd,bwd,fused,train",
                   help="workloads, comma-separated (default fwd,bwd,fused,train)")
    b.add_argument("--threads", default="1,2",
                   help="thread counts, comma-separated (default 1,2)")
    b.add_argument("--activations",
                   help="kernel workloads for these activations only, comma-separated")
    b.set_defaults(func=cmd_bench)

    t = sub.add_parser("train", help="train a model from a CSV file",
                       description="Train an MLP on a CSV file with a header line; every "
                                   "column but the target is a numeric feature.")
    t.add_argument("data", help="CSV file")
    t.add_argument("--target", required=True, help="name of the target column")
    t.add_argument("--task", choices=("auto", "classify", "regress"), default="auto",
                   help="default: classify non-numeric or integer targets")
    t.add_argument("--hidden", default="100", help="hidden layer sizes, e.g. 100,50")
    t.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    t.add_argument("--dropout", type=float, default=0.0, help="dropout rate (default 0)")
    t.add_argument("--max-iter", type=int, default=200, help="epochs (default 200)")
    t.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    t.add_argument("--out", required=True, help="model file to write (joblib)")
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("predict", help="predict a CSV file with a saved model",
                        description="One prediction per input row, on stdout or --out.")
    pr.add_argument("model", help="model file from 'fastact train'")
    pr.add_argument("data", help="CSV file holding the model's feature columns")
    pr.add_argument("--proba", action="store_true", help="class probabilities")
    pr.add_argument("--out", help="write here instead of stdout")
    pr.set_defaults(func=cmd_predict)
    return p


SUBCOMMANDS = ("demo", "plot", "bench", "train", "predict")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["demo"] + argv          # no subcommand: the demo, with its options
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"fastact {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"fastact {args.command}: interrupted", file=sys.stderr)
        return 130
