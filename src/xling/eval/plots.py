"""Plots of scores (PNG, matplotlib's headless backend): the grouped bar chart of ``xling eval``
and the studies' summaries, and the two steps every such plot shares."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xling.core.files import write_atomic
from xling.core.imports import import_optional

__all__ = ["bar_plot", "pyplot", "save_figure"]


def pyplot(feature: str = "plots") -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend.

    Raises:
        MissingDependencyError: Without matplotlib (``pip install 'xling[plot]'``).
    """
    matplotlib = import_optional("matplotlib", "plot", feature)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Writes ``fig`` as a PNG atomically (its folder created) and closes it; returns ``path``."""
    plt = pyplot()
    try:
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    finally:
        plt.close(fig)
    return path


def bar_plot(
    path: Path, groups: Mapping[str, Mapping[str, float]], ylabel: str, title: str
) -> Path:
    """Grouped bars: one group per key of ``groups``, one bar per inner key (PNG).

    Raises:
        MissingDependencyError: Without matplotlib.
    """
    plt = pyplot("bar plots")
    labels = list(groups)
    series = list(dict.fromkeys(k for values in groups.values() for k in values))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(labels) * max(len(series), 1)), 4))
    for i, name in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, [groups[label].get(name, 0.0) for label in labels], width, label=name)
    ax.set_xticks(range(len(labels)), labels)
    if len(labels) > 4:
        plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
