"""matplotlib, headless: imported on first use (it is the optional `report` extra), `Agg` backend."""

from __future__ import annotations

from pathlib import Path

from bertkit.core.errors import BertkitError

DPI = 110
WIDTH = 7.0  # inches; 770 px at DPI


def pyplot():
    """`matplotlib.pyplot` on the non-interactive Agg backend (no display, no GUI toolkit)."""
    try:
        import matplotlib
    except ImportError:
        raise BertkitError("the report needs matplotlib: pip install 'bertkit[report]' "
                           "(or `make install`).") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def figure(rows: int = 1, cols: int = 1, height: float = 3.6, **kw):
    """A new figure of the report's width with `rows x cols` axes."""
    plt = pyplot()
    return plt.subplots(rows, cols, figsize=(WIDTH, height), layout="constrained", **kw)


def save(fig, path: Path) -> Path:
    """Writes `fig` as PNG and frees it (figures are not garbage-collected while pyplot tracks them)."""
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    pyplot().close(fig)
    return path
