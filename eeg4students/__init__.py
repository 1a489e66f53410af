"""eeg4students: EEG brain-computer-interface studies on a laptop.

The pipeline, bottom to top (imports flow one way)::

    errors, boards, events, io        reading headsets and files
    store, quality, protocol          the BIDS dataset, protocol files
    acquire, remote, simulate         recording, remote packages, simulation
    preprocess, features, featureset  windows, rejection, band powers
    models, evaluation, report        classifiers, honest evaluation, figures
    modelstore, predict, live         saved models, prediction, live use
    unlearning                        forgetting a participant
    parallel, demo, cli               joblib/Dask switch, the demo, the command

Import what you need from the submodules, e.g.
``from eeg4students.io import read_recording`` or
``from eeg4students.store import Dataset``.
"""

from importlib.metadata import PackageNotFoundError, version

from eeg4students.errors import EEG4StudentsError

try:
    __version__ = version("eeg4students")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["EEG4StudentsError", "__version__"]
