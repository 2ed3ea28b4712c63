"""COMET scores through unbabel-comet, offline by default.

A model is a Hugging Face name (``Unbabel/wmt22-comet-da``, looked up in the local hub cache only
when ``local_files_only``), a checkpoint file, or a folder holding ``checkpoints/model.ckpt`` and
``hparams.yaml``. Segment scores that come back as NaN (tiny or broken models can give NaN for an
empty hypothesis) are scored 0 and counted, so a NaN never reaches a system score.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from xling.core.errors import InvalidInputError
from xling.core.imports import import_optional
from xling.core.validation import check_choice, check_positive_int
from xling.eval.scores import MetricResult

__all__ = ["DEFAULT_COMET_MODEL", "CometScorer", "resolve_checkpoint", "sanitize_segments"]

DEFAULT_COMET_MODEL = "Unbabel/wmt22-comet-da"
Device = Literal["auto", "cpu", "cuda"]
_DEVICES = ("auto", "cpu", "cuda")


def _import_comet() -> Any:
    return import_optional("comet", "comet", "COMET scoring")


def resolve_checkpoint(
    model: str | os.PathLike[str],
    *,
    local_files_only: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Finds the ``.ckpt`` file of a COMET model.

    Args:
        model: A checkpoint file, a folder with ``checkpoints/model.ckpt``, or a hub name.
        local_files_only: Never contact the hub; the model must be in the local cache.
        cache_dir: The hub cache folder (default: Hugging Face's).

    Returns:
        The checkpoint path.

    Raises:
        InvalidInputError: If the model cannot be found (offline: not on disk or in the cache).
    """
    path = Path(model)
    if path.is_file():
        return path
    if path.is_dir():
        ckpt = path / "checkpoints" / "model.ckpt"
        if ckpt.is_file():
            return ckpt
        raise InvalidInputError(
            f"COMET model folder {str(path)!r} has no checkpoints/model.ckpt; give the .ckpt "
            "file or a folder laid out as COMET saves models"
        )
    name = str(model)
    if local_files_only:
        from huggingface_hub import snapshot_download

        try:
            folder = snapshot_download(
                repo_id=name,
                cache_dir=None if cache_dir is None else str(cache_dir),
                local_files_only=True,
            )
        except Exception:
            raise InvalidInputError(
                f"COMET model {name!r} is not available offline: it is neither a local checkpoint "
                "(a .ckpt file or a folder with checkpoints/model.ckpt) nor in the Hugging Face "
                "cache; download it once where the hub is reachable "
                f"(`huggingface-cli download {name}`) or pass a local checkpoint path"
            ) from None
        ckpt = Path(folder) / "checkpoints" / "model.ckpt"
        if not ckpt.is_file():
            raise InvalidInputError(f"cached COMET model {name!r} has no checkpoints/model.ckpt")
        return ckpt
    comet = _import_comet()
    try:
        return Path(comet.download_model(name, saving_directory=cache_dir))
    except KeyError:
        raise InvalidInputError(f"COMET model {name!r} was not found on the hub") from None


def sanitize_segments(scores: Sequence[float]) -> tuple[list[float], list[int]]:
    """Replaces non-finite segment scores by 0.

    Returns:
        The cleaned scores and the indices that were not finite.

    Raises:
        InvalidInputError: If a score is not a number.
    """
    clean: list[float] = []
    bad: list[int] = []
    for i, value in enumerate(scores):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidInputError(
                f"segment score {i} is {value!r:.40} ({type(value).__name__}); use numbers"
            )
        number = float(value)
        if math.isfinite(number):
            clean.append(number)
        else:
            clean.append(0.0)
            bad.append(i)
    return clean, bad


@dataclass
class CometScorer:
    """Scores translations with a COMET model, loaded once on first use.

    Attributes:
        model: Hub name, checkpoint file or COMET model folder.
        batch_size: Segments per forward pass.
        device: ``auto`` (GPU when torch sees one), ``cpu`` or ``cuda``.
        local_files_only: Never contact the Hugging Face hub (for the checkpoint and its encoder).
        cache_dir: Hub cache folder for hub names.
        progress: Let COMET show its own progress bar.
    """

    model: str = DEFAULT_COMET_MODEL
    batch_size: int = 16
    device: Device = "auto"
    local_files_only: bool = True
    cache_dir: str | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        check_positive_int(self.batch_size, "batch_size")
        check_choice(self.device, "device", _DEVICES)
        self._model: Any = None

    @property
    def signature(self) -> str:
        """The model as given, for reports."""
        return f"comet:{self.model}"

    def load(self) -> Any:
        """Loads (once) and returns the underlying COMET model."""
        if self._model is None:
            ckpt = resolve_checkpoint(
                self.model, local_files_only=self.local_files_only, cache_dir=self.cache_dir
            )
            comet = _import_comet()  # after the cheap checks: importing COMET takes seconds
            try:
                self._model = comet.load_from_checkpoint(
                    str(ckpt), local_files_only=self.local_files_only
                )
            except OSError as exc:  # the encoder's tokenizer/config is not in the local cache
                raise InvalidInputError(
                    f"COMET model {self.model!r} needs files that are not available offline "
                    f"({str(exc).splitlines()[0]})"
                ) from None
        return self._model

    def _gpus(self) -> int:
        if self.device == "cpu":
            return 0
        import torch

        if torch.cuda.is_available():
            return 1
        if self.device == "cuda":
            raise InvalidInputError("device='cuda' was asked for but torch sees no GPU")
        return 0

    def segment_scores(
        self,
        hypotheses: Sequence[str],
        references: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
    ) -> tuple[list[float], list[int]]:
        """Raw COMET segment scores with NaNs replaced by 0, and the indices replaced."""
        samples = _samples(hypotheses, references, sources)
        model = self.load()
        gpus = self._gpus()
        try:
            output = model.predict(
                samples,
                batch_size=self.batch_size,
                gpus=gpus,
                accelerator="cuda" if gpus else "cpu",
                progress_bar=self.progress,
                num_workers=0,
            )
        except KeyError as exc:
            raise InvalidInputError(
                f"COMET model {self.model!r} needs the {exc.args[0]!r} field; pass "
                f"{'references' if exc.args[0] == 'ref' else 'sources'}"
            ) from None
        return sanitize_segments(output.scores)

    def score(
        self,
        hypotheses: Sequence[str],
        references: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
    ) -> MetricResult:
        """System and segment COMET scores.

        Args:
            hypotheses: System outputs (empty strings allowed).
            references: References, unless the model is reference-free.
            sources: Source sentences (every COMET-DA model needs them).

        Returns:
            The mean of the segment scores, the segments, and ``nan_segments`` (how many were
            NaN and scored 0) in ``details``.
        """
        segments, bad = self.segment_scores(hypotheses, references, sources)
        return MetricResult(
            "comet",
            sum(segments) / len(segments),
            tuple(segments),
            self.signature,
            {"nan_segments": len(bad)},
        )


def _samples(
    hypotheses: Sequence[str],
    references: Sequence[str] | None,
    sources: Sequence[str] | None,
) -> list[dict[str, str]]:
    if isinstance(hypotheses, str) or len(hypotheses) == 0:
        raise InvalidInputError("COMET needs a non-empty list of hypotheses")
    columns: dict[str, Sequence[str]] = {"mt": hypotheses}
    for key, values in (("ref", references), ("src", sources)):
        if values is not None:
            if len(values) != len(hypotheses):
                name = "references" if key == "ref" else "sources"
                raise InvalidInputError(
                    f"{len(hypotheses)} hypotheses but {len(values)} {name}; they must align"
                )
            columns[key] = values
    for key, values in columns.items():
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise InvalidInputError(f"COMET {key}[{i}] is {type(value).__name__}; need str")
    return [{key: values[i] for key, values in columns.items()} for i in range(len(hypotheses))]
