"""The progress bar every long-running command shows (hidden when output is not a terminal)."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TimeElapsedColumn


def progress_bar(*extra: ProgressColumn | str) -> Progress:
    """A transient bar: description, bar, done/total, ``extra`` columns, elapsed time."""
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        transient=True,
    )
    progress.disable = not progress.console.is_terminal
    return progress
