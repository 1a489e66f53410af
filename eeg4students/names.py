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
    "lr",
    "rff",
)
#: Models with a certified-removal form (``train --unlearnable certified``).
CERTIFIED_MODELS = ("lr", "rff", "tslr", "tmv")
#: Settings of the certified form and their ranges (epsilon, delta, noise, regularisation).
CERTIFIED_RANGES = {
    "epsilon": (1e-3, 100.0),
    "delta": (1e-12, 0.1),
    "sigma": (1e-6, 1e6),
    "lam": (1e-8, 1e3),
}
#: Their defaults, and what each trades (``train --unlearnable certified``'s help).
CERTIFIED_DEFAULTS = {
    "epsilon": (1.0, "epsilon of the removal certificate (privacy)"),
    "delta": (1e-5, "delta of the removal certificate"),
    "sigma": (
        0.03,
        "noise of the objective per square root of a training window (more: more removals "
        "before a retrain, less accuracy)",
    ),
    "lam": (1e-2, "L2 strength per window (more: more removals before a retrain)"),
}
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
    "xdf",
)
#: Seconds of windows that set a live session's adaptation before an adapted model labels any.
ADAPT_WARMUP_SECONDS = 10.0

# Bounds of the preprocessing settings (checked by eeg4students.preprocess.PreprocessParams,
# shown by the command line's help).
#: Highest frequency (Hz) a filter edge or the line frequency may be given.
MAX_FREQ = 1000.0
#: Shortest and longest window (s).
WINDOW_RANGE = (0.1, 600.0)
#: Shortest and longest hop between windows (s): the work grows as 1 / hop.
HOP_RANGE = (0.05, 600.0)
#: Most channels named.
MAX_CHANNELS = 256
#: Largest age (years) a participant may be given (options, tables, packages' rows).
MAX_AGE = 130
#: Largest run number (from options or file names).
MAX_RUN = 9999
#: Shortest and longest task block when a protocol's is overridden (s).
TASK_SECONDS_RANGE = (0.5, 3600.0)
#: Shortest and longest wait for samples before a headset counts as gone (s).
STALL_TIMEOUT_RANGE = (0.5, 600.0)

#: Shadow models of the withdrawal check (half never see the participant), the default
#: of ``forget --shadows`` (:data:`eeg4students.unlearning.privacy.N_SHADOWS`).
PRIVACY_SHADOWS = 32
