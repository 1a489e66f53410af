"""Names the toolkit offers as choices (file formats, models, evaluation schemes).

Kept free of heavy imports so that the command line can build its parser
without loading scikit-learn; :mod:`eeg4students.io`,
:mod:`eeg4students.models` and :mod:`eeg4students.evaluation` re-export them.
"""

from __future__ import annotations

#: Classifiers by short name (see :mod:`eeg4students.models`).
MODEL_NAMES = (
    "rf",
    "svm",
    "lda",
    "slda",
    "knn",
    "linsvm",
    "gb",
    "ada",
    "dt",
    "tslr",
    "mdm",
    "tmv",
    "tmvts",
)
#: Models that take only the windows' covariance columns (features --covariance).
RIEMANN_MODELS = ("tslr", "mdm")
#: Models that need the covariance columns (alone, or beside band powers for ``tmvts``).
COVARIANCE_MODELS = (*RIEMANN_MODELS, "tmvts")
#: Time Majority Voting models: evaluations report a block and a causal vote of each.
TMV_MODELS = ("tmv", "tmvts")
#: Cross-validation schemes (see :mod:`eeg4students.evaluation`).
SCHEMES = ("time-blocked", "cross-session", "loso", "calibration", "shuffled")
#: Recording formats :func:`eeg4students.io.read_recording` reads.
FORMATS = (
    "muse-lsl",
    "mind-monitor",
    "openbci",
    "brainflow",
    "edf",
    "bdf",
    "brainvision",
    "fif",
)
#: Seconds of windows that set a live session's adaptation before an adapted model labels any.
ADAPT_WARMUP_SECONDS = 10.0
