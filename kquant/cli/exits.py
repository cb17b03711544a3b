"""The exit codes of ``kquant``, stated once: the commands exit with them, and
``kquant --help``, the README's table and the tests read them from here."""

from __future__ import annotations

import signal
from enum import IntEnum

__all__ = ["MEANINGS", "ExitCode", "exit_codes_in_words"]


class ExitCode(IntEnum):
    """What a run's exit code says (the worst that happened wins: 1, then 99, then 3)."""

    OK = 0
    FAILED = 1
    MISUSE = 2
    TARGET_MISSED = 3
    BELOW_MIN_PSNR = 99
    INTERRUPTED = 128 + signal.SIGINT
    TERMINATED = 128 + signal.SIGTERM
    HUNG_UP = 128 + signal.SIGHUP


#: Each code in a few words, for ``kquant --help``.
MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "failure (bad image, output exists, cannot write)",
    ExitCode.MISUSE: "misuse (bad option, missing input)",
    ExitCode.TARGET_MISSED: "a quality target missed",
    ExitCode.BELOW_MIN_PSNR: "below --min-psnr (nothing written)",
    ExitCode.INTERRUPTED: "stopped by Ctrl-C",
    ExitCode.TERMINATED: "stopped by SIGTERM",
    ExitCode.HUNG_UP: "stopped by SIGHUP (a closed terminal)",
}


def exit_codes_in_words() -> str:
    """Every code with its meaning, a line each, for ``kquant --help``."""
    return "\n".join(f"  {int(code):<4} {MEANINGS[code]}" for code in ExitCode)
