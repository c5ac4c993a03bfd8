# Type stubs of the extension module (src/*.rs); the public API, with its
# documentation, is mesofield/__init__.py.
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

__version__: str

class ChainModel:
    """AB diblock chain and its periodic box (docs/model.md, "The system"); arguments
    not given are the paper's system (100 beads, 70 A, b = 0.2 sqrt(3/2.25),
    box 6.4 x 6.4). Give segment lengths b or stiffnesses k (with
    lattice_spacing h, b = h sqrt(3/k)), never both for one block."""

    def __init__(
        self,
        beads: Optional[int] = None,
        a_beads: Optional[int] = None,
        segment_a: Optional[float] = None,
        segment_b: Optional[float] = None,
        box: Optional[Tuple[float, float]] = None,
        stiffness_a: Optional[float] = None,
        stiffness_b: Optional[float] = None,
        lattice_spacing: Optional[float] = None,
    ) -> None: ...
    @staticmethod
    def from_toml(path: str) -> ChainModel: ...
    @property
    def beads(self) -> int: ...
    @property
    def a_beads(self) -> int: ...
    @property
    def b_beads(self) -> int: ...
    @property
    def segment_a(self) -> float: ...
    @property
    def segment_b(self) -> float: ...
    @property
    def box(self) -> Tuple[float, float]: ...
    @property
    def f_a(self) -> float: ...
    def to_toml(self) -> str: ...

class Operator:
    """A trained operator's checkpoint folder (``mesofield train --out``)."""

    @staticmethod
    def load(path: str, device: str = "cpu") -> Operator: ...
    @property
    def kind(self) -> str: ...
    @property
    def inputs(self) -> List[str]: ...
    @property
    def outputs(self) -> List[str]: ...
    @property
    def gauge(self) -> str: ...
    @property
    def model(self) -> ChainModel: ...
    @property
    def path(self) -> str: ...
    @property
    def device(self) -> str: ...
    def predict(
        self, w: np.ndarray, model: Optional[ChainModel] = None
    ) -> Tuple[np.ndarray, Union[np.ndarray, float]]: ...
    def export(self, path: str) -> None: ...

def solve(w: np.ndarray, model: Optional[ChainModel] = None) -> Tuple[np.ndarray, Union[np.ndarray, float]]: ...
def scft(
    chi: float,
    init: Union[str, np.ndarray],
    grid: Optional[Tuple[int, int]] = None,
    tol: float = 1e-8,
    max_iterations: int = 5000,
    seed: int = 0,
    model: Optional[ChainModel] = None,
    check: bool = True,
) -> Tuple[np.ndarray, np.ndarray, str]: ...
def spinodal(model: Optional[ChainModel] = None, grid: Optional[Tuple[int, int]] = None) -> str: ...
def sample(
    chi: float,
    beads_per_cell: float = 1000.0,
    steps: int = 1000,
    step_size: float = 0.05,
    seed: int = 0,
    init: Optional[Union[str, np.ndarray]] = None,
    grid: Optional[Tuple[int, int]] = None,
    every: int = 100,
    tol: float = 1e-6,
    model: Optional[ChainModel] = None,
    operator: Optional[Operator] = None,
    integrator: Optional[str] = None,
) -> Dict[str, Any]: ...
def invert(
    phi_a: np.ndarray, model: Optional[ChainModel] = None, tol: float = 1e-10, operator: Optional[Operator] = None
) -> Tuple[np.ndarray, str]: ...
def infer_chi(
    patterns: np.ndarray,
    beads_per_cell: Optional[float] = None,
    step_size: float = 0.0,
    model: Optional[ChainModel] = None,
    tol: float = 1e-10,
    operator: Optional[Operator] = None,
    integrator: Optional[str] = None,
) -> str: ...
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
) -> Tuple[np.ndarray, np.ndarray, str]: ...
def load_dataset(path: str) -> Tuple[Dict[str, np.ndarray], Optional[str]]: ...
def rust_solve_seconds(w: np.ndarray, batch: int, repeats: int = 5) -> float: ...

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
) -> str: ...

class DenoiseOperator:
    @staticmethod
    def load(path: str) -> DenoiseOperator: ...
    @property
    def spec_json(self) -> str: ...
    @property
    def model(self) -> ChainModel: ...
    @property
    def path(self) -> str: ...
    def denoise(
        self, noisy: np.ndarray, sigma: Optional[float] = None, truth: Optional[np.ndarray] = None
    ) -> Tuple[np.ndarray, str]: ...
    def generate(self, count: int, steps: int = 30, seed: int = 0) -> np.ndarray: ...
