"""The `fastact` command, end to end in subprocesses on small data."""
import os
import subprocess
import sys

import numpy as np
import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, cwd, timeout=240):
    """python -m fastact ARGS in cwd; the package imported as the tests see it."""
    import fastact

    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(fastact.__file__))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-m", "fastact", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def is_png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == PNG_MAGIC


def write_csv(path, header, rows):
    with open(path, "w") as fh:
        fh.write(",".join(header) + "\n")
        for row in rows:
            fh.write(",".join(str(v) for v in row) + "\n")


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    from sklearn.datasets import load_iris

    data = load_iris()
    d = tmp_path_factory.mktemp("cli")
    header = [f"f{i}" for i in range(4)] + ["species"]
    rows = [list(x) + [data.target_names[t]] for x, t in zip(data.data, data.target)]
    path = d / "iris.csv"
    write_csv(path, header, rows)
    return path


def test_help_on_every_subcommand(tmp_path):
    for sub in ([], ["demo"], ["plot"], ["bench"], ["train"], ["predict"]):
        r = run(*sub, "--help", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "usage: fastact" in r.stdout


def test_demo_compares_with_sklearn_and_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    r = run("demo", "--epochs", "5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "fastact.MLPClassifier" in r.stdout and "sklearn MLPClassifier" in r.stdout
    assert "faster" in r.stdout
    png = tmp_path / "fastact_demo_loss.png"
    assert png.exists() and is_png(png)


def test_no_subcommand_runs_the_demo(tmp_path):
    r = run("--epochs", "2", "--no-sklearn", "--png", "", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "fastact.MLPClassifier" in r.stdout


def test_plot_activations(tmp_path):
    pytest.importorskip("matplotlib")
    r = run("plot", "--out", str(tmp_path), "tanh", "swish", "prelu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in ("tanh", "swish", "prelu"):
        assert is_png(tmp_path / f"{name}.png")


def test_plot_all_activations(tmp_path):
    pytest.importorskip("matplotlib")
    r = run("plot", "--out", str(tmp_path / "all"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "all").glob("*.png"))) >= 18


def test_train_predict_match_python_api(tmp_path, iris_csv):
    import joblib

    model = tmp_path / "model.joblib"
    r = run("train", str(iris_csv), "--target", "species", "--hidden", "20,10",
            "--activation", "tanh", "--dropout", "0.1", "--max-iter", "50",
            "--out", str(model), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert model.exists()
    r = run("predict", str(model), str(iris_csv), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    est = joblib.load(model)["estimator"]
    X = np.loadtxt(iris_csv, delimiter=",", skiprows=1, usecols=range(4), dtype=np.float32)
    assert lines == [str(v) for v in est.predict(X)]
    assert len(lines) == 150

    out = tmp_path / "proba.csv"
    r = run("predict", str(model), str(iris_csv), "--proba", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = np.loadtxt(out, delimiter=",", skiprows=1)
    np.testing.assert_allclose(got, est.predict_proba(X), rtol=1e-5, atol=1e-6)

    if pytest.importorskip("matplotlib"):
        r = run("plot", "--model", str(model), "--out", str(tmp_path), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert is_png(tmp_path / "model_curves.png")


def test_train_regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ [1.5, -2.0, 0.5] + 0.1 * rng.standard_normal(200)
    path = tmp_path / "reg.csv"
    write_csv(path, ["a", "b", "c", "y"], np.column_stack([X, y]))
    model = tmp_path / "reg.joblib"
    r = run("train", str(path), "--target", "y", "--max-iter", "100", "--out", str(model),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "regress" in r.stdout
    r = run("predict", str(model), str(path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 200


@pytest.mark.parametrize("case", ["missing-file", "unknown-column", "non-numeric",
                                  "malformed", "empty", "not-a-model", "missing-model",
                                  "unknown-activation", "bad-hidden"])
def test_errors_exit_2_with_one_line(tmp_path, iris_csv, case):
    bad = tmp_path / "bad.csv"
    if case == "missing-file":
        args = ["train", str(tmp_path / "nope.csv"), "--target", "y", "--out", "m"]
    elif case == "unknown-column":
        args = ["train", str(iris_csv), "--target", "colour", "--out", "m"]
    elif case == "non-numeric":
        write_csv(bad, ["a", "y"], [["x", 1], ["2", 0]])
        args = ["train", str(bad), "--target", "y", "--out", "m"]
    elif case == "malformed":
        bad.write_text("a,b,y\n1,2\n3,4,5\n")
        args = ["train", str(bad), "--target", "y", "--out", "m"]
    elif case == "empty":
        bad.write_text("")
        args = ["train", str(bad), "--target", "y", "--out", "m"]
    elif case == "not-a-model":
        args = ["predict", str(iris_csv), str(iris_csv)]
    elif case == "missing-model":
        args = ["predict", str(tmp_path / "none.joblib"), str(iris_csv)]
    elif case == "unknown-activation":
        args = ["train", str(iris_csv), "--target", "species", "--activation", "tanhh",
                "--max-iter", "2", "--out", str(tmp_path / "m")]
    else:
        args = ["train", str(iris_csv), "--target", "species", "--hidden", "10,x",
                "--out", "m"]
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0], r.stderr


def test_bench_prints_the_ratio_table_and_writes_the_chart(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    r = run("bench", "--quick", "--only", "fwd", "--activations", "relu,tanh",
            "--threads", "1", "--png", str(png), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| relu |" in r.stdout and "| tanh |" in r.stdout
    assert "| logistic |" not in r.stdout          # only what was asked for
    assert is_png(png)


@pytest.mark.parametrize("args", [["--only", "fwd,nope"], ["--threads", "0"],
                                  ["--activations", "tanhh"], ["--only", "bwd", "--png", "x.png"]])
def test_bench_bad_options_exit_2_before_running(tmp_path, args):
    r = run("bench", "--quick", *args, cwd=tmp_path, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
