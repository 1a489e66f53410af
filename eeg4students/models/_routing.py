"""Side information reaching models through scikit-learn's metadata routing.

Some of the toolkit's models need to know more than ``X`` and ``y`` at fit:
Time Majority Voting ranks its bases on folds that keep task **blocks**
whole, the sharded (unlearnable) models assign **participants** to shards,
and a tuned SVM searches its settings on folds of whole blocks. Each says so
the way scikit-learn estimators do, as a metadata request of ``fit``
(``groups`` requested as ``"blocks"`` or ``"participants"``), so they also
work inside pipelines, ``cross_validate`` and ``GridSearchCV`` with metadata
routing on. :func:`fit_routed` fits any model with whatever of the
toolkit's metadata it requests, and nothing it does not.
"""

from __future__ import annotations

from typing import ClassVar

from sklearn import config_context
from sklearn.model_selection import GroupKFold
from sklearn.utils.metadata_routing import MetadataRequest, get_routing_for_object

#: Metadata the toolkit can give a model at fit, by name.
METADATA = ("blocks", "participants")


def requested(estimator, method: str = "fit", **metadata) -> dict:
    """The keyword arguments of ``estimator.method`` for the metadata it requests.

    Parameters
    ----------
    estimator : estimator
        A consumer (its own parameter names are used) or a router such as a
        pipeline or a search (the metadata's names are used; it routes them).
    method : str
    **metadata : array-like | None
        ``blocks`` and ``participants`` (None: not available).

    Returns
    -------
    kwargs : dict
    """
    given = {name: value for name, value in metadata.items() if value is not None}
    if not given:
        return {}
    with config_context(enable_metadata_routing=True):
        try:
            routing = get_routing_for_object(estimator)
        except NotImplementedError:  # an estimator without routing (AdaBoost) takes none
            return {}
    if isinstance(routing, MetadataRequest):
        requests = getattr(routing, method).requests
        out = {}
        for param, alias in requests.items():
            name = param if alias is True else alias
            if isinstance(name, str) and name in given:
                out[param] = given[name]
        return out
    consumed = routing.consumes(method, list(given))
    return {name: given[name] for name in consumed}


def fit_routed(estimator, X, y, **metadata):
    """Fit a model with the metadata it requests, routing on (see ``models.fit_model``)."""
    kwargs = requested(estimator, "fit", **metadata)
    with config_context(enable_metadata_routing=True):
        return estimator.fit(X, y, **kwargs)


class BlockGroupKFold(GroupKFold):
    """Group k-fold whose groups are task blocks (``blocks`` under metadata routing)."""

    __metadata_request__split: ClassVar[dict] = {"groups": "blocks"}
