"""mesofield: polymer field theory and neural operators on numpy arrays.

The model (defined in the repository's docs/model.md): AB diblock chains
of N beads (N_A of type A) in a 2D periodic box, coupled to auxiliary
fields w = (w_A, w_B). The exact solver computes the densities phi = (phi_A, phi_B) and ln Q from w by chain
propagators; SCFT finds saddle points, L-FTS samples the field theory, the
inverse map finds fields for given densities, chi is inferred from clean
patterns and noisy patterns are recovered by action minimisation. Trained
Fourier neural operators (``mesofield train``) load with ``Operator.load``;
``learn`` trains a denoiser and a pattern generator on L-FTS patterns at
the chi of two clean samples, and ``DenoiseOperator`` runs them.

Conventions:

- arrays are float64 numpy arrays in C order; anything else is refused
  with a ``ValueError`` that says how to pass it (nothing is converted);
- fields and densities are ``[n, 2, Mx, My]`` batches or one sample
  ``[2, Mx, My]``, channel 0 = A, 1 = B; patterns are phi_A alone,
  ``[n, Mx, My]`` or ``[Mx, My]``;
- lengths are in box units (the default box is 6.4 x 6.4), fields in kT;
  exchange and pressure fields are W_- = (w_B - w_A) / 2, W_+ = (w_A + w_B) / 2;
- bad input raises ``ValueError``, a loop that does not converge
  ``RuntimeError``, an unreadable file ``OSError``; Ctrl-C stops a long
  call with ``KeyboardInterrupt`` (the interpreter lock is released while
  it runs, so other Python threads keep running).

Every function calls the same library code as the matching ``mesofield``
command, so the same inputs give the CLI's numbers to the last bit.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import ChainModel, Operator

__version__ = _native.__version__

__all__ = [
    "ChainModel",
    "Operator",
    "solve",
    "scft",
    "ScftResult",
    "spinodal",
    "sample",
    "Trajectory",
    "invert",
    "InverseResult",
    "infer_chi",
    "denoise",
    "DenoiseResult",
    "load_dataset",
    "exchange_pressure",
    "learn",
    "DenoiseOperator",
]

Init = Union[str, np.ndarray]


def _seed(seed: Any) -> int:
    """A seed as the native layer takes it, or a ValueError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _grid(grid: Any) -> Optional[Tuple[int, int]]:
    """``(Mx, My)`` from any pair (tuple, list, array), or a ValueError naming grid."""
    if grid is None:
        return None
    try:
        mx, my = grid
    except (TypeError, ValueError):
        raise ValueError(f"grid must be a pair (Mx, My), got {grid!r}") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (mx, my)):
        raise ValueError(f"grid must be two positive integers (Mx, My), got {grid!r}")
    return int(mx), int(my)


def solve(w: np.ndarray, model: Optional[ChainModel] = None) -> Tuple[np.ndarray, Union[np.ndarray, float]]:
    """Exact solve: fields -> densities and ln Q (the chain propagators of docs/model.md).

    Args:
        w: fields, float64, ``[n, 2, Mx, My]`` or ``[2, Mx, My]`` (w_A, w_B in kT).
        model: the chain and box; default the paper's system (100 beads,
            70 A, box 6.4 x 6.4).

    Returns:
        ``(phi, log_q)``: phi of w's shape (phi_A, phi_B, mean phi_A = N_A/N),
        log_q an array ``[n]`` for a batch, a float for one sample.

    Raises:
        ValueError: a bad array, a grid the model cannot take, or fields
            outside the model's domain (Q <= 0; the error names the sample).
    """
    return _native.solve(w, model)


@dataclass
class ScftResult:
    """A self-consistent field saddle point.

    Attributes:
        w: fields ``[2, Mx, My]`` (w_A, w_B) at the saddle point.
        phi: their densities ``[2, Mx, My]``.
        dF: free energy per chain relative to the homogeneous melt (kT).
        log_q: ln Q of w.
        iterations: SCF iterations taken.
        residual: max-norm of both SCF residuals at the end.
        converged: whether residual < tol.
        report: the CLI's JSON report (exact solves, seconds, restarts, ...).
    """

    w: np.ndarray = field(repr=False)
    phi: np.ndarray = field(repr=False)
    dF: float
    log_q: float
    iterations: int
    residual: float
    converged: bool
    chi: float
    report: Dict[str, Any] = field(repr=False)


def scft(
    chi: float,
    init: Init = "lamellar:2",
    grid: Optional[Tuple[int, int]] = None,
    tol: float = 1e-8,
    max_iterations: int = 5000,
    seed: int = 0,
    model: Optional[ChainModel] = None,
    check: bool = True,
) -> ScftResult:
    """SCFT: the saddle point at ``chi`` (``mesofield scft``).

    Args:
        chi: Flory-Huggins parameter.
        init: a built-in start, ``"random[:AMP]"``, ``"lamellar[:N]"``,
            ``"hex:NX:NY"`` (cylinders), ``"square:NX:NY"`` (dots),
            ``"pscf:FILE"`` (PSCF's r-grid w fields, docs/formats.md; its cell
            must be the model's box), or fields ``[2, Mx, My]`` (e.g. a
            previous result's ``w``).
        grid: ``(Mx, My)`` of a built-in start; default (32, 32). An array
            start brings its own.
        tol: max-norm of both SCF residuals to reach.
        max_iterations: SCF iterations allowed.
        seed: seed of a random start.
        model: the chain and box; default the paper's system.
        check: raise ``RuntimeError`` if the tolerance is not reached
            (False returns the last iterate with ``converged=False``).
    """
    w, phi, report = _native.scft(chi, init, _grid(grid), tol, max_iterations, _seed(seed), model, check)
    r = json.loads(report)
    return ScftResult(
        w=w,
        phi=phi,
        dF=r["dF"],
        log_q=r["log_q"],
        iterations=r["iterations"],
        residual=r["residual"],
        converged=r["converged"],
        chi=chi,
        report=r,
    )


def spinodal(model: Optional[ChainModel] = None, grid: Optional[Tuple[int, int]] = None) -> Dict[str, float]:
    """The RPA spinodal of the homogeneous melt (``mesofield spinodal``).

    Returns a dict with ``chi_s``, ``chiN_s`` and ``q_star`` (box units) for
    continuous wave vectors, and with ``grid=(Mx, My)`` also
    ``chi_s_grid``, ``chiN_s_grid`` and ``q_grid`` restricted to that grid's
    wave vectors.
    """
    return json.loads(_native.spinodal(model, _grid(grid)))


@dataclass
class Trajectory:
    """An L-FTS run.

    Attributes:
        phi_a: snapshots of phi_A ``[k, Mx, My]``, every ``every`` steps and the last.
        w: their fields ``[k, 2, Mx, My]`` (w_A, w_B).
        steps: the step of each snapshot.
        hamiltonian: H/n relative to the melt per step ``[steps + 1]`` (the start first).
        psi2: mean over the grid of (phi_A - phi_B)^2 per step.
        pressure_residual: max |phi_A + phi_B - 1| per step.
        q, S: S(q) of phi_A, circularly averaged, over the steps of the last half.
        report: cost and means (steps/s, exact solves, operator calls, rejected operator results).
    """

    phi_a: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    steps: List[int] = field(repr=False)
    hamiltonian: np.ndarray = field(repr=False)
    psi2: np.ndarray = field(repr=False)
    pressure_residual: np.ndarray = field(repr=False)
    q: np.ndarray = field(repr=False)
    S: np.ndarray = field(repr=False)
    report: Dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        k, mx, my = self.phi_a.shape
        steps = len(self.hamiltonian) - 1
        if steps == 0:
            return f"Trajectory(0 steps on {mx}x{my}, {k} snapshots: the start only)"
        h = self.report.get("H_mean")
        h = "n/a" if h is None else f"{h:.6g}"
        return f"Trajectory({steps} steps on {mx}x{my}, {k} snapshots, H (last half) {h}, S(q) peak {self.peak()})"

    def peak(self) -> Tuple[float, float]:
        """(q, S) of the shell with the largest S; (nan, nan) for a run of no steps."""
        if len(self.S) == 0:
            return float("nan"), float("nan")
        i = int(np.argmax(self.S))
        return float(self.q[i]), float(self.S[i])


def sample(
    chi: float,
    beads_per_cell: float = 1000.0,
    steps: int = 1000,
    step_size: float = 0.05,
    seed: int = 0,
    init: Optional[Init] = None,
    grid: Optional[Tuple[int, int]] = None,
    every: int = 100,
    tol: float = 1e-6,
    model: Optional[ChainModel] = None,
    operator: Optional[Operator] = None,
    integrator: Optional[str] = None,
) -> Trajectory:
    """Langevin field-theoretic simulation (``mesofield sample``, one replica).

    Args:
        chi: Flory-Huggins parameter.
        beads_per_cell: B, the fluctuation strength (larger is weaker).
        steps: Langevin steps.
        step_size: lambda (stable below chi; docs/model.md).
        seed: the noise's seed (and a random start's).
        init: start as in ``scft``; default ``"random:0.01"``.
        grid: ``(Mx, My)`` of a built-in start; default (32, 32).
        every: snapshot interval (0: the last step only).
        tol: max |phi_A + phi_B - 1| after every step.
        model: the chain and box; default the paper's system.
        operator: a density operator inside the W_+ loop (every step still
            ends on exact solves; rejected operator results are counted in the report as "rejected").
        integrator: ``"lm"`` (Leimkuhler-Matthews) or ``"em"`` (Euler-Maruyama);
            default the CLI's (docs/model.md).
    """
    out = _native.sample(
        chi, beads_per_cell, steps, step_size, _seed(seed), init, _grid(grid), every, tol, model, operator, integrator
    )
    report = json.loads(out.pop("report"))
    return Trajectory(report=report, **out)


@dataclass
class InverseResult:
    """Fields whose exact densities are the given patterns.

    Attributes:
        w: fields ``[n, 2, Mx, My]`` (or ``[2, Mx, My]``), the mean of each channel removed.
        residual: max |phi(w) - target| per pattern.
        converged: whether each reached ``tol``.
        mean_shift: what each pattern was shifted by to the chain's mean f.
        records: per pattern: solves, Newton steps, Jacobian products, ...
    """

    w: np.ndarray = field(repr=False)
    residual: List[float]
    converged: List[bool]
    mean_shift: List[float]
    records: List[Dict[str, Any]] = field(repr=False)


def invert(
    phi_a: np.ndarray,
    model: Optional[ChainModel] = None,
    tol: float = 1e-10,
    operator: Optional[Operator] = None,
) -> InverseResult:
    """The inverse map: fields w with phi_A(w) = phi_a, phi_B(w) = 1 - phi_a.

    Each pattern is first shifted to the chain's mean N_A/N (no field can
    move the mean). Quasi-Newton iterations, then Newton-Krylov with the
    exact Jacobian where they slow down (``mesofield infer-chi``'s first
    stage). ``operator`` starts the iteration from its prediction (kept
    only if it lowers the exact residual). A pattern whose inversion stops
    short of ``tol`` but within 3e-4 (max-norm) is returned with its best
    fields; its record says ``converged: False`` and the residual reached.

    Args:
        phi_a: clean patterns ``[n, Mx, My]`` or ``[Mx, My]`` in (0, 1).
        model: the chain and box; default the paper's system.
        tol: max |phi(w) - pattern| on every point to reach.
        operator: a density or inverse ``Operator`` for the start.

    Returns:
        ``InverseResult``: ``w`` (zero-mean fields, the patterns' shape with
        a channel axis), ``residual``, ``converged`` and ``mean_shift`` per
        pattern, and the CLI's per-pattern ``records``.

    Raises:
        ValueError: patterns outside (0, 1) or not finite.
        RuntimeError: a pattern the chain cannot make (too sharp: the
            inverse map stops further than 3e-4 from it).
    """
    w, report = _native.invert(phi_a, model, tol, operator)
    # The gauge: a constant in either field moves no density.
    w = w - w.mean(axis=(-2, -1), keepdims=True)
    records = json.loads(report)["per_sample"]
    return InverseResult(
        w=w,
        residual=[r["inverse_residual"] for r in records],
        converged=[r["converged"] for r in records],
        mean_shift=[r["mean_shift"] for r in records],
        records=records,
    )


def infer_chi(
    patterns: np.ndarray,
    beads_per_cell: Optional[float] = None,
    step_size: float = 0.0,
    model: Optional[ChainModel] = None,
    tol: float = 1e-10,
    operator: Optional[Operator] = None,
    integrator: Optional[str] = None,
) -> Dict[str, Any]:
    """chi from clean patterns (``mesofield infer-chi``): the inverse map, then
    the exchange-field condition.

    Without ``beads_per_cell`` the saddle estimator (exact for SCFT saddle
    points); with it, the equipartition estimator of an L-FTS ensemble at B =
    ``beads_per_cell`` drawn with Langevin steps ``step_size`` (0: the
    continuum limit).

    Args:
        patterns: clean phi_A ``[n, Mx, My]`` or ``[Mx, My]`` in (0, 1).
        beads_per_cell: B of the ensemble (None: the saddle estimator).
        step_size: the L-FTS step the patterns were drawn with.
        model: the chain and box; default the paper's system.
        tol: the inverse map's tolerance, max |phi(w) - pattern|.
        operator: an ``Operator`` for the inverse map's start.
        integrator: ``"lm"`` or ``"em"``, the integrator the patterns were
            drawn with (``sample``'s ``integrator``); default ``sample``'s.

    Returns the CLI's JSON report as a dict: ``chi``,
    ``std_error``, ``per_sample``, ``estimator``, ``saddle``,
    ``equipartition``, ``inverse`` (per pattern), and ``all_converged``:
    False where the inverse map stopped short of ``tol`` on a pattern (a
    partial inversion, accepted within 3e-4 as ``infer-chi`` accepts it),
    which also raises a ``RuntimeWarning`` naming the pattern and residual.
    """
    report = json.loads(_native.infer_chi(patterns, beads_per_cell, step_size, model, tol, operator, integrator))
    partial = [(i, r["inverse_residual"]) for i, r in enumerate(report["inverse"]) if not r["converged"]]
    for i, residual in partial:
        warnings.warn(
            f"infer_chi: pattern {i} was inverted only to max |phi(w) - pattern| = {residual:.1e} "
            f"(tol {tol:.0e}); chi uses its fields as they are",
            RuntimeWarning,
            stacklevel=2,
        )
    report["all_converged"] = not partial
    return report


@dataclass
class DenoiseResult:
    """Recovered patterns.

    Attributes:
        phi_a: recovered phi_A (exact densities of ``w``), the noisy input's shape.
        w: their fields ``[n, 2, Mx, My]`` (or ``[2, Mx, My]``).
        chi: the chi used (given or inferred).
        report: per pattern: iterations, action, data misfit, sigma, errors
            against ``truth`` if given; ``chi_inferred`` if inferred.
    """

    phi_a: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    chi: float
    report: Dict[str, Any] = field(repr=False)


def denoise(
    noisy: np.ndarray,
    chi: Optional[float] = None,
    samples: Optional[np.ndarray] = None,
    beads_per_cell: float = 100.0,
    step_size: float = 0.0,
    sigma: Optional[float] = None,
    data_weight: float = 1.0,
    max_iterations: int = 500,
    truth: Optional[np.ndarray] = None,
    model: Optional[ChainModel] = None,
    operator: Optional[Operator] = None,
    integrator: Optional[str] = None,
) -> DenoiseResult:
    """Recover noisy patterns by action minimisation (``mesofield denoise``).

    Args:
        noisy: observed phi_A ``[n, Mx, My]`` or ``[Mx, My]`` (finite; may
            leave (0, 1)).
        chi: the interaction, if known; else give ``samples``.
        samples: clean patterns (phi_A) to infer chi from by the
            equipartition estimator at ``beads_per_cell``.
        beads_per_cell: B, the weight of the action against the data.
        step_size: the L-FTS step the samples were drawn with (0: continuum).
        sigma: the noise's standard deviation; default estimated per pattern.
        data_weight: 1 for the posterior, 0 for plain SCF relaxation.
        truth: the clean originals, to report contrast-relative errors.
        operator: the operator in the W_+ loops and the data term's gradient.
        integrator: ``"lm"`` or ``"em"``, the integrator the samples were
            drawn with (``sample``'s ``integrator``); default ``sample``'s.
    """
    phi_a, w, report = _native.denoise(
        noisy,
        chi,
        samples,
        beads_per_cell,
        step_size,
        sigma,
        data_weight,
        max_iterations,
        truth,
        model,
        operator,
        integrator,
    )
    r = json.loads(report)
    return DenoiseResult(phi_a=phi_a, w=w, chi=r["chi"], report=r)


def load_dataset(path: str) -> Dict[str, Any]:
    """Every tensor of a safetensors file mesofield wrote (a ``generate``
    dataset, ``solve``/``scft`` output, a run's snapshot) as float64 arrays,
    with its metadata under ``"metadata"`` (a dict, or None)."""
    arrays, meta = _native.load_dataset(str(path))
    out: Dict[str, Any] = dict(arrays)
    out["metadata"] = json.loads(meta) if meta is not None else None
    return out


def exchange_pressure(w: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(W_-, W_+) = ((w_B - w_A) / 2, (w_A + w_B) / 2) of fields ``[..., 2, Mx, My]``."""
    w = np.asarray(w)
    return 0.5 * (w[..., 1, :, :] - w[..., 0, :, :]), 0.5 * (w[..., 0, :, :] + w[..., 1, :, :])


def learn(
    samples: np.ndarray,
    beads_per_cell: float,
    step_size: float,
    out: str,
    patterns: Optional[int] = None,
    burn_in_steps: Optional[int] = None,
    epochs: Optional[int] = None,
    quick: bool = False,
    generator: bool = True,
    seed: int = 0,
    resume: bool = False,
    model: Optional[ChainModel] = None,
    integrator: Optional[str] = None,
) -> Dict[str, Any]:
    """Learn a denoiser (and a pattern generator) from one or two clean
    samples, as ``mesofield learn``: chi from the samples (the equipartition
    estimator at ``beads_per_cell`` and ``step_size``), then one clean L-FTS
    pattern per replica at that chi after its burn-in, then a denoise
    operator trained on them with fresh noise each epoch (``out/best``) and
    the generator over a wider noise range (``out/generator/best``).

    Args:
        samples: clean phi_A ``[n, Mx, My]`` or ``[Mx, My]`` in (0, 1).
        beads_per_cell: B of the ensemble the samples come from (and of the replicas).
        step_size: the L-FTS step size of that ensemble (> 0; the replicas step with it).
        out: folder for ``best``, ``generator/best``, ``chi.json``,
            ``patterns.safetensors``, ``sampling.json``, ``report.json``.
        patterns: clean patterns to make (default 256; 8 with ``quick``).
        burn_in_steps: steps per replica before its pattern is taken
            (default: until the replicas' H stops falling or they are as
            segregated as the samples, between L-FTS time 20 and 100).
        epochs: training epochs of each operator (default: the denoiser 300,
            the generator 150; 2 with ``quick``).
        quick: the whole pipeline in seconds (tests, first tries).
        generator: also train the generator (for ``DenoiseOperator.generate``).
        seed: seeds the replicas (seed + r) and the training.
        resume: continue in ``out`` (chi and patterns reused, training from ``out/last``).
        integrator: ``"lm"`` or ``"em"``, the integrator the samples were
            drawn with, and the replicas' (``sample``'s ``integrator``); default ``sample``'s.

    Returns:
        ``out/report.json`` as a dict: ``chi`` (value, standard error),
        ``sampling`` (burn-in, decorrelation, cost), ``training`` and
        ``generator`` (epochs, validation error), ``minutes``.

    Raises:
        ValueError: bad samples or settings; RuntimeError: a loop failed;
        KeyboardInterrupt: Ctrl-C (training saves ``out/last``; call again
        with ``resume=True``).
    """
    return json.loads(
        _native.learn(
            samples,
            beads_per_cell,
            step_size,
            str(out),
            patterns,
            burn_in_steps,
            epochs,
            quick,
            generator,
            _seed(seed),
            resume,
            model,
            integrator,
        )
    )


@dataclass
class OperatorDenoised:
    """Patterns recovered by a denoise operator: ``phi_a`` (the noisy
    input's shape) and the report (``samples``: sigma per pattern and, with
    ``truth``, the contrast-relative errors; ``seconds`` of the one call)."""

    phi_a: np.ndarray
    report: Dict[str, Any] = field(repr=False)

    @property
    def errors(self) -> Optional[List[float]]:
        errors = [s.get("error") for s in self.report["samples"]]
        return None if any(e is None for e in errors) else errors


class DenoiseOperator:
    """A denoise operator: ``learn``'s ``out/best`` (the denoiser) or
    ``out/generator/best`` (the generator), or ``mesofield train-denoiser``'s.
    It maps (noisy phi_A, noise level) to phi_A in one batched call and
    keeps the mean of phi_A at the chain's f exactly."""

    def __init__(self, native: "_native.DenoiseOperator") -> None:
        self._native = native

    @staticmethod
    def load(path: str) -> "DenoiseOperator":
        """Loads a checkpoint folder; ``OSError`` if it is missing,
        ``ValueError`` if it holds another kind of operator."""
        return DenoiseOperator(_native.DenoiseOperator.load(str(path)))

    @property
    def spec(self) -> Dict[str, Any]:
        """What it was trained on and for (the checkpoint's ``denoise.json``):
        ``model``, ``grid``, ``chi``, ``beads_per_cell``, ``step_size``,
        ``sigma`` (the noise range, phi units), ``contrast``."""
        return json.loads(self._native.spec_json)

    @property
    def model(self) -> ChainModel:
        """The chain model and box it was trained for."""
        return self._native.model

    @property
    def path(self) -> str:
        """The checkpoint folder."""
        return str(self._native.path)

    def denoise(
        self, noisy: np.ndarray, sigma: Optional[float] = None, truth: Optional[np.ndarray] = None
    ) -> OperatorDenoised:
        """Recovers ``noisy`` phi_A (``[n, Mx, My]`` or ``[Mx, My]`` on the
        operator's grid) in one batched call, as ``mesofield denoise
        --solver operator:PATH``: sigma (phi units) given, or estimated per
        pattern as action minimisation estimates it; errors against
        ``truth`` where given."""
        phi_a, report = self._native.denoise(noisy, sigma, truth)
        return OperatorDenoised(phi_a=phi_a, report=json.loads(report))

    def generate(self, count: int, steps: int = 30, seed: int = 0) -> np.ndarray:
        """``count`` new patterns ``[count, Mx, My]`` by reverse diffusion
        in ``steps`` batched calls (``mesofield generate-patterns``; use the
        generator, ``out/generator/best``, whose noise range hides the
        patterns)."""
        return self._native.generate(count, steps, _seed(seed))

    def __repr__(self) -> str:
        return repr(self._native)
