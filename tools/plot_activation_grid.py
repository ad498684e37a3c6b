"""Draw docs/activations.png: every elementwise activation of the table and
its slope (computed by the backward kernel), for the README.

    python tools/plot_activation_grid.py
"""
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastact  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   "docs", "activations.png")


def main():
    names = [n for n, info in fastact.ACTIVATIONS.items() if info.pattern == "elementwise"]
    cols = 5
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows), sharex=True)
    x = np.linspace(-5, 5, 801)
    for ax, name in zip(axes.flat, names):
        act = fastact.activation(name)
        y = act.forward(x.copy())
        slope = act.backward(y, np.ones_like(y), x=x)
        ax.plot(x, y, lw=1.6, label="f(x)")
        ax.plot(x, slope, "--", lw=1.2, label=f"slope (from {act.slope_from})")
        ax.axhline(0, color="0.85", lw=0.8)
        ax.axvline(0, color="0.85", lw=0.8)
        ax.set_title(name, fontsize=10)
        ax.set_ylim(-2.2, 5.2)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(OUT, dpi=70)
    print(OUT)


if __name__ == "__main__":
    main()
