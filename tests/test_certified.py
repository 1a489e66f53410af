"""Certified removal: the bound holds, the budget is kept, nothing of the participant stays."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from eeg4students.adaptation import adapt_table
from eeg4students.models import certified, make_model
from eeg4students.models.certified import (
    CertifiedLogisticRegression,
    RandomFourierFeatures,
    _hessian,
    _loss_and_gradient,
    _minimise,
    _noise,
)
from eeg4students.training import fit_estimator
from eeg4students.unlearning.cohorts import HARD, feature_columns, simulate_cohort
from eeg4students.unlearning.strategies import apply_strategy


def _cohort(participants=12, tasks=("Think", "Breathe"), seed=1):
    shape = dataclasses.replace(HARD, participants=participants, tasks=tasks)
    table = simulate_cohort(shape, seed=seed)
    columns = feature_columns(shape)
    table, _ = adapt_table(table, columns, "session")
    return table, columns


def _arrays(table, columns):
    return (
        table[columns].to_numpy(),
        table["task"].to_numpy(),
        table["participant"].to_numpy(),
    )


def _residuals(model, X, y, seed, draw=0) -> np.ndarray:
    """Each binary model's true gradient residual on (X, y), its noise drawn again by seed."""
    Z = model._design(X)
    noise = _noise(seed, draw, model.noise_, model.coef_.shape)
    return np.array(
        [
            np.linalg.norm(_loss_and_gradient(w, Z, t, model.lam, b)[1])
            for w, t, b in zip(model.coef_, model._targets(y), noise, strict=True)
        ]
    )


@pytest.mark.parametrize("tasks", [("Think", "Breathe"), ("Think", "Breathe", "Count")])
@pytest.mark.parametrize("feature_map", [None, RandomFourierFeatures(60, random_state=2)])
def test_the_gradient_residual_after_removals_is_below_the_recorded_bound(tasks, feature_map):
    table, columns = _cohort(tasks=tasks)
    X, y, people = _arrays(table, columns)
    model = CertifiedLogisticRegression(epsilon=10.0, feature_map=feature_map, random_state=3).fit(
        X, y, groups=people
    )
    assert model.noise_ == pytest.approx(model.sigma * np.sqrt(len(X)))
    before = model.coef_.copy()
    kept = people != "c01"
    steps, bounds = model.newton_steps(X[kept], y[kept], X[~kept], y[~kept])
    certificate = model.remove("c01", X[kept], y[kept], X[~kept], y[~kept])
    assert not certificate["retrained"] and certificate["left"] > 0
    assert not certificate["exact"] and certificate["steps"] == 1  # bounded from the sums
    # Guo et al.'s Corollary 1 bound of the same steps is more than ten times looser.
    design = model._design(X[kept])
    spectral = np.linalg.norm(design, 2)
    for step, bound in zip(steps, bounds, strict=True):
        corollary = 0.25 * spectral * np.linalg.norm(step) * np.linalg.norm(design @ step)
        assert 10 * bound < corollary, (bound, corollary)
    residuals = _residuals(model, X[kept], y[kept], seed=3)
    assert (residuals <= model.spent_ + 1e-12).all(), (residuals, model.spent_)
    # The bound is not vacuous: within two orders of magnitude of the true residual.
    assert model.spent_.max() < 100 * residuals.max()
    assert certificate["spent"] == pytest.approx(np.linalg.norm(model.spent_))
    assert "c01" not in model.participants_ and model.n_train_ == int(kept.sum())
    Z, targets = model._design(X[kept]), model._targets(y[kept])
    noise = _noise(3, 0, model.noise_, model.coef_.shape)
    for w, old, t, b in zip(model.coef_, before, targets, noise, strict=True):
        # The step lands far closer to the retrained optimum than the model was.
        retrained = _minimise(Z, t, model.lam, b)[0]
        assert np.linalg.norm(w - retrained) < 0.2 * np.linalg.norm(old - retrained)
    # A second removal: the kept Hessian went with the first (it was taken at weights
    # trained with c01), so this one computes it from the remaining rows.
    assert model.hessian_ is None and model.hessian_at_ is None
    left = kept & (people != "c02")
    model.remove("c02", X[left], y[left], X[kept & ~left], y[kept & ~left])
    residuals = _residuals(model, X[left], y[left], seed=3)
    assert (residuals <= model.spent_ + 1e-12).all(), (residuals, model.spent_)


def test_the_first_removal_reads_no_remaining_window():
    table, columns = _cohort(tasks=("Think", "Breathe", "Count"))
    X, y, people = _arrays(table, columns)
    model = CertifiedLogisticRegression(epsilon=10.0, random_state=6).fit(X, y, groups=people)
    reference = copy.deepcopy(model)
    gone = people == "c04"
    # Windows that would fail validation if they were read: the step needs only the sums kept.
    unread = np.full_like(X[~gone], np.nan)
    certificate = model.remove("c04", unread, y[~gone], X[gone], y[gone])
    assert not certificate["retrained"]
    reference.remove("c04", X[~gone], y[~gone], X[gone], y[gone])
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    # Windows that do not add up to those the model holds are refused.
    with pytest.raises(ValueError, match="do not add up"):
        reference.remove("c05", X[:10], y[:10], X[people == "c05"], y[people == "c05"])


@pytest.mark.parametrize("feature_map", [None, RandomFourierFeatures(60, random_state=2)])
def test_the_step_is_the_newton_step_on_the_remaining_windows(feature_map):
    table, columns = _cohort(tasks=("Think", "Breathe", "Count"))
    X, y, people = _arrays(table, columns)
    model = CertifiedLogisticRegression(epsilon=10.0, feature_map=feature_map, random_state=4)
    model.fit(X, y, groups=people)
    gone = people == "c03"
    Z, Zp = model._design(X[~gone]), model._design(X[gone])
    steps, _ = model.newton_steps(X[~gone], y[~gone], X[gone], y[gone])
    for w, tp, step in zip(model.coef_, model._targets(y[gone]), steps, strict=True):
        gradient = Zp.T @ (-tp * expit(-tp * (Zp @ w))) + model.lam * len(Zp) * w
        exact = np.linalg.solve(_hessian(w, Z, model.lam), gradient)
        np.testing.assert_allclose(step, exact, rtol=0, atol=1e-6 * np.linalg.norm(exact))
    # A kept Hessian that is not one (a damaged file) is replaced by the rows' own.
    model.hessian_ = -np.ones_like(model.hessian_)
    damaged, _ = model.newton_steps(X[~gone], y[~gone], X[gone], y[gone])
    np.testing.assert_allclose(damaged, steps, rtol=0, atol=1e-6 * np.abs(steps).max())


def test_a_bound_that_does_not_fit_takes_exact_residuals_and_further_steps(monkeypatch):
    table, columns = _cohort()
    X, y, people = _arrays(table, columns)
    model = CertifiedLogisticRegression(epsilon=1e-3, sigma=1e-4, random_state=7)
    model.fit(X, y, groups=people)
    kept = people != "c02"
    # One step's residual, even computed exactly, would overrun this small budget.
    with monkeypatch.context() as patch:
        patch.setattr(certified, "NEWTON_STEPS", 1)
        _, single = model.newton_steps(X[kept], y[kept], X[~kept], y[~kept])
    assert np.linalg.norm(model.spent_ + single) > model.budget_
    certificate = model.remove("c02", X[kept], y[kept], X[~kept], y[~kept])
    assert not certificate["retrained"] and certificate["steps"] > 1
    residuals = _residuals(model, X[kept], y[kept], seed=7)
    assert (residuals <= model.spent_ + 1e-12).all(), (residuals, model.spent_)
    assert certificate["spent"] <= certificate["budget"]


def test_a_removal_past_the_budget_retrains_with_fresh_noise(monkeypatch):
    table, columns = _cohort()
    X, y, people = _arrays(table, columns)
    monkeypatch.setattr(certified, "NEWTON_STEPS", 1)  # no further steps: the budget runs out
    model = CertifiedLogisticRegression(epsilon=1e-3, sigma=1e-4, random_state=5)
    model.fit(X, y, groups=people)
    gone = people != "c02"
    newton, _ = model.newton_steps(X[gone], y[gone], X[~gone], y[~gone])
    stepped = model.coef_ + newton
    certificate = model.remove("c02", X[gone], y[gone], X[~gone], y[~gone])
    assert certificate["retrained"] and model.retrains_ == 1
    assert certificate["bound"] > certificate["budget"]
    # A fresh fit on the remaining windows (new noise, same scale), its budget whole again.
    assert not np.allclose(model.coef_, stepped)
    assert model.noise_ == pytest.approx(model.sigma * np.sqrt(len(X)))
    assert model.spent < 1e-6 and certificate["left"] == pytest.approx(model.budget_, 1e-3)
    assert model.n_train_ == int(gone.sum()) and "c02" not in model.participants_
    assert model.hessian_ is not None  # a fresh fit keeps its Hessian for the next removal
    residuals = _residuals(model, X[gone], y[gone], seed=5, draw=1)
    assert (residuals <= model.spent_ + 1e-12).all()


def test_settings_out_of_range_are_refused():
    table, columns = _cohort(participants=4)
    X, y, people = _arrays(table, columns)
    for bad in ({"epsilon": 0}, {"delta": 1.5}, {"sigma": float("nan")}, {"lam": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            CertifiedLogisticRegression(**bad).fit(X, y, groups=people)
    with pytest.raises(Exception, match="no certified form"):
        make_model("svm", unlearnable={"kind": "certified"})


def _objects(obj, seen=None):
    """Every object a fitted model holds (estimators, containers, arrays), once each."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, list | tuple):
        children = list(obj)
    elif hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in (
        "sklearn",
        "eeg4students",
        "pyriemann",
    ):
        children = list(vars(obj).values())
    else:
        return
    for child in children:
        yield from _objects(child, seen)


def _row_arrays(model) -> list[tuple[str, np.ndarray]]:
    """(attribute, array) of every 2-D float array held anywhere in a fitted model."""
    found = []
    for obj in _objects(model):
        if hasattr(obj, "__dict__") and not isinstance(obj, np.ndarray):
            found += [
                (key, value)
                for key, value in vars(obj).items()
                if isinstance(value, np.ndarray) and value.ndim == 2 and value.dtype.kind == "f"
            ]
    return found


def _foreign_rows(model, remaining: np.ndarray, width: int) -> int:
    """Rows of width ``width`` the model holds that are not rows of the remaining data.

    Rows are compared raw and through every scaler the model holds (an SVM keeps its
    support vectors scaled). Weight matrices (a row per class) are not data rows.
    """
    spaces = [remaining]
    spaces += [
        obj.transform(remaining)
        for obj in _objects(model)
        if type(obj).__name__ == "StandardScaler" and hasattr(obj, "mean_")
    ]
    foreign = 0
    for key, array in _row_arrays(model):
        if array.shape[1] != width or key in ("coef_", "means_", "scalings_", "covariance_"):
            continue
        for row in array:
            if not any(
                np.isclose(space, row, rtol=0, atol=1e-9).all(axis=1).any() for space in spaces
            ):
                foreign += 1
    return foreign


@pytest.mark.parametrize(
    ("model", "strategy", "unlearnable"),
    [
        ("svm", "retrain", None),
        ("svm", "sharded", {"kind": "sharded", "shards": 2}),
        ("svm", "conmu", None),
        ("lr", "certified", {"kind": "certified", "epsilon": 10.0}),
        ("rff", "certified", {"kind": "certified", "epsilon": 10.0}),
        ("tmv", "certified", {"kind": "certified", "epsilon": 10.0}),
    ],
)
def test_no_model_keeps_a_row_derived_from_the_removed_participant(model, strategy, unlearnable):
    from eeg4students.training import build_estimator
    from eeg4students.unlearning.conmu import ConMUSettings

    table, columns = _cohort(participants=10)
    members = sorted(table["participant"].unique())[:8]
    strangers = table[~table["participant"].isin(members)]
    trained = table[table["participant"].isin(members)]

    def template():
        return build_estimator(model, None, unlearnable)

    fitted = fit_estimator(template(), trained, columns)
    remain = trained[trained["participant"] != members[0]]
    forget = trained[trained["participant"] == members[0]]
    outcome = apply_strategy(
        strategy,
        fitted,
        template,
        members[0],
        remain,
        forget,
        columns,
        calibration=strangers,
        conmu=ConMUSettings(),
    )
    assert outcome.strategy == strategy
    remaining = remain[columns].to_numpy()
    # An SVM keeps rows: every one of them is a remaining window, none P's nor a copy of one.
    assert _foreign_rows(outcome.estimator, remaining, len(columns)) == 0
    if strategy == "certified":
        held = [k for k, a in _row_arrays(outcome.estimator) if len(a) > 10]
        assert set(held) <= {"gram_"}, "a certified model keeps no data rows"
        # Its one aggregate of rows is exactly what a retrain without P would hold; the
        # Hessian it kept from training (at weights trained with P) is gone.
        parts = getattr(outcome.estimator, "estimators_", [outcome.estimator])
        for part in parts:
            design = part._design(remaining)
            np.testing.assert_allclose(part.gram_, design.T @ design, rtol=0, atol=1e-9)
            assert part.hessian_ is None and part.hessian_at_ is None


def test_the_card_states_the_guarantee_and_forget_records_the_certificate(tmp_path, capsys):
    from eeg4students.cli import main
    from eeg4students.store import Dataset
    from eeg4students.unlearning import audit

    root = tmp_path / "ds"
    args = ["--participants", "8", "--sessions", "1", "--task-seconds", "20", "--seed", "2"]
    assert main(["simulate", "--to", str(root), *args]) == 0
    argv = ["train", str(root), "--model", "lr", "--name", "cert", "--unlearnable", "certified"]
    assert main([*argv, "--epsilon", "100", "--sigma", "5"]) == 0
    out = capsys.readouterr().out
    assert "Certified removal: epsilon 100, delta 1e-05" in out
    card = pd.read_json(root / "derivatives/eeg4students/models/cert/card.json", typ="series")
    assert card["adapt"] == "session" and card["certificate"]["model"]["epsilon"] == 100
    assert "not stored" in card["certificate"]["model"]["noise"]
    people = Dataset(root).participants()
    assert (
        main(["forget", str(root), "--participant", people[0], "--strategy", "certified", "--yes"])
        == 0
    )
    out = capsys.readouterr().out
    assert "model cert: certified approximate" in out and "certificate: (epsilon 100" in out
    entry = audit.read_log(root)[-1]
    certificate = entry["models_updated"][0]["certificate"]
    assert certificate["epsilon"] == 100 and 0 < certificate["left"] < certificate["budget"]
    assert not {"score", "accuracy", "z"} & set(certificate)


@pytest.mark.parametrize("iterations", [1, 12])
def test_the_solver_gives_the_remaining_windows_newton_system_either_way(monkeypatch, iterations):
    """Preconditioned iterations, or the formed matrix when they stop short, solve the same."""
    rng = np.random.default_rng(9)
    Z = rng.normal(size=(400, 80)) / 10
    Zp, curvature, lam = Z[:30], rng.uniform(0.05, 0.25, 30), 0.01
    full = _hessian(rng.normal(size=80) / 5, Z, lam)
    remaining = full - (Zp * curvature[:, None]).T @ Zp - lam * len(Zp) * np.eye(80)
    g = rng.normal(size=80)
    monkeypatch.setattr(certified._Solver, "ITERATIONS", iterations)
    solver = certified._Solver(full, Zp, curvature, lam, share=30 / 400)
    step = solver.solve(g)
    np.testing.assert_allclose(step, np.linalg.solve(remaining, g), rtol=1e-9, atol=1e-12)
    assert solver.leftover(g, step) < 1e-9 * np.linalg.norm(g)
    # One iteration cannot converge: the matrix was formed, and serves the next solve too.
    assert (solver.direct is not None) == (iterations == 1)
