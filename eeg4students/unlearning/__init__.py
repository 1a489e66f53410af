"""Forgetting a participant who withdraws: data, derived files and model influence.

- :mod:`~eeg4students.unlearning.forget`: the dataset operation (crash-safe);
- :mod:`~eeg4students.unlearning.strategies`: ``retrain``, ``sharded``, ``conmu``;
- :mod:`~eeg4students.unlearning.conmu`: the three ConMU knobs for these models;
- :mod:`~eeg4students.unlearning.metrics`: accuracies and membership attacks;
- :mod:`~eeg4students.unlearning.audit`: the hash-chained audit log;
- :mod:`~eeg4students.unlearning.experiment`: in-memory experiments and sweeps.

The models built to forget fast and exactly are in :mod:`eeg4students.models.sharded`.
"""
