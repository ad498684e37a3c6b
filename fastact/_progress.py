"""A per-epoch progress bar for long fits.

The estimators print scikit-learn's verbose lines ("Iteration 5, loss =
0.1234") once per epoch; ``progress_bar`` turns them into a bar (tqdm when it
is installed, a plain text bar otherwise) without touching the training loop,
so it works for fastact's estimators and scikit-learn's alike.
"""

import contextlib
import re
import sys

__all__ = ["progress_bar"]

_ITERATION = re.compile(r"Iteration (\d+), loss = ([-+0-9.eEinfa]+)")


class _TextBar:
    def __init__(self, total, desc, file):
        self.total, self.desc, self.file = total, desc, file

    def update_to(self, epoch, loss):
        width = 30
        done = min(width, int(width * epoch / max(self.total, 1)))
        self.file.write(f"\r{self.desc} [{'#' * done}{'.' * (width - done)}] "
                        f"{epoch}/{self.total} loss {loss:.4f}")
        self.file.flush()

    def close(self):
        self.file.write("\n")
        self.file.flush()


class _TqdmBar:
    def __init__(self, total, desc, file):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="epoch", file=file)

    def update_to(self, epoch, loss):
        self.bar.update(epoch - self.bar.n)
        self.bar.set_postfix(loss=f"{loss:.4f}")

    def close(self):
        self.bar.close()


class _VerboseLines:
    """A stdout stand-in: feeds iteration lines to the bar, passes the rest on."""

    def __init__(self, bar, passthrough):
        self.bar, self.passthrough, self.pending = bar, passthrough, ""

    def write(self, text):
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            match = _ITERATION.match(line)
            if match:
                self.bar.update_to(int(match.group(1)), float(match.group(2)))
            elif self.passthrough is not None:
                self.passthrough.write(line + "\n")
        return len(text)

    def flush(self):
        pass


@contextlib.contextmanager
def progress_bar(estimator, desc="fit", file=None):
    """Show a per-epoch progress bar while ``estimator`` fits.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Any estimator with ``max_iter`` and scikit-learn's ``verbose`` lines.
    desc : str, default="fit"
        Label in front of the bar.
    file : file-like, default=sys.stderr
        Where the bar is drawn.

    Examples
    --------
    >>> from fastact import MLPClassifier, progress_bar
    >>> clf = MLPClassifier(max_iter=300)
    >>> with progress_bar(clf):            # doctest: +SKIP
    ...     clf.fit(X, y)
    """
    file = sys.stderr if file is None else file
    try:
        bar = _TqdmBar(estimator.max_iter, desc, file)
    except ImportError:
        bar = _TextBar(estimator.max_iter, desc, file)
    verbose = estimator.get_params()["verbose"]
    estimator.set_params(verbose=True)
    lines = _VerboseLines(bar, sys.stdout if verbose else None)
    try:
        with contextlib.redirect_stdout(lines):
            yield bar
    finally:
        estimator.set_params(verbose=verbose)
        bar.close()
