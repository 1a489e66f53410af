"""One switch for parallel work: local processes or a Dask cluster, through joblib.

Every loop of the toolkit that grows with the number of recordings,
participants, folds, shards or settings runs through ``joblib.Parallel``
without a fixed ``n_jobs``, so the backend chosen here applies to all of
them::

    with backend(n_jobs=4):                      # four local processes
        compute_features(dataset)
    with backend(scheduler="tcp://host:8786"):   # a running Dask scheduler
        evaluate(table, columns, scheme="loso")

Workers receive dataset paths, not arrays of EEG: the dataset must be on
storage every worker sees, and every worker needs the same toolkit version.
Results do not depend on the backend (same seeds, same rows, same files).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from joblib import parallel_config

from eeg4students.errors import EEG4StudentsError

#: How long to keep trying to reach a Dask scheduler before giving up.
SCHEDULER_TIMEOUT = "10s"


@contextlib.contextmanager
def backend(n_jobs: int | None = None, scheduler: str | None = None) -> Iterator[None]:
    """Run the toolkit's joblib work on local processes or on a Dask cluster.

    Parameters
    ----------
    n_jobs : int | None
        Local worker processes (``-1``: every core); None or 1 runs in this
        process. Ignored when ``scheduler`` is given.
    scheduler : str | None
        Address of a running Dask scheduler, e.g. ``tcp://host:8786`` (needs
        the ``cluster`` extra: ``pip install 'eeg4students[cluster]'``).

    Raises
    ------
    EEG4StudentsError
        If the scheduler cannot be reached, or Dask is not installed.
    """
    if scheduler is None:
        with parallel_config(n_jobs=n_jobs):
            yield
        return
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise EEG4StudentsError(
            "Running on a Dask cluster (--scheduler) needs Dask's distributed scheduler, which "
            "is not installed; install it with `pip install 'eeg4students[cluster]'`."
        ) from exc

    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise EEG4StudentsError(
            f"Cannot reach the Dask scheduler at {scheduler} ({exc}); start it with "
            "`dask scheduler` and workers with `dask worker ADDRESS`, or drop --scheduler."
        ) from exc
    try:
        with parallel_config(backend="dask"):
            yield
    finally:
        client.close()
