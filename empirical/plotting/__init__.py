"""Figures: matplotlib with the Agg backend (selected here only), one style, stable PNG bytes.

Each paper's figure functions live in ``empirical/plotting/<paper>.py`` and take measured data, never
recompute it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "save_figure", "STYLE"]

STYLE = Path(__file__).with_name("style.mplstyle")


def save_figure(fig: plt.Figure, path: Path | str) -> str:
    """Write a PNG at fixed dpi atomically, close the figure, return the file name."""
    import io

    from empirical.artifacts import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return f"figures/{path.name}" if path.parent.name == "figures" else str(path)


plt.style.use(str(STYLE))
