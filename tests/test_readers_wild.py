"""File variants found in the wild: old OpenBCI GUI files, cut-off lines, Mind
Monitor exports, muse-lsl clock jitter, Daisy packets, unit mix-ups, EDF headers
with personal data and typed labels, channel names, and whole folders."""

from __future__ import annotations

import datetime
import warnings

import mne
import numpy as np
import pandas as pd
import pytest
from conftest import (
    MUSE,
    muse_samples,
    write_mind_monitor,
    write_muse_lsl,
    write_openbci,
)

from eeg4students.cli import main
from eeg4students.errors import RecordingFormatError, RecordingNote
from eeg4students.events import BAD_GAP
from eeg4students.featureset import compute_features
from eeg4students.importing import ImportPlanError, plan_import
from eeg4students.io import read_recording, read_with_notes
from eeg4students.store import Dataset

T0 = 1_700_000_000.0


def _labels(participant="p1", session="1", task="rest"):
    return ["--participant", participant, "--session", session, "--task", task]


def _old_openbci(path, data_uv, *, n_aux=3, clock=False, index=None, rate=250.0, cut=None):
    """A file as the OpenBCI GUI wrote them in 2014-2018: no channel count in the header."""
    n = data_uv.shape[1]
    index = np.arange(n) % 256 if index is None else index
    lines = [
        "%OpenBCI Raw EEG Data",
        "%",
        f"%Sample Rate = {rate:.1f} Hz",
        "%First Column = SampleIndex",
        "%Other Columns = EEG data in microvolts followed by Accel Data (in G) interleaved "
        "with Aux Data",
    ]
    for i in range(n):
        cells = [str(int(index[i])), *(f"{v:.2f}" for v in data_uv[:, i])]
        cells += ["0.01"] * n_aux
        if clock:
            cells.append(f"13:19:{54 + i // 250:02d}.{(4 * i) % 1000:03d}")
        lines.append(", ".join(cells))
    text = "\n".join(lines) + "\n"
    if cut is not None:
        text += lines[-1][:cut]
    path.write_text(text)
    return path


# -- 1. OpenBCI GUI files of 2014-2018 ------------------------------------------


@pytest.mark.parametrize(
    ("n_ch", "n_aux", "clock"),
    [(8, 3, False), (8, 1, False), (8, 3, True), (16, 3, False), (16, 1, True), (4, 3, False)],
)
def test_old_openbci_layouts_give_the_channel_count(tmp_path, rng, n_ch, n_aux, clock):
    data = rng.normal(0, 20, (n_ch, 700))
    index = (np.arange(700) * (2 if n_ch == 16 else 1)) % 256
    path = _old_openbci(tmp_path / "OpenBCI-RAW.txt", data, n_aux=n_aux, clock=clock, index=index)
    raw = read_recording(path)
    assert len(raw.ch_names) == n_ch
    assert raw.n_times == 700
    np.testing.assert_allclose(raw.get_data(), data * 1e-6, atol=1e-8)
    assert raw.info["meas_date"] is None  # a clock time without a date


def test_old_openbci_count_from_option_or_names(tmp_path, rng):
    path = _old_openbci(tmp_path / "odd.txt", rng.normal(0, 20, (6, 600)), n_aux=0)
    with pytest.raises(RecordingFormatError, match="--channels"):
        read_recording(path)
    assert len(read_recording(path, n_channels=6).ch_names) == 6
    names = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]
    assert read_recording(path, channels=names).ch_names == names
    with pytest.raises(RecordingFormatError, match="header says 8 channels but 6"):
        read_recording(
            write_openbci(tmp_path / "v5.txt", rng.normal(0, 20, (8, 600))), channels=names
        )


@pytest.mark.slow
def test_shared_2016_openbci_files_read(tmp_path):
    from conftest import OPENBCI_DIR, require

    folder = require(OPENBCI_DIR)
    first = read_recording(folder / "OpenBCI-RAW-2016-06-16_13-19-54.txt")
    assert first.ch_names == [f"EXG{i}" for i in range(1, 9)]
    assert first.info["sfreq"] == 250.0 and first.n_times > 25_000
    second = read_recording(folder / "OpenBCI-RAW-2016-07-21_17-46-29.txt")
    assert second.info["bads"] == [f"EXG{i}" for i in (1, 3, 4, 5, 6, 7, 8)]


@pytest.mark.slow
def test_a_2017_style_openbci_dataset_keeps_windows_by_default(tmp_path, capsys):
    """Six of eight channels unconnected in every file: they are left out, windows kept."""
    from conftest import OPENBCI_DIR, require

    source = require(OPENBCI_DIR) / "OpenBCI-RAW-2016-06-16_13-19-54.txt"
    lines = source.read_text().splitlines()
    folder = tmp_path / "published"
    folder.mkdir()
    for subject in ("01", "02"):
        rows = []
        for line in lines:
            if line.startswith("%"):
                rows.append(line)
                continue
            cells = line.split(", ")
            cells[3:9] = ["0.00"] * 6  # EXG3..EXG8 never connected
            rows.append(", ".join(cells))
        (folder / f"s{subject}_OpenBCI-RAW.txt").write_text("\n".join(rows) + "\n")
    dataset = tmp_path / "ds"
    argv = ["import", str(folder), "--to", str(dataset), "--pattern"]
    assert main([*argv, "s{participant}_OpenBCI-RAW.txt", "--session", "1", "--task", "rest"]) == 0
    capsys.readouterr()
    assert main(["features", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "Channels EXG1, EXG2: the most good data" in out
    assert "left out EXG3 (bad in all of 2), EXG4 (bad in all of 2)" in out
    features = compute_features(dataset, progress=False)
    assert len(features.table) > 50
    assert features.preprocess.channels == ("EXG1", "EXG2")
    assert {c.split("_")[0] for c in features.feature_columns} <= {"EXG1", "EXG2"}


# -- 2. a cut-off last line ------------------------------------------------------


def test_cut_off_last_line_is_dropped_with_a_note(tmp_path, rng, capsys):
    path = _old_openbci(tmp_path / "cut.txt", rng.normal(0, 20, (8, 600)), cut=23)
    raw, notes = read_with_notes(path)
    assert raw.n_times == 600
    assert len(notes) == 1 and "line 606 was cut off" in notes[0]
    dataset = tmp_path / "ds"
    assert main(["import", str(path), "--to", str(dataset), *_labels()]) == 0
    assert "note: line 606 was cut off" in capsys.readouterr().out
    assert main(["dataset", "info", str(dataset)]) == 0
    assert "line 606 was cut off" in capsys.readouterr().out
    # The same for a muse-lsl file stopped after a separator.
    data = muse_samples(rng, 600)
    lsl = write_muse_lsl(tmp_path / "lsl.csv", data, T0 + np.arange(600) / 256)
    lsl.write_text(lsl.read_text() + f"{T0 + 600 / 256:.6f},1.0,")
    raw, notes = read_with_notes(lsl)
    assert raw.n_times == 600 and "cut off" in notes[0]


def test_a_malformed_line_in_the_middle_stays_an_error(tmp_path, rng):
    path = _old_openbci(tmp_path / "mid.txt", rng.normal(0, 20, (8, 600)))
    lines = path.read_text().splitlines()
    lines[300] = lines[300][:20]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingFormatError, match="line 301"):
        read_recording(path)


# -- 3. Mind Monitor ---------------------------------------------------------------


def _strip_trailing_field(path):
    """Data rows one field short, as Mind Monitor writes them (no trailing Elements)."""
    lines = path.read_text().splitlines()
    lines = [lines[0]] + [line[:-1] if line.endswith(",") else line for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_mind_monitor_rows_one_field_short_read_without_library_warnings(tmp_path, rng):
    data = muse_samples(rng, 1024)
    path = write_mind_monitor(tmp_path / "mm.csv", data, T0, {10: "/muse/elements/blink"})
    _strip_trailing_field(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = read_recording(path)
    assert [w for w in caught if not issubclass(w.category, RecordingNote)] == []
    assert raw.n_times == 1024
    np.testing.assert_allclose(raw.get_data(), data * 1e-6, atol=1e-9)
    assert list(raw.annotations.description) == ["/muse/elements/blink"]


def test_mind_monitor_one_sample_per_second_is_refused(tmp_path, rng):
    data = muse_samples(rng, 90)
    path = write_mind_monitor(tmp_path / "mm.csv", data, T0, {})
    lines = path.read_text().splitlines()
    for i in range(1, len(lines)):
        stamp = pd.Timestamp(T0 + (i - 1), unit="s").strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        lines[i] = stamp + lines[i][lines[i].index(",") :]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingFormatError, match="Recording Interval to 'Constant'"):
        read_recording(path)


def test_mind_monitor_time_stamps_without_date_are_refused(tmp_path, rng):
    path = write_mind_monitor(tmp_path / "mm.csv", muse_samples(rng, 600), T0, {})
    lines = path.read_text().splitlines()
    for i in range(1, len(lines)):
        lines[i] = f"13:{(i // 256):02d}.{i % 10}" + lines[i][lines[i].index(",") :]
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RecordingFormatError, match="lost its date") as info:
            read_recording(path)
    assert "line 2" in str(info.value)
    assert caught == []


# -- 4. muse-lsl ---------------------------------------------------------------------


def _chunk_jitter(rng, n, chunk=12):
    """LSL times: chunks of samples stamped on arrival, each chunk late or early."""
    true = np.arange(n) / 256
    offsets = np.repeat(rng.uniform(-0.02, 0.02, n // chunk + 1), chunk)[:n]
    return true + offsets


def test_lsl_jitter_is_tolerated_and_real_losses_still_show(tmp_path, rng):
    n = 256 * 30
    data = muse_samples(rng, n)
    stamps = 5000.0 + _chunk_jitter(rng, n)  # LSL clock: seconds since boot
    assert np.any(np.diff(stamps) < -0.01)
    raw, notes = read_with_notes(write_muse_lsl(tmp_path / "j.csv", data, stamps))
    assert raw.n_times == n
    assert BAD_GAP not in raw.annotations.description
    np.testing.assert_allclose(raw.get_data(), data * 1e-6, atol=1e-9)
    assert raw.info["meas_date"] is None
    assert any("measurement date is unknown" in note for note in notes)
    # A lost second in the middle of the jitter is still a gap of about a second.
    keep = np.r_[0 : n // 2, n // 2 + 256 : n]
    raw = read_recording(write_muse_lsl(tmp_path / "g.csv", data[:, keep], stamps[keep]))
    gaps = raw.annotations[raw.annotations.description == BAD_GAP]
    assert gaps.duration.sum() == pytest.approx(1.0, abs=0.1)
    assert raw.n_times == pytest.approx(n, abs=30)


def test_lsl_jump_back_beyond_the_jitter_is_refused(tmp_path, rng):
    n = 256 * 10
    stamps = T0 + np.arange(n) / 256
    stamps[n // 2 :] -= 0.5
    path = write_muse_lsl(tmp_path / "back.csv", muse_samples(rng, n), stamps)
    with pytest.raises(RecordingFormatError, match=r"goes backwards by 0\.496 s"):
        read_recording(path)


@pytest.mark.slow
def test_shared_muse_lsl_recording_with_jitter(tmp_path):
    from conftest import SHARED_DATA, require

    path = require(SHARED_DATA / "muse-lsl-samples") / "data_2017-09-27-14.50.29.csv"
    raw, notes = read_with_notes(path)
    assert raw.n_times == 30732  # every sample, none invented
    assert BAD_GAP not in raw.annotations.description
    assert raw.info["meas_date"] is None and notes
    assert {"1", "2"} <= set(raw.annotations.description)


def test_lsl_stimulus_columns_become_annotations_others_are_named(tmp_path, rng):
    n = 800
    path = write_muse_lsl(tmp_path / "s.csv", muse_samples(rng, n), T0 + np.arange(n) / 256)
    lines = path.read_text().splitlines()
    lines[0] += ",Stim,Battery"
    for i in range(1, len(lines)):
        lines[i] += f",{7 if i == 101 else 0},80"
    path.write_text("\n".join(lines) + "\n")
    raw, notes = read_with_notes(path)
    assert list(raw.annotations.description) == ["7"]
    assert raw.annotations.onset[0] == pytest.approx(100 / 256, abs=1e-5)
    assert notes == ["columns left out (not EEG, not markers): Battery"]


# -- 5. OpenBCI Daisy -----------------------------------------------------------------


def test_daisy_lost_packets_are_annotated(tmp_path, rng):
    index = (np.arange(500) * 2) % 256
    index[250:] = (index[250:] + 4) % 256  # two 16-channel samples lost
    path = write_openbci(tmp_path / "d.txt", rng.normal(0, 20, (16, 500)), sfreq=125, index=index)
    raw = read_recording(path)
    gaps = raw.annotations[raw.annotations.description == BAD_GAP]
    assert raw.n_times == 502
    assert len(gaps) == 1 and gaps.duration[0] == pytest.approx(2 / 125)


# -- 6. implausible units ---------------------------------------------------------------


@pytest.mark.parametrize(("scale", "word"), [(1e6, "large"), (1e-6, "small")])
def test_implausible_units_get_a_note_in_import_and_info(tmp_path, rng, capsys, scale, word):
    info = mne.create_info(list(MUSE), 256.0, "eeg")
    data = rng.normal(0, 20e-6, (4, 2560)) + np.array([[10e-6], [40e-6], [80e-6], [124e-6]])
    path = tmp_path / "units_raw.fif"
    mne.io.RawArray(data * scale, info, verbose="error").save(path, verbose="error")
    dataset = tmp_path / "ds"
    assert main(["import", str(path), "--to", str(dataset), *_labels()]) == 0
    assert f"implausibly {word}" in capsys.readouterr().out
    assert main(["dataset", "info", str(dataset)]) == 0
    assert f"implausibly {word}" in capsys.readouterr().out
    normal = tmp_path / "normal_raw.fif"
    mne.io.RawArray(data, info, verbose="error").save(normal, verbose="error")
    assert read_with_notes(normal)[1] == []


# -- 7. channel names at import ------------------------------------------------------------


def test_channel_names_at_import_for_any_format(tmp_path, rng, capsys):
    path = write_muse_lsl(tmp_path / "m.csv", muse_samples(rng, 600), T0 + np.arange(600) / 256)
    dataset = tmp_path / "ds"
    argv = ["import", str(path), "--to", str(dataset), *_labels()]
    assert main([*argv, "--channels", "A,B,C,D"]) == 0
    assert Dataset(dataset).load("p1", "1", "rest").ch_names == ["A", "B", "C", "D"]
    assert main([*argv, "--channels", "A,B,C"]) == 1
    assert "3 channel names were given but it has 4 EEG channels" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # refused as a usage error, before reading
        main([*argv, "--channels", "A,A,C,D"])
    assert usage.value.code == 2 and "each once" in capsys.readouterr().err


# -- 8. a whole folder in one command ----------------------------------------------------------


def _folder(tmp_path, rng, names):
    folder = tmp_path / "incoming"
    folder.mkdir()
    for name in names:
        write_muse_lsl(folder / name, muse_samples(rng, 768), T0 + np.arange(768) / 256)
    return folder


def test_folder_import_takes_labels_from_names_and_skips_what_fails(tmp_path, rng, capsys):
    folder = _folder(tmp_path, rng, ["ann-relaxed-1.csv", "bob-relaxed-1.csv", "bob-focus-2.csv"])
    (folder / "notes.txt").write_text("not a recording")
    (folder / "cat-relaxed-1.csv").write_text("timestamps,TP9,AF7,AF8,TP10\n1,2,3\n")
    dataset = tmp_path / "ds"
    status = main(
        [
            "import",
            str(folder),
            "--to",
            str(dataset),
            "--pattern",
            "{participant}-{task}-{session}.csv",
        ]
    )
    captured = capsys.readouterr()
    assert status == 1
    assert "1 of 4 files could not be imported" in captured.err
    assert [line for line in captured.err.splitlines() if "eeg4students:" in line] == [
        "eeg4students: error: 1 of 4 files could not be imported (listed above); fix them and "
        "import those again."
    ]
    assert "1 file(s) do not match the pattern and are left alone: " in captured.out
    assert "notes.txt." in captured.out  # named, so the user can see what was skipped
    assert "3 of 4 files imported" in captured.out
    assert "cat-relaxed-1.csv" in captured.out and "FAILED" in captured.out
    table = Dataset(dataset).recordings()
    assert sorted(zip(table["participant"], table["task"], table["session"], strict=True)) == [
        ("ann", "relaxed", "1"),
        ("bob", "focus", "2"),
        ("bob", "relaxed", "1"),
    ]
    assert not (dataset / "sub-cat").exists()
    assert "sub-cat" not in (dataset / "participants.tsv").read_text()


def test_folder_import_of_nothing_good_leaves_no_dataset(tmp_path, capsys):
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "a-rest-1.csv").write_text("timestamps,TP9\n")
    dataset = tmp_path / "ds"
    argv = [
        "import",
        str(folder),
        "--to",
        str(dataset),
        "--pattern",
        "{participant}-{task}-{session}.csv",
    ]
    assert main(argv) == 1
    assert "None of the 1 files could be imported" in capsys.readouterr().err
    assert not dataset.exists()


def test_import_plans_refuse_unclear_labels(tmp_path, rng):
    folder = _folder(tmp_path, rng, ["ann-relaxed-1.csv"])
    with pytest.raises(ImportPlanError, match="is a folder"):
        plan_import([folder], participant="a", session="1", task="t")
    with pytest.raises(ImportPlanError, match="from the pattern and from --task"):
        plan_import([folder], pattern="{participant}-{task}-{session}.csv", task="x")
    with pytest.raises(ImportPlanError, match="No session label"):
        plan_import([folder], pattern="{participant}-{task}-*.csv")
    with pytest.raises(ImportPlanError, match="unknown field"):
        plan_import([folder], pattern="{subject}-{task}-{session}.csv")
    with pytest.raises(ImportPlanError, match="No file"):
        plan_import([folder], pattern="{participant}_{task}_{session}.csv")
    jobs, _ = plan_import([folder], pattern="{participant}-*-{session}.csv", task="rest")
    assert [(j.participant, j.task, j.session) for j in jobs] == [("ann", "rest", "1")]


# -- 9. default channel choice in features --------------------------------------------------------


def test_channels_bad_in_some_recordings_keep_the_window_rule(tmp_path, rng):
    folder = tmp_path / "files"
    folder.mkdir()
    for k, name in enumerate(["a-rest-1.txt", "b-rest-1.txt"]):
        data = rng.normal(0, 10, (8, 250 * 30))
        if k == 0:
            data[5] = 0.0  # one recording with an unconnected EXG6
        data[7] = 0.0  # EXG8 never connected
        write_openbci(folder / name, data)
    dataset = tmp_path / "ds"
    assert (
        main(
            [
                "import",
                str(folder),
                "--to",
                str(dataset),
                "--pattern",
                "{participant}-{task}-{session}.txt",
            ]
        )
        == 0
    )
    features = compute_features(dataset, progress=False)
    # Keeping EXG6 would keep 7 channels of one recording; leaving it out, 6 of both.
    assert features.left_out == ["EXG6", "EXG8"]
    kept = features.table.groupby("participant").size()
    assert kept["a"] > 0 and kept["b"] > 0
    assert features.channels.bad_in == {"EXG6": 1, "EXG8": 2} and not features.channels.lost


# -- 10, 11. EDF headers: personal data, several files, typed labels ------------------------------


def _edf(path, rng, birthday, sex, first_name):
    info = mne.create_info(["EEG Fp1", "EEG Fp2", "EEG O1", "ECG ECG"], 256.0, "eeg")
    data = rng.normal(0, 15e-6, (4, 256 * 20))
    data[3] = 375e-6 * np.sign(np.sin(np.arange(256 * 20) / 40))  # ECG, 750 uV peak to peak
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_meas_date(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
    raw.info["subject_info"] = {
        "his_id": "m00",
        "first_name": first_name,
        "birthday": birthday,
        "sex": sex,
    }
    mne.export.export_raw(path, raw, verbose="error")
    return path


def test_edf_recordings_of_one_participant_import_without_header_personal_data(
    tmp_path, rng, capsys
):
    one = _edf(tmp_path / "m00-1.edf", rng, datetime.date(1990, 5, 5), 1, "Ann")
    two = _edf(tmp_path / "m00-2.edf", rng, datetime.date(1991, 6, 6), 2, "Anna")
    dataset = tmp_path / "ds"
    pattern = "{participant}-{session}.edf"
    argv = [
        "import",
        str(one),
        str(two),
        "--to",
        str(dataset),
        "--pattern",
        pattern,
        "--task",
        "rest",
    ]
    assert main([*argv, "--age", "15", "--sex", "f"]) == 0, capsys.readouterr().err
    participants = pd.read_csv(dataset / "participants.tsv", sep="\t", dtype=str)
    row = participants.set_index("participant_id").loc["sub-m00"]
    assert row["age"] == "15" and row["sex"] == "F"
    text = "".join(
        p.read_text(errors="replace")
        for p in dataset.rglob("*")
        if p.is_file() and p.suffix in (".tsv", ".json", ".vhdr")
    )
    assert "Ann" not in text and "1990" not in text
    raw = Dataset(dataset).load("m00", "1", "rest")
    assert raw.ch_names == ["Fp1", "Fp2", "O1", "ECG"]
    assert raw.get_channel_types() == ["eeg", "eeg", "eeg", "ecg"]
    features = compute_features(dataset, progress=False)
    assert len(features.table) > 0  # the ECG does not trip the amplitude rule
    assert not any(c.startswith("ECG") for c in features.feature_columns)


def test_participant_attributes_are_checked(tmp_path, rng, capsys):
    path = write_muse_lsl(tmp_path / "m.csv", muse_samples(rng, 600), T0 + np.arange(600) / 256)
    dataset = tmp_path / "ds"
    argv = ["import", str(path), "--to", str(dataset), *_labels()]
    assert main([*argv, "--age", "300"]) == 1
    assert "age '300'" in capsys.readouterr().err
    assert not dataset.exists()
    table = tmp_path / "people.csv"
    table.write_text("participant,age,name\np1,14,Ann\n")
    assert main([*argv, "--participants-table", str(table)]) == 1
    assert "'name' is not a participant attribute" in capsys.readouterr().err
    table.write_text("participant,age,sex\np1,14,M\n")
    assert main([*argv, "--participants-table", str(table)]) == 0
    people = pd.read_csv(dataset / "participants.tsv", sep="\t", dtype=str)
    assert people.set_index("participant_id").loc["sub-p1", ["age", "sex"]].tolist() == ["14", "M"]


def test_source_file_names_stay_out_unless_asked(tmp_path, rng):
    path = write_muse_lsl(
        tmp_path / "AnnaSmith-rest.csv", muse_samples(rng, 600), T0 + np.arange(600) / 256
    )
    for keep, dataset in ((False, tmp_path / "a"), (True, tmp_path / "b")):
        argv = ["import", str(path), "--to", str(dataset), *_labels()]
        assert main([*argv, *(["--keep-source-name"] if keep else [])]) == 0
        stored = "".join(p.read_text(errors="replace") for p in dataset.rglob("*.json"))
        assert ("AnnaSmith" in stored) is keep
        table = Dataset(dataset).recordings()
        assert table["source_file"].iloc[0] == ("AnnaSmith-rest.csv" if keep else None)
