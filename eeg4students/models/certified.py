"""Certified removal of a participant (Guo, Goldstein, Hannun, van der Maaten, ICML 2020).

A model with a smooth, strongly convex loss can forget training data in one
Newton step with a *guarantee*. Logistic regression is trained on the
objective

    L(w; D) = sum_i log(1 + exp(-t_i w.z_i)) + (lam n / 2) ||w||^2 + b.w

with a random linear term ``b ~ N(0, s^2 I)`` (objective perturbation; the
noise ``s = sigma sqrt(n)`` grows with the ``n`` training windows like the
data's own sampling noise, so its cost in accuracy stays about the same at
any data size), on feature rows ``z`` inside the unit ball. To remove a
participant's ``m`` windows, one Newton step on the remaining data's loss
moves the weights from ``w`` to ``w + H^-1 g`` (``g`` the removed windows'
gradient at ``w``, ``H`` the remaining data's Hessian). The update is not
exactly the retrained optimum: what is left of the remaining data's
gradient, the *gradient residual*, decides the certificate (their Theorem
3): while the residuals summed over removals stay below the budget
``s epsilon / c`` with ``c = sqrt(2 log(1.5 / delta))``, the model is
``(epsilon, delta)``-indistinguishable from one retrained without the removed
data, *as far as its weights are concerned*. Past the budget the model is
retrained on the remaining data with fresh noise, and says so.

A removal that is small beside the budget touches no remaining window. The
model keeps, as sums over its windows (no row), the Gram matrix ``Z^T Z``
(``gram_``) and, until its first removal, the Hessian of each binary model
at weights ``w~`` within a rounding of its own (``hessian_``, the last one
training's Newton polish computed, and ``hessian_at_``). A removal takes the
removed windows' part out of both (from the Gram matrix, which it keeps;
from the Hessian only as an operator: the step is solved by conjugate
gradients preconditioned by the kept Hessian's Cholesky factor, a few
iterations of ``m d``) and bounds the residual from the Gram matrix alone:
with ``d_i = z_i.s`` the step's change of each margin, ``M = 1 / (6 sqrt
3)`` the largest third derivative of the logistic loss and rows of norm at
most 1 (Taylor's theorem per window, then Cauchy-Schwarz),

    ||residual|| <= ||g - H~ s|| + M ||Z'(w - w~)|| ||Z' s|| + (M / 2) ||Z' s||^2

where ``||Z' v||^2 = v^T (Z'^T Z') v`` comes from the kept Gram matrix: the
solver's leftover, the Hessian's offset from the current weights, and the
curvature's change along the step. It is more than ten times tighter than
Guo et al.'s Corollary 1 (``gamma ||Z'|| ||s|| ||Z' s||``) on the cohorts of
``tests/test_certified.py``, which checks it. When the bound would spend
more than a tenth of the budget or does not fit what is left (a person who
is a large share of the data), the residual is computed exactly from the
remaining windows (the noise cancels out of its change, and it can be far
below the bound), and further Newton steps with the same Hessian follow
while it still would (at most :data:`NEWTON_STEPS`, a pass each); the
removal goes ahead if what it then spends fits the budget: the theorem needs
the residual below the budget, however the update was reached. After a
removal the kept Hessian (at weights trained with the person) is dropped;
the next removal recomputes it from the remaining windows at the current
weights (a pass of ``n d^2``, still no optimisation).

Multi-class models are one-vs-rest, trained and certified jointly: the
``K`` binary models are one model whose weights are their concatenation,
with one Gaussian ``b`` in ``K d`` dimensions, so Theorem 3 applies to the
whole with the residual's norm over all of them (each binary model's
summed bounds, combined as a Euclidean norm) and one budget at
``(epsilon, delta)``.

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
``random_state`` makes it reproducible for tests and voids the certificate);
its scale is set at the first fit and kept by the retrains past the budget.
The sums a model keeps (Gram matrix, Hessian) are trusted to be those of its
own rows, as its weights are trusted to be their optimum: a model file's are
checked for shape and finiteness when it is loaded, not recomputed.

``rff`` (random Fourier features, Rahimi and Recht 2007, with scikit-learn's
:class:`~sklearn.kernel_approximation.RBFSampler`) makes the RBF SVM's
unlearnable twin; :class:`TangentSpaceAtIdentity` the tangent-space model's
(after session re-centring, which puts each session's mean at the identity).
"""

from __future__ import annotations

import functools
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

#: The logistic loss's largest third derivative, ``1 / (6 sqrt 3)``: how fast its curvature
#: ``p (1 - p)`` changes with the margin (Guo et al. round it up to 1/4).
CURVATURE_LIPSCHITZ = 1 / (6 * math.sqrt(3))
#: The constant feature appended for the intercept; rows are clipped to the rest of the ball.
INTERCEPT = 0.5
#: Gradient norm the training optimisation stops at (counted in the budget).
TOLERANCE = 1e-9
#: Newton steps a removal may take (each after the first reads the remaining windows once).
NEWTON_STEPS = 5
#: The share of the budget a removal aims to spend at most: above it the residual is computed
#: exactly (one pass over the remaining windows) and further Newton steps follow, so the
#: budget lasts.
BOUND_SHARE = 0.1


def noise_scale_budget(epsilon: float, delta: float, noise: float) -> float:
    """The gradient-residual budget ``noise epsilon / sqrt(2 log(1.5 / delta))`` (Theorem 3)."""
    return noise * epsilon / math.sqrt(2 * math.log(1.5 / delta))


def _loss_and_gradient(w: np.ndarray, Z: np.ndarray, t: np.ndarray, lam: float, b: np.ndarray):
    margins = t * (Z @ w)
    loss = np.logaddexp(0, -margins).sum() + 0.5 * lam * len(Z) * w @ w + b @ w
    gradient = Z.T @ (-t * expit(-margins)) + lam * len(Z) * w + b
    return loss, gradient


def _hessian(w: np.ndarray, Z: np.ndarray, lam: float) -> np.ndarray:
    p = expit(Z @ w)
    return (Z * (p * (1 - p))[:, None]).T @ Z + lam * len(Z) * np.eye(Z.shape[1])


def _minimise(Z: np.ndarray, t: np.ndarray, lam: float, b: np.ndarray):
    """The perturbed objective's minimiser, polished by Newton steps to :data:`TOLERANCE`.

    Returns
    -------
    w : ndarray, shape (n_features,)
    hessian : ndarray, shape (n_features, n_features)
        The Hessian of the last Newton step (computed at the minimiser when no
        step was needed).
    at : ndarray, shape (n_features,)
        The weights it was computed at (within a rounding of ``w``).
    """
    result = minimize(
        _loss_and_gradient,
        np.zeros(Z.shape[1]),
        args=(Z, t, lam, b),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000, "gtol": 1e-8},
    )
    w, hessian, at = result.x, None, None
    for _ in range(20):  # strongly convex: a few Newton steps reach machine precision
        gradient = _loss_and_gradient(w, Z, t, lam, b)[1]
        if np.linalg.norm(gradient) <= TOLERANCE and hessian is not None:
            break
        hessian, at = _hessian(w, Z, lam), w.copy()
        if np.linalg.norm(gradient) <= TOLERANCE:
            break
        w = w - np.linalg.solve(hessian, gradient)
    return w, hessian, at


@functools.cache
def _threadpools():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread():
    """A context in which BLAS runs on one thread (small matrices are faster so)."""
    return _threadpools().limit(limits=1, user_api="blas")


def _gram_norm(gram: np.ndarray, v: np.ndarray) -> float:
    """``||Z v||`` from ``Z^T Z`` (never negative, whatever the rounding)."""
    return math.sqrt(max(float(v @ gram @ v), 0.0))


class _Solver:
    """Solves one binary model's Newton system on the remaining windows.

    The remaining data's Hessian is ``H - P``: ``H`` a Hessian on all the
    rows the model held (kept from training, or computed from the remaining
    rows, then ``P`` is absent), ``P v = Zp^T (c * (Zp v)) + lam m v`` the
    removed windows' part. With many features and a small share removed,
    conjugate gradients preconditioned by ``H`` (factorised once) apply ``P``
    without forming it (``m d`` per iteration against ``m d^2``) and converge
    in a few iterations; otherwise, or when they do not converge within
    :data:`ITERATIONS`, ``H - P`` is formed and factorised once, for this
    solve and the next. What is left unsolved is given by :meth:`leftover`,
    for the bound.
    """

    #: Conjugate-gradient iterations before ``H - P`` is formed instead.
    ITERATIONS = 12

    def __init__(
        self, hessian, Zp=None, curvature=None, lam: float = 0.0, share: float = 0.0
    ) -> None:
        from scipy.linalg import LinAlgError, cho_factor

        self.hessian, self.Zp, self.curvature, self.lam = hessian, Zp, curvature, lam
        # Each way factorises once, and raises LinAlgError when its matrix is not
        # positive definite (a damaged model file).
        self.factor = self.direct = None
        if Zp is None:
            self.factor = self.direct = cho_factor(hessian)
        elif len(hessian) <= 4 * self.ITERATIONS or share > 0.2:
            # Forming P costs m d^2, about what the iterations cost for d up to 4 per
            # iteration; a large share removed slows the iterations down.
            self._form()
            if self.direct is None:
                raise LinAlgError("the remaining windows' Hessian is not positive definite")
        else:
            self.factor = cho_factor(hessian)

    def _form(self) -> None:
        """Factorise ``H - P`` (kept unfactorised when rounding made it indefinite)."""
        from scipy.linalg import LinAlgError, cho_factor

        removed = (self.Zp * self.curvature[:, None]).T @ self.Zp
        removed += self.lam * len(self.Zp) * np.eye(len(self.hessian))
        try:
            self.direct = cho_factor(self.hessian - removed, check_finite=False)
        except LinAlgError:
            self.direct = None

    def _removed(self, v: np.ndarray) -> np.ndarray:
        return self.Zp.T @ (self.curvature * (self.Zp @ v)) + self.lam * len(self.Zp) * v

    def apply(self, v: np.ndarray) -> np.ndarray:
        """``(H - P) v``."""
        return self.hessian @ v - (self._removed(v) if self.Zp is not None else 0.0)

    def solve(self, g: np.ndarray) -> np.ndarray:
        """``s`` with ``(H - P) s = g`` (to rounding, or as far as the solver went)."""
        from scipy.linalg import cho_solve

        if self.direct is not None:
            return cho_solve(self.direct, g, check_finite=False)
        s = cho_solve(self.factor, g, check_finite=False)
        residual = g - self.apply(s)
        z = cho_solve(self.factor, residual, check_finite=False)
        direction, product = z.copy(), residual @ z
        for _ in range(self.ITERATIONS):
            if np.linalg.norm(residual) <= 1e-14 * np.linalg.norm(g) or product <= 0:
                return s
            image = self.apply(direction)
            size = product / (direction @ image)
            s += size * direction
            residual -= size * image
            z = cho_solve(self.factor, residual, check_finite=False)
            product, previous = residual @ z, product
            direction = z + (product / previous) * direction
        if np.linalg.norm(residual) <= 1e-14 * np.linalg.norm(g):
            return s
        self._form()
        if self.direct is None:  # keep what the iterations gave
            return s
        return cho_solve(self.direct, g, check_finite=False)

    def leftover(self, g: np.ndarray, s: np.ndarray) -> float:
        """``||g - (H - P) s||``, computed afresh."""
        return float(np.linalg.norm(g - self.apply(s)))


class _Remaining:
    """The remaining windows of a removal, validated and mapped only when it needs them."""

    def __init__(self, model: CertifiedLogisticRegression, X, y) -> None:
        self.model, self.X, self.labels, self.rows = model, X, y, None

    @property
    def y(self) -> np.ndarray:
        """Their labels, shape (n_windows,)."""
        return np.asarray(self.labels)

    def design(self) -> np.ndarray:
        """The rows in the unit ball, shape (n_windows, n_features + 1)."""
        if self.rows is None:  # a table's columns are taken in order, as given
            X = validate_data(self.model, np.asarray(self.X, dtype=float), reset=False)
            self.rows = self.model._design(X)
        return self.rows

    def gram(self) -> np.ndarray:
        """Their Gram matrix, shape (n_features + 1, n_features + 1)."""
        return self.design().T @ self.design()


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
        Noise of the objective per square root of a training window: its
        random linear term has standard deviation ``sigma sqrt(n)`` for the
        ``n`` windows of the first fit (kept by retrains past the budget).
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
    noise_ : float
        Standard deviation of the objective's random linear term.
    budget_ : float
        Gradient-residual budget of the whole model (all binary models jointly).
    spent_ : ndarray, shape (n_models,)
        Residual bounds summed over removals per binary model (training's own
        residual included); the certificate spends their Euclidean norm.
    gram_ : ndarray, shape (n_features + 1, n_features + 1)
        ``Z^T Z`` of the rows the model holds (in the ball, with the constant
        feature). A sum over windows; a removal subtracts the removed windows'
        part.
    hessian_ : ndarray, shape (n_models, n_features + 1, n_features + 1) | None
        Each binary model's Hessian on the rows it holds, at ``hessian_at_``
        (within a rounding of ``coef_``), kept from training; None after a
        removal (it was taken at weights trained with the person).
    hessian_at_ : ndarray, shape (n_models, n_features + 1) | None
        The weights ``hessian_`` was computed at.
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
        sigma=0.03,
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
        self.noise_ = float(getattr(self, "noise_", self.sigma))  # files before noise_: sigma
        self.budget_ = noise_scale_budget(self.epsilon, self.delta, self.noise_)
        noise = _noise(self.random_state, draw, self.noise_, (len(targets), Z.shape[1]))
        fits = [_minimise(Z, t, self.lam, b) for t, b in zip(targets, noise, strict=True)]
        self.coef_ = np.array([w for w, _, _ in fits])
        self.hessian_ = np.array([hessian for _, hessian, _ in fits])
        self.hessian_at_ = np.array([at for _, _, at in fits])
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
        self.noise_ = float(self.sigma) * math.sqrt(len(X))
        self._train(self._design(X), y, draw=0)
        return self

    # -- removal -------------------------------------------------------------

    @property
    def spent(self) -> float:
        """Budget spent so far: the Euclidean norm of the binary models' summed bounds."""
        return float(np.linalg.norm(self.spent_))

    def remove(self, participant: str, X, y, X_forget, y_forget) -> dict:
        """Remove one participant's windows by a Newton step, or retrain past the budget.

        Parameters
        ----------
        participant : str
            Who is removed (one of :attr:`participants_`).
        X, y : array-like, shape (n_windows, n_features), (n_windows,)
            The remaining training windows: read only when the first step's
            bound is too large to spend (see :meth:`_steps`: for the exact
            residual, further steps or a retrain), or to compute the Hessian
            when none is kept (after an earlier removal).
        X_forget, y_forget : array-like
            The participant's windows (used for the step, never kept).

        Returns
        -------
        certificate : dict
            ``epsilon``, ``delta``, ``bound`` (the residual this removal
            spent over all binary models), ``exact`` (whether it was computed
            from the remaining windows rather than bounded from the sums the
            model keeps), ``steps`` (Newton steps taken), ``spent`` and
            ``left`` (of the budget), ``budget`` and ``retrained`` (True when
            the budget ran out: the model was refitted on ``X`` with fresh
            noise, and its budget restarts).

        Raises
        ------
        ValueError
            If the model never saw the participant, or the windows do not add
            up to those it holds.
        """
        check_is_fitted(self)
        participant = str(participant)
        if participant not in self.participants_:
            raise ValueError(f"The model holds no participant {participant!r}.")
        X_forget = validate_data(self, X_forget, dtype=np.float64, reset=False)
        if len(X) + len(X_forget) != self.n_train_:
            raise ValueError(
                f"The model holds {self.n_train_} windows: {len(X)} remaining and "
                f"{len(X_forget)} removed do not add up to them."
            )
        Zp = self._design(X_forget)
        remaining = _Remaining(self, X, y)
        steps, bounds, taken, exact, gram = self._steps(remaining, Zp, np.asarray(y_forget))
        # A bound that is not a number (a damaged model file) spends the whole budget.
        finite = bool(np.isfinite(bounds).all() and np.isfinite(steps).all())
        retrained = not finite or not self._fits(bounds)
        if retrained:
            self.retrains_ += 1
            self._train(remaining.design(), remaining.y, draw=self.retrains_)
        else:
            self.coef_ = self.coef_ + steps
            self.spent_ = self.spent_ + bounds
            self.n_train_ = len(X)
            self.gram_ = gram
            # Taken at weights trained with the person: the next removal computes its own.
            self.hessian_ = self.hessian_at_ = None
        self.participants_ = [p for p in self.participants_ if p != participant]
        used = float(np.linalg.norm(bounds)) if finite else float(self.budget_)
        record = {"bound": used, "exact": exact, "steps": taken, "retrained": retrained}
        self.removals_.append(record)
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "budget": float(self.budget_),
            "spent": self.spent,
            "left": float(self.budget_ - self.spent),
            **record,
        }

    def newton_steps(self, X, y, X_forget, y_forget) -> tuple[np.ndarray, np.ndarray]:
        """The removal's update of every binary model and the residual it spends (nothing changes).

        Parameters
        ----------
        X, y : array-like, shape (n_windows, n_features), (n_windows,)
            The remaining windows (read only when no Hessian is kept or the
            first step's bound is too large to spend).
        X_forget, y_forget : array-like
            The removed windows and their labels.

        Returns
        -------
        steps : ndarray, shape (n_models, n_features + 1)
        bounds : ndarray, shape (n_models,)
            Each binary model's gradient residual after the update: a bound,
            or the exact value when further steps were needed.
        """
        check_is_fitted(self)
        X_forget = validate_data(self, X_forget, dtype=np.float64, reset=False)
        steps, bounds, *_ = self._steps(
            _Remaining(self, X, y), self._design(X_forget), np.asarray(y_forget)
        )
        return steps, bounds

    def _steps(self, remaining: _Remaining, Zp: np.ndarray, y_forget: np.ndarray):
        """Steps, the residual each spends, Newton steps taken, whether exact, remaining Gram.

        First one Newton step per binary model, its residual bounded by
        ``||g - H s|| + M ||Z'(w - w~)|| ||Z' s|| + (M / 2) ||Z' s||^2`` (see
        the module's docstring), every norm of ``Z'`` from its Gram matrix:
        no remaining window is read. When that bound would spend more than
        :data:`BOUND_SHARE` of the budget or does not fit what is left, the
        residual is computed exactly from the remaining windows (one pass:
        the bound can be far above it, and the budget is for later removals
        too), and further Newton steps with the same Hessian follow while it
        still would, up to :data:`NEWTON_STEPS` in all; the removal then
        goes ahead if what it spends fits.
        """

        gram = getattr(self, "gram_", None)  # absent from files saved before it existed
        gram = remaining.gram() if gram is None else gram - Zp.T @ Zp
        with _one_blas_thread():  # d x d work: threads cost more than they save
            solvers, at = self._kept_solvers(Zp)
        if solvers is None:  # from the remaining rows (a pass of n d^2: threads help)
            solvers, at = self._fresh_solvers(remaining), self.coef_
        with _one_blas_thread():
            removed = self._targets(y_forget)
            # The removed windows' gradients: the remaining data's gradient at w is minus
            # each (the whole objective's gradient at w is zero up to the residual spent).
            margins = removed * (Zp @ self.coef_.T).T
            gradients = (-removed * expit(-margins)) @ Zp + self.lam * len(Zp) * self.coef_
            steps, bounds = [], []
            for w, a, g, solver in zip(self.coef_, at, gradients, solvers, strict=True):
                step = solver.solve(g) if solver is not None else g * np.nan
                along = _gram_norm(gram, step)
                offset = _gram_norm(gram, w - a)
                leftover = solver.leftover(g, step) if solver is not None else np.nan
                bounds.append(
                    leftover
                    + CURVATURE_LIPSCHITZ * offset * along
                    + CURVATURE_LIPSCHITZ / 2 * along**2
                )
                steps.append(step)
        steps, bounds = np.array(steps), np.array(bounds)
        if self._affordable(bounds) or not np.isfinite(steps).all():
            return steps, bounds, 1, False, gram
        return (*self._refine(remaining, gradients, solvers, steps), True, gram)

    def _fits(self, bounds: np.ndarray) -> bool:
        """Whether residuals ``bounds`` (per binary model) fit in the budget left."""
        return float(np.linalg.norm(self.spent_ + bounds)) <= self.budget_

    def _affordable(self, bounds: np.ndarray) -> bool:
        """Whether they fit and spend at most :data:`BOUND_SHARE` of the budget."""
        return self._fits(bounds) and np.linalg.norm(bounds) <= BOUND_SHARE * self.budget_

    def _refine(self, remaining: _Remaining, gradients: np.ndarray, solvers, steps: np.ndarray):
        """Exact residuals, and further Newton steps while they spend too much of the budget.

        The residual's change is computed without the noise, which cancels:
        ``grad L(w + s; D') - grad L(w; D)``, the remaining windows' gradient
        at the new weights less the whole training set's at the old ones
        (``grad L(w; D') + g``), plus the worst rounding of those sums.
        """

        Z = remaining.design()
        targets = self._targets(remaining.y)

        def gradient(weights: np.ndarray) -> np.ndarray:
            margins = targets * (Z @ weights.T).T
            return (-targets * expit(-margins)) @ Z + self.lam * len(Z) * weights

        before = gradient(self.coef_) + gradients
        # Summing n terms of at most 1 each loses at most n^2 eps per coordinate, and the
        # change is the difference of two such sums.
        n, width = self.n_train_, Z.shape[1]
        rounding = 2 * math.sqrt(width) * n**2 * np.finfo(float).eps
        change = gradient(self.coef_ + steps) - before
        taken = 1
        while True:
            residuals = np.linalg.norm(change, axis=1) + rounding
            if self._affordable(residuals) or taken == NEWTON_STEPS:
                return steps, residuals, taken
            steps = steps - np.array(
                [solver.solve(c) for solver, c in zip(solvers, change, strict=True)]
            )
            change = gradient(self.coef_ + steps) - before
            taken += 1

    def _kept_solvers(self, Zp: np.ndarray):
        """Solvers from the kept Hessian, its removed windows' part applied at its weights.

        ``(None, None)`` when the model keeps no Hessian, or one that is not
        positive definite (a damaged file).
        """
        from scipy.linalg import LinAlgError

        kept, at = getattr(self, "hessian_", None), getattr(self, "hessian_at_", None)
        if kept is None or at is None:
            return None, None
        curvature = expit(Zp @ at.T)
        curvature *= 1 - curvature
        try:
            share = len(Zp) / max(self.n_train_, 1)
            pairs = zip(kept, curvature.T, strict=True)
            return [_Solver(h, Zp, c, self.lam, share) for h, c in pairs], at
        except LinAlgError:
            return None, None

    def _fresh_solvers(self, remaining: _Remaining) -> list:
        """Solvers from the remaining rows' Hessians at the current weights (None: singular)."""
        from scipy.linalg import LinAlgError

        Z = remaining.design()
        solvers = []
        for w in self.coef_:
            try:
                solvers.append(_Solver(_hessian(w, Z, self.lam)))
            except LinAlgError:  # no window left
                solvers.append(None)
        return solvers

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
        TMV) ``epsilon``, ``delta``, ``sigma``, ``noise_std`` (the noise's standard
        deviation, ``sigma sqrt(n)``), ``lam``, ``budget``, ``spent``,
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
        "without them (one-vs-rest models are certified jointly: one residual norm over all "
        "of them); the guarantee covers the weights only",
    }
    for name, part in parts.items():
        mapped = type(part.feature_map_).__name__ if part.feature_map_ is not None else "none"
        out[name] = {
            "epsilon": float(part.epsilon),
            "delta": float(part.delta),
            "sigma": float(part.sigma),
            "noise_std": round(float(getattr(part, "noise_", part.sigma)), 6),
            "lam": float(part.lam),
            "budget": round(float(part.budget_), 6),
            "spent": round(part.spent, 6),
            "left": round(float(part.budget_) - part.spent, 6),
            "removals": len(part.removals_),
            "retrains": int(part.retrains_),
            "features": f"map {mapped}; rows divided by {part.radius_:.4g}, clipped to norm "
            f"{math.sqrt(1 - INTERCEPT**2):.3f}, constant {INTERCEPT} appended",
            "noise": "Gaussian, from the operating system's entropy, not stored"
            if part.random_state is None
            else f"Gaussian, seeded ({part.random_state}): no certificate",
        }
    return out
