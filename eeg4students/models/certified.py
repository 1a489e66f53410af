"""Certified removal of a participant (Guo, Goldstein, Hannun, van der Maaten, ICML 2020).

A model with a smooth, strongly convex loss can forget training data in one
Newton step with a *guarantee*. Logistic regression is trained on the
objective

    L(w; D) = sum_i log(1 + exp(-t_i w.z_i)) + (lam n / 2) ||w||^2 + b.w

with a random linear term ``b ~ N(0, sigma^2 I)`` (objective perturbation),
on feature rows ``z`` inside the unit ball. To remove a participant's ``m``
windows, one Newton step on the remaining data's loss moves the weights
from ``w`` to ``w - H^-1 g`` (``g`` the remaining data's gradient at ``w``,
computed from the removed windows alone; ``H`` its Hessian). The update is
not exactly the retrained optimum: its gradient residual on the remaining
data is at most ``gamma ||Z'|| ||H^-1 g|| ||Z' H^-1 g||`` (``Z'`` the
remaining rows, ``gamma = 1/4`` bounds the logistic loss's third
derivative; Guo et al., Corollary 1).

The step is solved without forming ``H`` (which costs a pass of ``n d^2``
over the remaining windows, about what a refit costs): conjugate gradients
with Hessian-vector products (``n d`` each), preconditioned by the
logistic Hessian's upper bound ``Z'^T Z' / 4 + lam n I``, which does not
depend on the weights. The model keeps the Gram matrix ``Z^T Z`` of its
training rows for this (``gram_``, ``d x d``: a sum over windows, no row);
a removal subtracts the removed windows' part, so it holds exactly what a
retrain without them would (up to rounding). What the solver leaves
unsolved is computed exactly and added to the bound, so the certificate
never rests on the solver's convergence. While the residuals summed over
removals stay below the budget ``sigma epsilon / c`` with
``c = sqrt(2 log(1.5 / delta))`` (their Theorem 3), the model is
``(epsilon, delta)``-indistinguishable from one retrained without the
removed data, *as far as its weights are concerned*. Past the budget the
model is retrained on the remaining data with fresh noise, and says so.

The knobs, each with a meaning:

- **privacy**: ``epsilon`` and ``delta`` of the certificate;
- **efficiency**: how many removals fit in the budget before a retrain,
  which grows with ``sigma`` (and ``epsilon``) and with ``lam`` (stronger
  regularisation makes each Newton step, and its residual, smaller);
- **utility**: ``lam`` and ``sigma`` (regularisation and noise cost accuracy).

Assumptions, stated on every model card: feature rows lie in the unit ball
(each row is divided by ``radius`` and clipped to norm ``sqrt(1 - 0.25)``,
then a constant ``0.5`` is appended for the intercept; ``radius`` defaults to
what the feature map guarantees, or to twice a standardised row's typical
norm); the feature map is data-independent (none, random Fourier
features, the tangent space at the identity), so the remaining
participants' features do not depend on the one removed; the noise ``b`` is
drawn from the operating system's entropy and never stored (a seed given as
``random_state`` makes it reproducible for tests and voids the certificate).
Multi-class models are one-vs-rest: each of the ``K`` binary models is
certified at ``(epsilon / K, delta / K)``, the whole at ``(epsilon, delta)``
by composition.

``rff`` (random Fourier features, Rahimi and Recht 2007, with scikit-learn's
:class:`~sklearn.kernel_approximation.RBFSampler`) makes the RBF SVM's
unlearnable twin; :class:`TangentSpaceAtIdentity` the tangent-space model's
(after session re-centring, which puts each session's mean at the identity).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from eeg4students.models.riemann import CovarianceColumns
from eeg4students.models.tmv import TimeMajorityVoting

#: Bound on the logistic loss's third derivative (Guo et al. use 1/4; the exact value is
#: 1/(6 sqrt 3), so the bounds are conservative).
GAMMA = 0.25
#: The constant feature appended for the intercept; rows are clipped to the rest of the ball.
INTERCEPT = 0.5
#: Gradient norm the training optimisation stops at (counted in the budget).
TOLERANCE = 1e-9


def noise_scale_budget(epsilon: float, delta: float, sigma: float) -> float:
    """The gradient-residual budget ``sigma epsilon / sqrt(2 log(1.5 / delta))`` (Theorem 3)."""
    return sigma * epsilon / math.sqrt(2 * math.log(1.5 / delta))


def _loss_and_gradient(w: np.ndarray, Z: np.ndarray, t: np.ndarray, lam: float, b: np.ndarray):
    margins = t * (Z @ w)
    loss = np.logaddexp(0, -margins).sum() + 0.5 * lam * len(Z) * w @ w + b @ w
    gradient = Z.T @ (-t * expit(-margins)) + lam * len(Z) * w + b
    return loss, gradient


def _hessian(w: np.ndarray, Z: np.ndarray, lam: float) -> np.ndarray:
    p = expit(Z @ w)
    return (Z * (p * (1 - p))[:, None]).T @ Z + lam * len(Z) * np.eye(Z.shape[1])


def _hessian_times(v: np.ndarray, Z: np.ndarray, curvature: np.ndarray, lam: float) -> np.ndarray:
    """``H v`` without ``H``: ``Z^T (curvature * (Z v)) + lam n v`` (two passes of ``n d``)."""
    return Z.T @ (curvature * (Z @ v)) + lam * len(Z) * v


def _newton_step(
    Z: np.ndarray, curvature: np.ndarray, lam: float, rhs: np.ndarray, factor
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``H s = rhs`` by preconditioned conjugate gradients; ``s`` and ``rhs - H s``.

    ``factor`` is the Cholesky factorisation (scipy's ``cho_factor``) of the
    preconditioner. Stops when the residual is below a hundredth of
    :data:`TOLERANCE` or after ``4 d`` iterations; the residual left is
    returned, computed afresh, for the bound.
    """
    from scipy.linalg import cho_solve

    step = np.zeros_like(rhs)
    residual = rhs.copy()
    preconditioned = cho_solve(factor, residual)
    direction = preconditioned.copy()
    product = residual @ preconditioned
    for _ in range(4 * len(rhs)):
        if np.linalg.norm(residual) <= TOLERANCE / 100:
            break
        h_direction = _hessian_times(direction, Z, curvature, lam)
        size = product / (direction @ h_direction)
        step += size * direction
        residual -= size * h_direction
        preconditioned = cho_solve(factor, residual)
        product, previous = residual @ preconditioned, product
        direction = preconditioned + (product / previous) * direction
    return step, rhs - _hessian_times(step, Z, curvature, lam)


def _minimise(Z: np.ndarray, t: np.ndarray, lam: float, b: np.ndarray) -> np.ndarray:
    """The perturbed objective's minimiser, polished by Newton steps to :data:`TOLERANCE`."""
    w = np.zeros(Z.shape[1])
    result = minimize(
        _loss_and_gradient,
        w,
        args=(Z, t, lam, b),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000, "gtol": 1e-8},
    )
    w = result.x
    for _ in range(20):  # strongly convex: a few Newton steps reach machine precision
        gradient = _loss_and_gradient(w, Z, t, lam, b)[1]
        if np.linalg.norm(gradient) <= TOLERANCE:
            break
        w = w - np.linalg.solve(_hessian(w, Z, lam), gradient)
    return w


class RandomFourierFeatures(TransformerMixin, BaseEstimator):
    """Random Fourier features of an RBF kernel, fixed by a seed (data-independent).

    scikit-learn's :class:`~sklearn.kernel_approximation.RBFSampler`, with the
    kernel width ``gamma = 1 / n_features`` when not given (the RBF SVM's
    ``gamma="scale"`` on standardised features), fitted on shapes only.

    Parameters
    ----------
    n_components : int
        Random features (the kernel's approximation improves with more).
    gamma : float | None
    random_state : int
        Seed of the random projection (public: the map is not a secret).
    """

    def __init__(self, n_components=300, gamma=None, random_state=0):
        self.n_components = n_components
        self.gamma = gamma
        self.random_state = random_state

    def fit(self, X, y=None):
        """Draw the projection for X's width."""
        from sklearn.kernel_approximation import RBFSampler

        X = validate_data(self, X, dtype=np.float64)
        gamma = self.gamma if self.gamma is not None else 1.0 / X.shape[1]
        self.sampler_ = RBFSampler(
            gamma=gamma, n_components=self.n_components, random_state=self.random_state
        ).fit(X[:1])
        # sqrt(2 / D) cos(.) in each of D components: every row's norm is at most sqrt(2).
        self.norm_bound_ = math.sqrt(2.0)
        return self

    def transform(self, X) -> np.ndarray:
        """Features, shape (n_windows, n_components), each row of norm at most sqrt(2)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.sampler_.transform(X)


class TangentSpaceAtIdentity(CovarianceColumns):
    """Covariance columns mapped to the tangent space at the identity (data-independent).

    The usual tangent space is taken at the training matrices' mean, which
    depends on every participant; at the identity it depends on none (after
    session re-centring, the identity is each session's mean).

    Parameters
    ----------
    columns : list of int | None
        Positions of the ``cov_`` columns in X; None takes every column.
    """

    def transform(self, X) -> np.ndarray:
        """Tangent vectors, shape (n_windows, n_channels * (n_channels + 1) / 2)."""
        from pyriemann.geometry.tangentspace import tangent_space

        return tangent_space(super().transform(X), np.eye(self.n_channels_))


class CertifiedLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression trained for certified removal of participants.

    Parameters
    ----------
    epsilon, delta : float
        The certificate's privacy parameters (whole model).
    sigma : float
        Standard deviation of the objective's random linear term.
    lam : float
        L2 strength per window (the objective's penalty is ``lam n / 2 ||w||^2``).
    radius : float | None
        Rows (after the feature map) are divided by it, then clipped into the
        ball. None: what the map guarantees (random Fourier features: every
        row), else twice the typical norm of a standardised row
        (``2 sqrt(n_features)``).
    feature_map : transformer | None
        A data-independent map applied first (:class:`RandomFourierFeatures`,
        :class:`TangentSpaceAtIdentity`); it is fitted on one row only.
    random_state : int | None
        Seed of the noise. None (the default, and the only setting with a
        certificate) draws it from the operating system's entropy.

    Attributes
    ----------
    classes_ : ndarray
    coef_ : ndarray, shape (n_models, n_features + 1)
        One binary model for two classes, one per class otherwise; the last
        column weighs the constant feature.
    budget_ : float
        Gradient-residual budget of each binary model.
    spent_ : ndarray, shape (n_models,)
        Residual bound used so far (training's own residual included).
    gram_ : ndarray, shape (n_features + 1, n_features + 1)
        ``Z^T Z`` of the rows the model holds (in the ball, with the constant
        feature): the removal's preconditioner. A sum over windows; a
        removal subtracts the removed windows' part.
    n_train_ : int
        Windows the current weights were fitted or updated on.
    participants_ : list of str
        Participants the model holds (without those removed).
    removals_ : list of dict
        Each removal's accounting: ``bound`` (the residual bound it used) and
        ``retrained`` (whether the budget ran out). Nothing else of the
        participant is kept.
    retrains_ : int
        Retrains after the budget ran out.
    """

    __metadata_request__fit: ClassVar[dict] = {"groups": "participants"}

    def __init__(
        self,
        epsilon=1.0,
        delta=1e-5,
        sigma=1.0,
        lam=1e-2,
        radius=None,
        feature_map=None,
        random_state=None,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.sigma = sigma
        self.lam = lam
        self.radius = radius
        self.feature_map = feature_map
        self.random_state = random_state

    # -- features ------------------------------------------------------------

    def _design(self, X: np.ndarray) -> np.ndarray:
        """Rows mapped, scaled into the ball and given the constant feature."""
        mapped = X if self.feature_map_ is None else self.feature_map_.transform(X)
        mapped = np.asarray(mapped, dtype=float) / self.radius_
        norms = np.linalg.norm(mapped, axis=1, keepdims=True)
        room = math.sqrt(1 - INTERCEPT**2)
        mapped = mapped * np.minimum(1.0, room / np.maximum(norms, 1e-300))
        return np.hstack([mapped, np.full((len(mapped), 1), INTERCEPT)])

    def _default_radius(self, X: np.ndarray) -> float:
        """Rows the map bounds fill the ball; standardised rows up to twice their typical norm."""
        room = math.sqrt(1 - INTERCEPT**2)
        bound = getattr(self.feature_map_, "norm_bound_", None)
        if bound is not None:
            return float(bound) / room
        mapped = X[:1] if self.feature_map_ is None else self.feature_map_.transform(X[:1])
        return 2 * math.sqrt(mapped.shape[1]) / room

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """+1/-1 targets per binary model, shape (n_models, n_windows)."""
        if len(self.classes_) == 2:
            return np.where(y == self.classes_[1], 1.0, -1.0)[None, :]
        return np.array([np.where(y == c, 1.0, -1.0) for c in self.classes_])

    # -- training ------------------------------------------------------------

    def _check_params(self) -> None:
        for name, low in (("epsilon", 0.0), ("sigma", 0.0), ("lam", 0.0)):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > low):
                raise ValueError(f"{name} must be a positive number, not {value!r}.")
        if not (isinstance(self.delta, int | float) and 0 < self.delta < 1):
            raise ValueError(f"delta must be in (0, 1), not {self.delta!r}.")

    def _train(self, Z: np.ndarray, y: np.ndarray, draw: int) -> None:
        targets = self._targets(y)
        k = len(targets)
        self.budget_ = noise_scale_budget(self.epsilon / k, self.delta / k, self.sigma)
        noise = _noise(self.random_state, draw, self.sigma, (k, Z.shape[1]))
        pairs = zip(targets, noise, strict=True)
        self.coef_ = np.array([_minimise(Z, t, self.lam, b) for t, b in pairs])
        # The optimiser's own residual counts: the minimiser is exact only up to it.
        self.spent_ = np.array(
            [
                np.linalg.norm(_loss_and_gradient(w, Z, t, self.lam, b)[1])
                for w, t, b in zip(self.coef_, targets, noise, strict=True)
            ]
        )
        self.n_train_ = len(Z)
        self.gram_ = Z.T @ Z

    def fit(self, X, y, groups=None):
        """Fit with a fresh random linear term.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
        y : array-like, shape (n_windows,)
        groups : array-like, shape (n_windows,) | None
            Participant of every window (requested as ``participants``).

        Returns
        -------
        self : CertifiedLogisticRegression
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                "CertifiedLogisticRegression needs at least two classes; y holds one class."
            )
        self.feature_map_ = None
        if self.feature_map is not None:
            self.feature_map_ = clone(self.feature_map).fit(X[:1])  # shapes only: no data
        self.radius_ = float(self.radius) if self.radius is not None else self._default_radius(X)
        people = np.arange(len(X)).astype(str) if groups is None else np.asarray(groups)
        self.participants_ = sorted(np.unique(people.astype(str)).tolist())
        self.removals_ = []
        self.retrains_ = 0
        self._train(self._design(X), y, draw=0)
        return self

    # -- removal -------------------------------------------------------------

    def remove(self, participant: str, X, y, X_forget, y_forget) -> dict:
        """Remove one participant's windows by a Newton step, or retrain past the budget.

        Parameters
        ----------
        participant : str
            Who is removed (one of :attr:`participants_`).
        X, y : array-like, shape (n_windows, n_features), (n_windows,)
            The remaining training windows.
        X_forget, y_forget : array-like
            The participant's windows (used for the step, never kept).

        Returns
        -------
        certificate : dict
            ``epsilon``, ``delta``, ``bound`` (this removal's residual bound,
            the largest over binary models), ``spent`` and ``left`` (of the
            budget, the tightest binary model), ``budget`` and ``retrained``
            (True when the budget ran out: the model was refitted on ``X``
            with fresh noise, and its budget restarts).

        Raises
        ------
        ValueError
            If the model never saw the participant.
        """
        check_is_fitted(self)
        participant = str(participant)
        if participant not in self.participants_:
            raise ValueError(f"The model holds no participant {participant!r}.")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        X_forget = validate_data(self, X_forget, dtype=np.float64, reset=False)
        y, y_forget = np.asarray(y), np.asarray(y_forget)
        Z, Zp = self._design(X), self._design(X_forget)
        steps, bounds = self.newton_steps(Z, y, Zp, y_forget)
        # A bound that is not a number (a damaged model file) spends the whole budget.
        finite = np.isfinite(bounds).all() and np.isfinite(steps).all()
        retrained = bool(not finite or np.any(self.spent_ + bounds > self.budget_))
        if retrained:
            self.retrains_ += 1
            self._train(Z, y, draw=self.retrains_)
        else:
            self.coef_ = self.coef_ + steps
            self.spent_ = self.spent_ + bounds
            self.n_train_ = len(Z)
            self.gram_ = self._gram(Z, Zp) - Zp.T @ Zp
        self.participants_ = [p for p in self.participants_ if p != participant]
        spent = float(bounds.max()) if finite else float(self.budget_)
        record = {"bound": spent, "retrained": retrained}
        self.removals_.append(record)
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "budget": float(self.budget_),
            "spent": float(self.spent_.max()),
            "left": float(self.budget_ - self.spent_.max()),
            **record,
        }

    def newton_steps(self, Z, y, Zp, y_forget) -> tuple[np.ndarray, np.ndarray]:
        """The Newton step of every binary model and its residual bound (nothing changes).

        Parameters
        ----------
        Z, y : ndarray
            Remaining rows (already mapped by :meth:`_design`) and their labels
            (unused: the logistic loss's Hessian does not depend on them).
        Zp, y_forget : ndarray
            The removed rows and labels.

        Returns
        -------
        steps : ndarray, shape (n_models, n_features + 1)
        bounds : ndarray, shape (n_models,)
            ``||g - H step|| + gamma ||Z||_F ||step|| ||Z step||`` per binary
            model: what the solver left unsolved (near zero), plus Corollary 1's
            bound on the rest (the Frobenius norm bounds the spectral norm from
            above).
        """
        from scipy.linalg import cho_factor

        removed = self._targets(y_forget)
        # ||Z||_2 <= ||Z||_F: the Frobenius norm costs one pass over the rows, an SVD many.
        spectral = float(np.linalg.norm(Z)) if len(Z) else 0.0
        # The logistic Hessian's upper bound (curvature <= 1/4), whatever the weights.
        ridge = self.lam * len(Z) * np.eye(Z.shape[1])
        try:
            factor = cho_factor((self._gram(Z, Zp) - Zp.T @ Zp) / 4 + ridge)
        except np.linalg.LinAlgError:  # a kept Gram matrix that is not one: the rows' own
            factor = cho_factor(Z.T @ Z / 4 + ridge)
        margins = Z @ self.coef_.T
        steps, bounds = [], []
        for k, (w, tp) in enumerate(zip(self.coef_, removed, strict=True)):
            # The remaining data's gradient at w, from the removed windows alone (the whole
            # objective's gradient at w is zero up to the training residual, counted).
            removed_gradient = Zp.T @ (-tp * expit(-tp * (Zp @ w))) + self.lam * len(Zp) * w
            p = expit(margins[:, k])
            step, left = _newton_step(Z, p * (1 - p), self.lam, removed_gradient, factor)
            steps.append(step)
            taylor = GAMMA * spectral * np.linalg.norm(step) * np.linalg.norm(Z @ step)
            bounds.append(np.linalg.norm(left) + taylor)
        return np.array(steps), np.array(bounds)

    def _gram(self, Z: np.ndarray, Zp: np.ndarray) -> np.ndarray:
        """``Z^T Z`` of the rows held (kept since training; rebuilt for older model files)."""
        gram = getattr(self, "gram_", None)
        return gram if gram is not None else Z.T @ Z + Zp.T @ Zp

    # -- prediction ----------------------------------------------------------

    def decision_function(self, X) -> np.ndarray:
        """Margins, shape (n_windows,) for two classes, (n_windows, n_classes) otherwise."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        margins = self._design(X) @ self.coef_.T
        return margins[:, 0] if len(self.classes_) == 2 else margins

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_windows, n_classes) (one-vs-rest, normalised)."""
        margins = self.decision_function(X)
        if len(self.classes_) == 2:
            p = expit(margins)
            return np.stack([1 - p, p], axis=1)
        p = expit(margins)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Most probable class per window."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


def _noise(seed: int | None, draw: int, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """The objective's random linear terms; from the OS's entropy unless a seed is given."""
    rng = np.random.default_rng(None if seed is None else [int(seed), int(draw)])
    return rng.normal(0.0, sigma, shape)


class CertifiedTMV(TimeMajorityVoting):
    """Time Majority Voting over certified bases, in a fixed order.

    The usual TMV ranks its bases by cross-validation on the training data,
    which would let the removed participant decide the order; here the
    order is the one given (the RBF twin first), so the vote adds nothing a
    participant could leave behind. Each base is certified at its own
    ``(epsilon, delta)``; :func:`~eeg4students.models.make_tmv` gives each half.

    Parameters
    ----------
    estimators : list of (str, CertifiedLogisticRegression)
    mode, k : see :class:`~eeg4students.models.TimeMajorityVoting`
    """

    __metadata_request__fit: ClassVar[dict] = {"groups": "participants"}

    def __init__(self, estimators=None, mode="block", k=5):
        self.estimators = estimators
        self.mode = mode
        self.k = k

    def fit(self, X, y, groups=None):
        """Fit every base on the participants in ``groups``; keep the given order."""
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        bases = list(self.estimators or [])
        if len(bases) < 2:
            raise ValueError("CertifiedTMV needs at least two certified bases.")
        self.classes_ = np.unique(y)
        self.estimators_ = [clone(base).fit(X, y, groups=groups) for _, base in bases[:2]]
        self.ranking_ = [name for name, _ in bases]
        self.scores_ = {name: float("nan") for name, _ in bases}
        return self

    @property
    def participants_(self) -> list[str]:
        """Participants the model holds."""
        return self.estimators_[0].participants_

    def remove(self, participant: str, X, y, X_forget, y_forget) -> dict:
        """Remove a participant from both bases; the certificate of each, by base name."""
        check_is_fitted(self)
        return {
            name: base.remove(participant, X, y, X_forget, y_forget)
            for name, base in zip(self.ranking_, self.estimators_, strict=False)
        }


def certificate_card(model) -> dict | None:
    """What a model card says of a certified model's guarantee (None for other models).

    Parameters
    ----------
    model : estimator
        A fitted :class:`CertifiedLogisticRegression` or :class:`CertifiedTMV`.

    Returns
    -------
    card : dict | None
        ``guarantee`` (a sentence), and per certified model (by base name for
        TMV) ``epsilon``, ``delta``, ``sigma``, ``lam``, ``budget``, ``spent``,
        ``left``, ``removals``, ``retrains``, ``features`` (how rows are put
        in the unit ball) and ``noise``.
    """
    if isinstance(model, CertifiedTMV):
        parts = dict(zip(model.ranking_, model.estimators_, strict=False))
    elif isinstance(model, CertifiedLogisticRegression):
        parts = {"model": model}
    else:
        return None
    out = {
        "guarantee": "(epsilon, delta)-certified removal of each participant removed by a "
        "Newton step (Guo et al. 2020): the weights are indistinguishable from a retrain "
        "without them; the guarantee covers the weights only",
    }
    for name, part in parts.items():
        mapped = type(part.feature_map_).__name__ if part.feature_map_ is not None else "none"
        out[name] = {
            "epsilon": float(part.epsilon),
            "delta": float(part.delta),
            "sigma": float(part.sigma),
            "lam": float(part.lam),
            "budget": round(float(part.budget_), 6),
            "spent": round(float(part.spent_.max()), 6),
            "left": round(float(part.budget_ - part.spent_.max()), 6),
            "removals": len(part.removals_),
            "retrains": int(part.retrains_),
            "features": f"map {mapped}; rows divided by {part.radius_:.4g}, clipped to norm "
            f"{math.sqrt(1 - INTERCEPT**2):.3f}, constant {INTERCEPT} appended",
            "noise": "Gaussian, from the operating system's entropy, not stored"
            if part.random_state is None
            else f"Gaussian, seeded ({part.random_state}): no certificate",
        }
    return out
