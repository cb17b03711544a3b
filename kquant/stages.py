"""The stages of compressing one image, named once.

:func:`kquant.compress_file` and :func:`kquant.quantize` announce each stage to a
``progress`` callback as it starts; the command line's progress bar counts them; the
report's :class:`kquant.run.report.StageSeconds` times them (plus the total).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["STAGES", "Stage"]


class Stage(str, Enum):
    """A stage, in the order they run (``metrics`` only with perceptual measures)."""

    LOAD = "load"
    FIT = "fit"
    MAP = "map"
    SAVE = "save"
    METRICS = "metrics"

    def __str__(self) -> str:
        return self.value


#: Every stage, in order.
STAGES: tuple[Stage, ...] = tuple(Stage)
