"""Pictures for people: training curves, a confusion matrix, the digits the model gets wrong.

matplotlib is an optional extra (`pip install 'vit-edge[plots]'`); without it nothing is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .device.fileio import atomic_write


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    _pyplot().close(fig)
    return path


def training_curves(metrics: dict[str, Any], path: Path) -> Path:
    """Loss and validation accuracy per epoch; without a validation split, loss and learning rate."""
    plt = _pyplot()
    history = metrics["history"]
    epochs = [r["epoch"] for r in history]
    validated = history[0]["val_accuracy"] is not None
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
    loss_ax.plot(epochs, [r["train_loss"] for r in history], label="train (smoothed labels)")
    if validated:
        loss_ax.plot(epochs, [r["val_loss"] for r in history], label="validation")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    loss_ax.legend()
    if validated:
        _accuracy_panel(acc_ax, epochs, [100 * r["val_accuracy"] for r in history])
    else:
        acc_ax.plot(epochs, [r["lr"] for r in history], color="tab:orange")
        acc_ax.set(xlabel="epoch", ylabel="learning rate", title="learning rate (no validation split)")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(_integer_ticks())
    return _save(fig, path)


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _accuracy_panel(ax: Any, epochs: list[int], accuracy: list[float]) -> None:
    ax.plot(epochs, accuracy, color="tab:green")
    ax.set(xlabel="epoch", ylabel="%", title=f"validation accuracy (best {max(accuracy):.2f}%)")
    # a short run's 27% must show as clearly as a long run's 99.5%: zoom to the data, not to 90-100%
    low = min(accuracy)
    ax.set_ylim(max(0.0, low - 0.1 * (100 - low) - 0.05), 100)
    ax.grid(alpha=0.3)


def confusion_matrix(confusion: list[list[int]], path: Path) -> Path:
    plt = _pyplot()
    c = np.asarray(confusion)
    off = c.copy()
    np.fill_diagonal(off, 0)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.imshow(off, cmap="Reds")
    for (i, j), n in np.ndenumerate(c):
        if n:
            ax.text(
                j, i, str(n), ha="center", va="center", fontsize=7, color="black" if i != j else "tab:green"
            )
    ax.set(
        xticks=range(10),
        yticks=range(10),
        xlabel="predicted",
        ylabel="true",
        title=f"test confusion ({int(off.sum())} errors of {int(c.sum())})",
    )
    return _save(fig, path)


def mistakes_grid(
    images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, path: Path, limit: int = 60
) -> Path:
    plt = _pyplot()
    wrong = np.nonzero(predictions != labels)[0][:limit]
    cols = 10
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 1.05), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong, strict=False):
        ax.imshow(images[i], cmap="gray")
        ax.set_title(f"{labels[i]}→{predictions[i]}", fontsize=8, color="tab:red")
    fig.suptitle("test digits the model gets wrong (true→predicted)", fontsize=9)
    return _save(fig, path)


def preprocessing_before_after(paths: list[Path], path: Path, per_row: int = 8) -> Path:
    """Each user image above the 28x28 array the model sees, `per_row` images to a row."""
    from PIL import Image

    from .device.preprocess import open_image, preprocess

    plt = _pyplot()
    cols = min(per_row, len(paths))
    bands = -(-len(paths) // cols)
    fig, axes = plt.subplots(2 * bands, cols, figsize=(2.1 * cols, 4.2 * bands), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, image_path in enumerate(paths):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        before = open_image(image_path).convert("RGBA")
        checker = Image.new("RGBA", before.size, (200, 200, 200, 255))  # show transparency as grey
        top.imshow(Image.alpha_composite(checker, before))
        top.set_title(Path(image_path).name, fontsize=7)
        bottom.imshow(preprocess(image_path), cmap="gray", vmin=0, vmax=1)
        bottom.set_title("28x28 model input", fontsize=7)
    return _save(fig, path)
