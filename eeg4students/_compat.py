"""Every reach into a dependency beyond its documented API, in one place (as ``mne/fixes.py``).

Each use is gated on what the installed version offers, or on the versions
it was tested with, and falls back to a public path (or to doing without)
otherwise:

- scikit-learn: the parameter constraints its estimators declare
  (:func:`validate_params`), and the classes a fitted model holds that it
  does not export (a tree's ``Tree``, a distance metric, the boosting
  losses: :func:`sklearn_held`), named in the model-file allow-list;
- MNE: ``Info._unlock`` to set the fields MNE guards (:func:`unlocked`);
- mne-bids: two private functions wrapped to make writes quicker
  (:mod:`eeg4students._mne_bids_quick`), only on the versions tested
  (:data:`MNE_BIDS_TESTED`), plain mne-bids otherwise;
- argparse: the action classes and the parser's action list the command
  line extends (:data:`StoreAction`, :func:`parser_actions`).

``tests/test_compat.py`` checks each gate and its fallback.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

#: mne-bids versions whose private write helpers were tested wrapped (their signatures
#: and behaviour: on 0.19 a wrapped write left its lock files behind, mne-bids #1632).
MNE_BIDS_TESTED = (Version("0.20"), Version("0.21"))


def installed(package: str) -> Version | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return Version(version(package))
    except (PackageNotFoundError, ValueError):
        return None


def is_tested(package: str, span: tuple[Version, Version]) -> bool:
    """Whether the installed ``package`` lies in ``[span[0], span[1])``."""
    found = installed(package)
    return found is not None and span[0] <= Version(found.base_version) < span[1]


def validate_params(estimator) -> None:
    """Check an estimator's parameters against the constraints its class declares.

    scikit-learn's estimators declare ``_parameter_constraints`` and check
    them at ``fit``; a model loaded from a file was never fitted here, so its
    parameters are checked with the same function.

    Parameters
    ----------
    estimator : object
        Any estimator; one without declared constraints passes.

    Raises
    ------
    ValueError, TypeError
        If a parameter breaks its constraint (scikit-learn's
        ``InvalidParameterError`` is both).
    """
    try:  # scikit-learn >= 1.2 declares every estimator's parameter constraints
        from sklearn.utils._param_validation import validate_parameter_constraints
    except ImportError:  # pragma: no cover - older scikit-learn: the toolkit's own bounds only
        return
    constraints = getattr(type(estimator), "_parameter_constraints", None)
    if not isinstance(constraints, dict):
        return
    validate_parameter_constraints(
        constraints, estimator.get_params(deep=False), caller_name=type(estimator).__name__
    )


def type_name(cls: type) -> str:
    """A class's full name as model files record it (``module.Class``)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _held(module: str, name: str) -> type | None:
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) else None


#: Classes fitted scikit-learn models hold that scikit-learn does not export, by role.
_HELD = {
    "tree": ("sklearn.tree._tree", "Tree"),
    "euclidean": ("sklearn.metrics._dist_metrics", "EuclideanDistance64"),
    "interval": ("sklearn._loss.link", "Interval"),
    "logit link": ("sklearn._loss.link", "LogitLink"),
    "multinomial link": ("sklearn._loss.link", "MultinomialLogit"),
    "binomial loss": ("sklearn._loss.loss", "HalfBinomialLoss"),
    "multinomial loss": ("sklearn._loss.loss", "HalfMultinomialLoss"),
    "binomial loss (compiled)": ("sklearn._loss._loss", "CyHalfBinomialLoss"),
    "multinomial loss (compiled)": ("sklearn._loss._loss", "CyHalfMultinomialLoss"),
}


@functools.cache
def sklearn_held() -> dict[str, type | None]:
    """The classes of :data:`_HELD` on the installed scikit-learn (None where it has none).

    Model files holding a class that is None here are refused: the allow-list
    names only what the installed version has.
    """
    return {role: _held(module, name) for role, (module, name) in _HELD.items()}


def unlocked(info):
    """A context in which an ``mne.Info`` may be changed directly (MNE's private ``_unlock``).

    MNE guards some ``Info`` fields (``device_info``, ``subject_info``) against
    direct assignment, and has no public setter for them; ``Info._unlock``
    lifts the guard. Without it (a version that does not guard), nothing
    needs lifting.
    """
    lift = getattr(info, "_unlock", None)
    return lift() if callable(lift) else contextlib.nullcontext()


def mne_bids_quick_writes():
    """:func:`eeg4students._mne_bids_quick.quick_writes` on a tested mne-bids, else nothing."""
    if is_tested("mne-bids", MNE_BIDS_TESTED):
        from eeg4students._mne_bids_quick import quick_writes

        return quick_writes()
    return contextlib.nullcontext()


#: argparse's action classes the command line subclasses (stable since Python 3.2).
StoreAction = argparse._StoreAction
StoreTrueAction = argparse._StoreTrueAction
AppendAction = argparse._AppendAction
SubParsersAction = argparse._SubParsersAction


def parser_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The actions of a parser (argparse keeps them in ``_actions``; no public accessor)."""
    return list(getattr(parser, "_actions", []))
