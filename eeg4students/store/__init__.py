"""The dataset on disk: a BIDS folder written and read with mne-bids.

Layout (``P`` participant, ``S`` session, ``T`` task, ``R`` run)::

    DATASET/
      dataset_description.json  README  participants.tsv  participants.json  .bidsignore
      sub-P/sub-P_sessions.tsv
      sub-P/ses-S/sub-P_ses-S_scans.tsv
      sub-P/ses-S/eeg/sub-P_ses-S_task-T_run-R_eeg.{vhdr,vmrk,eeg}   (float32, uV)
      sub-P/ses-S/eeg/sub-P_ses-S_task-T_run-R_{eeg.json,channels.tsv,events.tsv,events.json}
      sub-P/ses-S/eeg/sub-P_ses-S_task-T_run-R_eeg4students.json   (the toolkit's facts)
      derivatives/eeg4students/   (features, models, the audit log: later stages)

Annotations (task blocks, markers, ``BAD_gap``) go to ``events.tsv``. What the
toolkit learned at import or recording (source file and its SHA-256, device,
gaps, clipping, bad channels, reader notes, an interruption) is kept in the
recording's ``*_eeg4students.json``, listed in ``.bidsignore``, so listing a
dataset reads only small sidecars.

Every change to a dataset happens under its lock file, so several recorders
can write into one dataset at once, and as one transaction: a change that
fails is undone. The package, by role:

- :mod:`.paths`: labels, recordings' file names and listing, the audit log;
- :mod:`.tables`: BIDS TSV files read and written;
- :mod:`.participants`: ``participants.tsv`` and the attributes it may hold;
- :mod:`.sidecars`: JSON sidecars, the dataset's description, reading a
  recording back;
- :mod:`.listing`: the recordings table of ``dataset info``;
- :mod:`.transaction`: the dataset's lock and the one transaction mechanism
  (protect, move, stage; undo on failure) that the store, imports, remote
  ingest, feature caches and forgetting use;
- :mod:`.dataset`: :class:`Dataset` on top.
"""

from eeg4students.store.dataset import Dataset
from eeg4students.store.participants import (
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    FORMULA_LEADERS,
    add_participant_row,
    cell_problem,
    check_attributes,
    plausible_age,
    read_participants,
)
from eeg4students.store.paths import (
    AUDIT_LOG,
    LABEL,
    META_SUFFIX,
    RECORDING_STEM,
    RecordingRef,
    audit_entries,
    check_label,
    meta_path,
)
from eeg4students.store.sidecars import TASK_FIELDS, open_recording, read_meta, read_sidecar
from eeg4students.store.tables import read_tsv, tsv_rows, write_tsv
from eeg4students.store.transaction import LOCK_NAME, Transaction, undone_on_failure

__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_NAMES",
    "AUDIT_LOG",
    "FORMULA_LEADERS",
    "LABEL",
    "LOCK_NAME",
    "META_SUFFIX",
    "RECORDING_STEM",
    "TASK_FIELDS",
    "Dataset",
    "RecordingRef",
    "Transaction",
    "add_participant_row",
    "audit_entries",
    "cell_problem",
    "check_attributes",
    "check_label",
    "meta_path",
    "open_recording",
    "plausible_age",
    "read_meta",
    "read_participants",
    "read_sidecar",
    "read_tsv",
    "tsv_rows",
    "undone_on_failure",
    "write_tsv",
]
