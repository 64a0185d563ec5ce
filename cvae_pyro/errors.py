"""Errors that the command-line tools report as one line, without a traceback."""


class CvaePyroError(Exception):
    """Base class: a problem the user can fix (bad input, bad files, a diverged run)."""


class ConfigError(CvaePyroError, ValueError):
    """An invalid setting, such as a non-positive batch size."""


class DataError(CvaePyroError):
    """The data files are missing, truncated, corrupt or cannot be downloaded."""


class CheckpointError(CvaePyroError):
    """A checkpoint is missing, truncated, foreign, or made for other settings."""


class TrainingDiverged(CvaePyroError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(CvaePyroError):
    """The user pressed Ctrl-C; progress up to the last finished epoch is saved."""
