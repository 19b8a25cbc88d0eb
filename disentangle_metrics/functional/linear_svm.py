"""A batched linear SVM with scikit-learn's ``LinearSVC()`` objective, many binary problems at once.

For every problem (column) ``a`` the primal objective of liblinear's L2R_L2LOSS_SVC, the solver
``LinearSVC()`` picks with its defaults when n_samples > n_features, is minimised:

    f_a(w) = 1/2 ||w||^2 + C * sum_{i : mask[i, a]} max(0, 1 - y_ia * w . x_i)^2

with ``x_i = [features_i, s]`` (the intercept is an extra feature of value ``s`` =
``intercept_scaling`` whose weight is regularised like the others) and ``y_ia = +1`` for class 1,
``-1`` for class 0. ``intercept_ = s * w[-1]``.

All problems share one design matrix; each has its own 0/1 sample mask (the separability metric
keeps a different subset per attribute) and labels. The solver is a truncated Newton method: the
Newton system is solved by preconditioned conjugate gradients whose Hessian-vector products

    H_a v = v + 2 C X^T (D_a * (X v)),   D_ia = mask_ia * [y_ia w_a . x_i < 1]

for all problems are one [N, D] x [D, A] matrix product, followed by an exact line search on the
piecewise-quadratic objective. Margins, objective and gradient are float64; the inner CG products
run in float32 (an inexact Newton direction is enough, the float64 gradient decides convergence).

The stopping rule is liblinear's: ``||grad f_a(w)|| <= tol * max(min(pos, neg), 1) / n * ||grad
f_a(0)||``, with ``n`` the number of samples of the problem and ``pos``/``neg`` its class counts,
and at most ``max_iter`` Newton iterations.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import torch

from .._core.device import resolve_device

ArrayLike = Union[np.ndarray, torch.Tensor]

STATUS_CONVERGED = "converged"
STATUS_MAX_ITER = "max_iter"          # stopped by max_iter before the tolerance was met
STATUS_STALLED = "stalled"            # no further decrease possible in float64 before the tolerance
STATUS_SINGLE_CLASS = "single_class"  # every kept sample has the same label: nothing to fit
STATUS_FAILED = "failed"              # the backend raised (sklearn backend only)


@dataclass
class _Problem:
    """The tensors of one batched fit, on the solver's device."""

    X64: torch.Tensor      # [N, D] float64
    X32: torch.Tensor      # [N, D] float32 (CG products)
    Q: torch.Tensor        # [D+1, D+1] float64 eigenvectors of the Gram matrix X_aug^T X_aug / N
    lam: torch.Tensor      # [D+1] float64 its eigenvalues
    Y: torch.Tensor        # [N, A] float64, +-1
    M: torch.Tensor        # [N, A] float64, 0/1
    s: float               # intercept feature value
    C: float


def _xv(X: torch.Tensor, P: torch.Tensor, s: float) -> torch.Tensor:
    """X_aug @ P for P [D+1, A] (last row = intercept weight), without building X_aug."""
    return X @ P[:-1].to(X.dtype) + s * P[-1:].to(X.dtype)


def _xtr(X: torch.Tensor, R: torch.Tensor, s: float) -> torch.Tensor:
    """X_aug^T @ R for R [N, A], as float64 [D+1, A]."""
    R = R.to(X.dtype)
    # (R^T X)^T: CPU BLAS is several times slower on X^T R with a row-major X and few columns.
    return torch.cat([(R.T @ X).T, s * R.sum(0, keepdim=True)]).double()


def _objective(P: torch.Tensor, m: torch.Tensor, Y: torch.Tensor, M: torch.Tensor, C: float) -> torch.Tensor:
    """f(P) per column from the margins m = X_aug P (M may hold sample weights, e.g. bootstrap counts)."""
    viol = (1 - Y * m).clamp_min(0)
    return 0.5 * (P * P).sum(0) + C * (M * viol * viol).sum(0)


def _line_search(P: torch.Tensor, d: torch.Tensor, m: torch.Tensor, q: torch.Tensor, Y: torch.Tensor,
                 M: torch.Tensor, C: float, iters: int = 30) -> torch.Tensor:
    """Exact minimiser t >= 0 of f(P + t d) per column (convex, piecewise quadratic in t).

    Safeguarded Newton on phi'(t): phi'(0) < 0 for a descent direction; the bracket [lo, hi]
    shrinks around the root and a step leaving it is replaced by bisection.
    """
    wd, dd = (P * d).sum(0), (d * d).sum(0)
    yq, ym = Y * q, Y * m

    def derivs(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        slack = 1 - ym - t * yq
        act = (slack > 0) * M
        g1 = wd + t * dd - 2 * C * (act * yq * slack).sum(0)
        g2 = dd + 2 * C * (act * q * q).sum(0)
        return g1, g2

    g0, _ = derivs(torch.zeros_like(wd))
    lo = torch.zeros_like(wd)
    hi = torch.full_like(wd, math.inf)
    t = torch.ones_like(wd)
    for _ in range(iters):
        g1, g2 = derivs(t)
        settled = g1.abs() <= 1e-12 * g0.abs()
        if bool(settled.all()):
            break
        neg = g1 < 0
        lo = torch.where(neg, t, lo)
        hi = torch.where(neg, hi, t)
        t_new = t - g1 / g2
        bad = ~((t_new > lo) & (t_new < hi))
        t_new = torch.where(bad & torch.isfinite(hi), 0.5 * (lo + hi), torch.where(bad, 2 * t, t_new))
        t = torch.where(settled, t, t_new)
    return t


def _pcg(prob: _Problem, X32: torch.Tensor, Dw: torch.Tensor, rhs: torch.Tensor, rel_tol: torch.Tensor,
         max_cg: int) -> tuple[torch.Tensor, int]:
    """Approximately solve H d = rhs per column by preconditioned CG, products in float32.

    ``X32`` holds the rows of the design matrix that are active in some column, ``Dw`` their
    active-set weights [rows, A]; CG stops per column at ||r|| <= rel_tol ||rhs|| (rel_tol [A]).
    """
    s, C = prob.s, prob.C
    Dw32 = Dw.float()
    # Preconditioner: the Hessian with the column's active rows replaced by the same number of
    # "average" rows, I + 2C (n_active / N) G. Exact for isotropic data, and W latents are far
    # from isotropic, where a diagonal preconditioner leaves CG needing 10x more iterations.
    scale = 1.0 / (1.0 + (2 * C) * Dw.sum(0)[None, :] * prob.lam[:, None])   # [D+1, A]
    Q = prob.Q

    def precond(v: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return Q @ (scale * (Q.T @ v))

    # Columns leave the batch as they meet their tolerance: the products cost in proportion to
    # the number of live columns, and the last few columns often need the most iterations.
    live = torch.arange(rhs.shape[1], device=rhs.device)
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    z = precond(r, scale)
    p = z.clone()
    rz = (r * z).sum(0)
    target = rel_tol * rhs.norm(dim=0)
    k = 0
    while k < max_cg:
        done = (r.norm(dim=0) <= target) | ~(rz > 0)
        if bool(done.any()):
            keep = ~done
            if not bool(keep.any()):
                break
            live, r, p, rz, target = live[keep], r[:, keep], p[:, keep], rz[keep], target[keep]
            Dw32, scale = Dw32[:, keep], scale[:, keep]
        k += 1
        Hp = p + 2 * C * _xtr(X32, Dw32 * _xv(X32, p, s), s)
        pHp = (p * Hp).sum(0)
        alpha = torch.where(pHp > 0, rz / pHp, torch.zeros_like(rz))
        x[:, live] += alpha * p
        r = r - alpha * Hp
        z = precond(r, scale)
        rz_new = (r * z).sum(0)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, k


def solve_squared_hinge(X: torch.Tensor, Y: torch.Tensor, M: torch.Tensor, C: float = 1.0, tol: float = 1e-4,
                        max_iter: int = 1000, intercept_scaling: float = 1.0, max_cg: int = 250
                        ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, torch.Tensor]:
    """Minimise the objective of the module docstring for every column of ``Y``.

    ``X`` [N, D] float, ``Y`` [N, A] in {-1, +1}, ``M`` [N, A] 0/1, all on one device. Returns
    ``(P [D+1, A] float64, n_iter [A], status [A] (str), objective [A])``; ``P[-1]`` is the weight
    of the intercept feature. Columns must have both classes among their masked samples.
    """
    dev = X.device
    N, D = X.shape
    X32 = X.float()
    # The preconditioner only needs the second moments roughly: a strided subset of at most
    # 32768 rows costs a fraction of a full [N, D] x [D, N] product and changes CG counts little.
    sub = X32[:: max(1, N // 32768)]
    Xa = torch.cat([sub, torch.full((sub.shape[0], 1), float(intercept_scaling), device=dev)], 1)
    lam, Q = torch.linalg.eigh((Xa.T @ Xa).double() / sub.shape[0])
    del Xa, sub
    prob = _Problem(X64=X.double(), X32=X32, Q=Q, lam=lam.clamp_min(0), Y=Y.double(), M=M.double(),
                    s=float(intercept_scaling), C=float(C))
    A = Y.shape[1]
    P = torch.zeros(D + 1, A, dtype=torch.float64, device=dev)
    m = torch.zeros(N, A, dtype=torch.float64, device=dev)
    n_pos = ((prob.Y > 0) * prob.M).sum(0)
    n_all = prob.M.sum(0)
    eps = tol * torch.clamp(torch.minimum(n_pos, n_all - n_pos), min=1) / n_all
    n_iter = np.zeros(A, dtype=np.int64)
    status = np.array([STATUS_MAX_ITER] * A, dtype=object)
    gnorm0: Optional[torch.Tensor] = None
    cols = torch.arange(A, device=dev)
    f_old = _objective(P, m, prob.Y, prob.M, prob.C)
    for it in range(max_iter + 1):
        Yc, Mc, mc, Pc = prob.Y[:, cols], prob.M[:, cols], m[:, cols], P[:, cols]
        Dw = Mc * (Yc * mc < 1)
        # Only active rows enter the gradient and the Hessian; once the margins settle the active
        # sets (support vectors) are a fraction of the samples, so compact the design matrix.
        active = Dw.any(1)
        n_act = int(active.sum())
        if n_act < 0.75 * N:
            rows = torch.nonzero(active).flatten()
            X64a, X32a, Dw = prob.X64.index_select(0, rows), prob.X32.index_select(0, rows), Dw.index_select(0, rows)
            resid = (mc - Yc).index_select(0, rows)
        else:
            X64a, X32a, resid = prob.X64, prob.X32, mc - Yc
        g = Pc + 2 * prob.C * _xtr(X64a, Dw * resid, prob.s)
        gnorm = g.norm(dim=0)
        if gnorm0 is None:
            gnorm0 = gnorm.clone()
        done = gnorm <= eps[cols] * gnorm0[cols]
        for c in cols[done].tolist():
            status[c] = STATUS_CONVERGED
        keep = ~done
        if it == max_iter or not bool(keep.any()):
            break
        cols, g, Dw, Yc, Mc, mc, Pc = cols[keep], g[:, keep], Dw[:, keep], Yc[:, keep], Mc[:, keep], mc[:, keep], Pc[:, keep]
        # Forcing term: loose early, tighter near the optimum (superlinear convergence).
        rel = torch.clamp((gnorm[keep] / gnorm0[cols]).sqrt(), max=0.1)
        d, _ = _pcg(prob, X32a, Dw, -g, rel, max_cg)
        del X64a, X32a
        q = _xv(prob.X64, d, prob.s)
        t = _line_search(Pc, d, mc, q, Yc, Mc, prob.C)
        P_new, m_new = Pc + t * d, mc + t * q
        f_new = _objective(P_new, m_new, Yc, Mc, prob.C)
        stalled = ~(f_new < f_old[cols])
        P[:, cols] = torch.where(stalled, Pc, P_new)
        m[:, cols] = torch.where(stalled, mc, m_new)
        f_old[cols] = torch.where(stalled, f_old[cols], f_new)
        n_iter[cols.cpu().numpy()] += 1
        for c in cols[stalled].tolist():
            status[c] = STATUS_STALLED
        cols = cols[~stalled]
        if cols.numel() == 0:
            break
    return P, n_iter, status, _objective(P, m, prob.Y, prob.M, prob.C)


class BatchedLinearSVC:
    """``LinearSVC()`` fitted to many binary problems sharing one design matrix.

    Parameters (stored only; validated in :meth:`fit`, scikit-learn style): ``C``, ``tol``,
    ``max_iter``, ``intercept_scaling`` (as in ``LinearSVC``), ``backend`` ('torch': the batched
    truncated-Newton solver of this module; 'sklearn': one ``sklearn.svm.LinearSVC`` per problem,
    the reference), ``device`` ('auto', 'cpu', 'cuda', ...; torch backend only).

    Learned attributes: ``coef_`` [A, D], ``intercept_`` [A] (float64 numpy), ``n_iter_`` [A],
    ``status_`` [A] (one of 'converged', 'max_iter', 'stalled', 'single_class', 'failed'),
    ``converged_`` [A] bool, ``messages_`` [A] (why a problem failed, else ''), ``objective_``
    [A] (the primal objective at the solution; NaN for the sklearn backend's failures).

    A problem whose masked samples all share one label cannot be fitted (``LinearSVC`` raises); it
    is reported with status 'single_class' and predicts that label. A failed fit predicts -1.
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-4, max_iter: int = 1000, intercept_scaling: float = 1.0,
                 backend: str = "torch", device: Any = "auto") -> None:
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.intercept_scaling = intercept_scaling
        self.backend = backend
        self.device = device

    # ------------------------------------------------------------------------------------------
    def _validate(self, X: ArrayLike, y: ArrayLike, mask: Optional[ArrayLike]) -> tuple[np.ndarray, ...]:
        if self.backend not in ("torch", "sklearn"):
            raise ValueError(f"backend must be 'torch' or 'sklearn', got {self.backend!r}")
        if not (self.C > 0 and self.tol > 0 and self.intercept_scaling > 0):
            raise ValueError(f"C, tol and intercept_scaling must be > 0, got C={self.C}, tol={self.tol}, "
                             f"intercept_scaling={self.intercept_scaling}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D [n_samples, n_features], got shape {tuple(X.shape)}")
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be [n_samples={X.shape[0]}, n_problems] (or 1-D of length n_samples), "
                             f"got shape {tuple(y.shape)}")
        if mask is None:
            mask = np.ones(y.shape, dtype=bool)
        if mask.ndim == 1:
            mask = mask.reshape(-1, 1)
        if tuple(mask.shape) != tuple(y.shape):
            raise ValueError(f"mask must have the shape of y {tuple(y.shape)}, got {tuple(mask.shape)}")
        return X, y, mask

    def fit(self, X: ArrayLike, y: ArrayLike, mask: Optional[ArrayLike] = None) -> "BatchedLinearSVC":
        """Fit one LinearSVC per column of ``y`` ([N, A] labels in {0, 1}; 1-D for one problem) on
        the samples where ``mask`` [N, A] (bool, default all) is true."""
        X, y, mask = self._validate(X, y, mask)
        X_t = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
        if not X_t.is_floating_point():
            X_t = X_t.double()
        if not bool(torch.isfinite(X_t).all()):
            raise ValueError("X contains NaN or infinite values; the latents must be finite")
        y_np = (y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y))
        m_np = (mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)).astype(bool)
        if not np.isin(y_np, (0, 1)).all():
            raise ValueError(f"y must hold class labels 0 and 1, got values {np.unique(y_np)[:10]}")
        y_np = y_np.astype(np.int64)
        counts = m_np.sum(0)
        if (counts == 0).any():
            raise ValueError(f"problems {np.flatnonzero(counts == 0).tolist()} have no samples in mask")
        A, D = y_np.shape[1], X_t.shape[1]
        pos = ((y_np == 1) & m_np).sum(0)
        single = (pos == 0) | (pos == counts)
        self.coef_ = np.zeros((A, D))
        self.intercept_ = np.zeros(A)
        self.n_iter_ = np.zeros(A, dtype=np.int64)
        self.status_ = np.array([STATUS_CONVERGED] * A, dtype=object)
        self.messages_ = np.array([""] * A, dtype=object)
        self.objective_ = np.full(A, np.nan)
        for a in np.flatnonzero(single):
            label = int(y_np[m_np[:, a], a][0])
            self.status_[a] = STATUS_SINGLE_CLASS
            self.messages_[a] = f"all {counts[a]} samples have label {label}"
            self.intercept_[a] = 1.0 if label == 1 else -1.0
        todo = np.flatnonzero(~single)
        if todo.size:
            if self.backend == "torch":
                self._fit_torch(X_t, y_np, m_np, todo)
            else:
                self._fit_sklearn(X_t.detach().cpu().numpy(), y_np, m_np, todo)
        self.converged_ = self.status_ == STATUS_CONVERGED
        self.n_features_in_ = D
        return self

    def _fit_torch(self, X: torch.Tensor, y: np.ndarray, mask: np.ndarray, todo: np.ndarray) -> None:
        dev = resolve_device(self.device)
        # Rows no problem uses cost matmul time for nothing; drop them.
        rows = np.flatnonzero(mask[:, todo].any(1))
        rows_t = torch.as_tensor(rows, device=X.device)
        Xr = X.index_select(0, rows_t).to(dev)
        Y = torch.as_tensor(2.0 * y[np.ix_(rows, todo)] - 1.0, device=dev)
        M = torch.as_tensor(mask[np.ix_(rows, todo)].astype(np.float64), device=dev)
        P, n_iter, status, obj = solve_squared_hinge(Xr, Y, M, C=float(self.C), tol=float(self.tol),
                                                     max_iter=int(self.max_iter),
                                                     intercept_scaling=float(self.intercept_scaling))
        P = P.cpu().numpy()
        self.coef_[todo] = P[:-1].T
        self.intercept_[todo] = float(self.intercept_scaling) * P[-1]
        self.n_iter_[todo] = n_iter
        self.status_[todo] = status
        self.objective_[todo] = obj.cpu().numpy()
        for a, st in zip(todo, status):
            if st != STATUS_CONVERGED:
                self.messages_[a] = (f"{st} after {self.n_iter_[a]} Newton iterations "
                                     f"(tol={self.tol}, max_iter={self.max_iter})")

    def _fit_sklearn(self, X: np.ndarray, y: np.ndarray, mask: np.ndarray, todo: np.ndarray) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.svm import LinearSVC
        for a in todo:
            rows = mask[:, a]
            svm = LinearSVC(C=self.C, tol=self.tol, max_iter=self.max_iter, intercept_scaling=self.intercept_scaling)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    svm.fit(X[rows], y[rows, a])
            except Exception as exc:  # reported per problem, never replaced by a made-up prediction
                self.status_[a] = STATUS_FAILED
                self.messages_[a] = f"LinearSVC raised {type(exc).__name__}: {exc}"
                self.coef_[a] = np.nan
                self.intercept_[a] = np.nan
                continue
            self.coef_[a] = svm.coef_[0]
            self.intercept_[a] = svm.intercept_[0]
            self.n_iter_[a] = int(np.max(svm.n_iter_))
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                self.status_[a] = STATUS_MAX_ITER
                self.messages_[a] = f"sklearn LinearSVC did not converge in max_iter={self.max_iter}"
            s = float(self.intercept_scaling)
            self.objective_[a] = squared_hinge_objective(X[rows], 2.0 * y[rows, a] - 1.0, svm.coef_[0],
                                                         svm.intercept_[0], C=self.C, intercept_scaling=s)

    # ------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("this BatchedLinearSVC is not fitted yet; call fit(X, y) first")

    def decision_function(self, X: ArrayLike) -> ArrayLike:
        """Scores [N, A] = X coef_^T + intercept_; class 1 where positive. Torch in, torch out
        (on X's device, float64); numpy otherwise."""
        self._check_fitted()
        if X.shape[-1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[-1]} features but the SVM was fitted on {self.n_features_in_}")
        if isinstance(X, torch.Tensor):
            W = torch.as_tensor(self.coef_, device=X.device)
            b = torch.as_tensor(self.intercept_, device=X.device)
            return X.double() @ W.T + b
        return np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_

    def predict(self, X: ArrayLike) -> ArrayLike:
        """Predicted labels [N, A] in {0, 1} (-1 for problems whose fit failed)."""
        scores = self.decision_function(X)
        failed = self.status_ == STATUS_FAILED
        if isinstance(scores, torch.Tensor):
            out = (scores > 0).long()
            out[:, torch.as_tensor(failed, device=out.device)] = -1
            return out
        out = (scores > 0).astype(np.int64)
        out[:, failed] = -1
        return out


def squared_hinge_objective(X: np.ndarray, y_pm: np.ndarray, coef: np.ndarray, intercept: float, C: float = 1.0,
                            intercept_scaling: float = 1.0) -> float:
    """LinearSVC's primal objective 1/2 (||coef||^2 + (intercept/s)^2) + C sum max(0, 1 - y (X coef + intercept))^2
    for labels ``y_pm`` in {-1, +1}."""
    m = np.asarray(X, dtype=np.float64) @ coef + intercept
    viol = np.maximum(0.0, 1.0 - y_pm * m)
    return float(0.5 * (coef @ coef + (intercept / intercept_scaling) ** 2) + C * (viol @ viol))
