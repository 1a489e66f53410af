"""``python -m eeg4students.cli``: the same as the ``eeg4students`` command."""

from eeg4students.cli import run

if __name__ == "__main__":
    run()
