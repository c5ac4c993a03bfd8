"""A trained mesofield density operator in PyTorch, and the same forward pass
in numpy as a reference.

    import mesofield
    mesofield.Operator.load("checkpoints/fig3/best").export("fno.safetensors")

    import mesofield.torch
    model = mesofield.torch.load("fno.safetensors")       # a torch.nn.Module
    phi, log_q = model.predict(w)                          # w: [n, 2, Mx, My] (torch or numpy)

`model(x)` is the network alone (normalised, channels-last inputs -> density
logits and normalised ln Q), for fine-tuning; `model.predict` adds the
normalisation and the density map, so it returns what
`mesofield.Operator.predict` returns, to float32 rounding (checked by
bench/check_torch_export.py). The file layout is in
crates/mesofield-fno/src/export.rs. `numpy_predict` is the forward pass
in float64 numpy (no torch needed), which CI checks against
`Operator.predict`. Reading an export needs the `safetensors` package;
`load` needs PyTorch and says so where it is missing.
"""

import json
import math

import numpy as np

FORMAT = "mesofield-fno-torch-1"
# softplus^{-1}(1), and the slope of softplus there (crates/mesofield-fno/src/model.rs).
UNIFORM_LOGIT = 0.5413248546129181
UNIFORM_SLOPE = 0.6321205588285577


def read(path):
    """(tensors as float32 numpy arrays, metadata dict) of an exported file."""
    try:
        from safetensors import safe_open
    except ImportError:
        raise ImportError("reading a mesofield PyTorch export needs the safetensors package (pip install safetensors)") from None

    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads((f.metadata() or {}).get("mesofield", "{}"))
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a mesofield PyTorch export (format {meta.get('format')!r}, expected {FORMAT!r})")
    return tensors, meta


def _inputs(w, meta):
    """Zero-mean fields over their training spread, channels last, and the
    gauge term N_A mean(w_A) + N_B mean(w_B) that ln Q gets back."""
    norm = meta["normalization"]
    means = w.mean(axis=(2, 3), keepdims=True)
    x = (w - means) / np.asarray(norm["w_std"]).reshape(1, 2, 1, 1)
    model = norm["model"]
    gauge = model["a_beads"] * means[:, 0, 0, 0] + (model["beads"] - model["a_beads"]) * means[:, 1, 0, 0]
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)), gauge


def _positions(mx, my):
    tx = 2 * np.pi * np.arange(mx) / mx
    ty = 2 * np.pi * np.arange(my) / my
    gx, gy = np.meshgrid(tx, ty, indexing="ij")
    return np.stack([np.sin(gx), np.cos(gx), np.sin(gy), np.cos(gy)], axis=-1)


_erf = np.frompyfunc(math.erf, 1, 1)


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def numpy_predict(path_or_weights, w):
    """(phi [n, 2, Mx, My], log_q [n]) of fields w [n, 2, Mx, My], float64."""
    tensors, meta = read(path_or_weights) if isinstance(path_or_weights, str) else path_or_weights
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    cfg = meta["config"]
    w = np.asarray(w, dtype=np.float64)
    n, _, mx, my = w.shape
    x, gauge = _inputs(w, meta)
    if cfg["positional_embedding"]:
        x = np.concatenate([x, np.broadcast_to(_positions(mx, my), (n, mx, my, 4))], axis=-1)

    def linear(name, v):
        return v @ t[name + ".weight"].T + t[name + ".bias"]

    kx, ky = cfg["modes_x"], cfg["modes_y"]
    v = linear("lift_out", _gelu(linear("lift_in", x)))
    for i in range(cfg["layers"]):
        weight = t[f"layers.{i}.spectral.weight_re"] + 1j * t[f"layers.{i}.spectral.weight_im"]
        spectrum = np.fft.rfft2(v, axes=(1, 2))
        kept = np.concatenate([spectrum[:, :kx, :ky], spectrum[:, -kx:, :ky]], axis=1)
        mixed = np.einsum("bxyi,ioxy->bxyo", kept, weight)
        full = np.zeros((n, mx, my // 2 + 1, weight.shape[1]), dtype=complex)
        full[:, :kx, :ky] = mixed[:, :kx]
        full[:, -kx:, :ky] = mixed[:, kx:]
        nxt = np.fft.irfft2(full, s=(mx, my), axes=(1, 2)) + linear(f"layers.{i}.skip", v)
        v = _gelu(nxt) if i < cfg["layers"] - 1 else nxt
    logits = linear("project_out", _gelu(linear("project_in", v)))
    phi = _densities_np(logits, meta, cfg["log_density"])
    norm = meta["normalization"]
    if "log_q_head.weight" in t:
        free = linear("log_q_head", v.mean(axis=(1, 2)))[:, 0] * norm["log_q_std"] + norm["log_q_mean"]
        log_q = free - gauge
    else:
        log_q = np.full(n, np.nan)
    return phi, log_q


def _densities_np(logits, meta, log_density):
    scale = meta["normalization"]["logit_scale"]
    f_a = meta["f_a"]
    out = []
    for c, fraction in [(0, f_a), (1, 1.0 - f_a)]:
        z = logits[..., c]
        if log_density:
            z = z * scale[c] * UNIFORM_SLOPE
            p = np.exp(z - z.max(axis=(1, 2), keepdims=True))
        else:
            p = np.logaddexp(0.0, z * scale[c] + UNIFORM_LOGIT)
        out.append(p / p.mean(axis=(1, 2), keepdims=True) * fraction)
    return np.stack(out, axis=1)


try:
    import torch
    from torch import nn
except ImportError:  # the numpy reference works without torch
    torch = None

if torch is not None:

    class SpectralConv2d(nn.Module):
        """K v: per kept mode (x: 0..Kx-1 and -Kx..-1, y: 0..Ky-1) a complex channel mix."""

        def __init__(self, c_in, c_out, modes_x, modes_y):
            super().__init__()
            self.modes_x, self.modes_y = modes_x, modes_y
            self.weight_re = nn.Parameter(torch.zeros(c_in, c_out, 2 * modes_x, modes_y))
            self.weight_im = nn.Parameter(torch.zeros(c_in, c_out, 2 * modes_x, modes_y))

        def forward(self, v):  # [B, Mx, My, C], channels last
            b, mx, my, _ = v.shape
            kx, ky = self.modes_x, self.modes_y
            spectrum = torch.fft.rfft2(v.permute(0, 3, 1, 2))
            kept = torch.cat([spectrum[:, :, :kx, :ky], spectrum[:, :, -kx:, :ky]], dim=2)
            mixed = torch.einsum("bixy,ioxy->boxy", kept, torch.complex(self.weight_re, self.weight_im))
            full = torch.zeros(b, mixed.shape[1], mx, my // 2 + 1, dtype=mixed.dtype, device=v.device)
            full[:, :, :kx, :ky] = mixed[:, :, :kx]
            full[:, :, -kx:, :ky] = mixed[:, :, kx:]
            return torch.fft.irfft2(full, s=(mx, my)).permute(0, 2, 3, 1)

    class FourierLayer(nn.Module):
        def __init__(self, width, modes_x, modes_y):
            super().__init__()
            self.spectral = SpectralConv2d(width, width, modes_x, modes_y)
            self.skip = nn.Linear(width, width)

    class MesofieldFNO(nn.Module):
        """The FNO of crates/mesofield-fno/src/model.rs (channels last)."""

        def __init__(self, meta):
            super().__init__()
            cfg = meta["config"]
            self.meta = meta
            self.positional_embedding = cfg["positional_embedding"]
            self.log_density = cfg["log_density"]
            width, hidden = cfg["width"], cfg["lifting_ratio"] * cfg["width"]
            self.lift_in = nn.Linear(6 if self.positional_embedding else 2, hidden)
            self.lift_out = nn.Linear(hidden, width)
            self.layers = nn.ModuleList(
                [FourierLayer(width, cfg["modes_x"], cfg["modes_y"]) for _ in range(cfg["layers"])]
            )
            self.project_in = nn.Linear(width, cfg["projection_hidden"])
            self.project_out = nn.Linear(cfg["projection_hidden"], 2)
            self.log_q_head = nn.Linear(width, 1) if cfg["predict_log_q"] else None

        def forward(self, x):
            """x: normalised zero-mean (w_A, w_B), [B, Mx, My, 2] -> (density logits
            [B, Mx, My, 2], normalised ln Q [B] or None)."""
            if self.positional_embedding:
                b, mx, my, _ = x.shape
                pos = torch.as_tensor(_positions(mx, my), dtype=x.dtype, device=x.device)
                x = torch.cat([x, pos.expand(b, mx, my, 4)], dim=-1)
            gelu = nn.functional.gelu
            v = self.lift_out(gelu(self.lift_in(x)))
            for i, layer in enumerate(self.layers):
                nxt = layer.spectral(v) + layer.skip(v)
                v = gelu(nxt) if i < len(self.layers) - 1 else nxt
            log_q = self.log_q_head(v.mean(dim=(1, 2)))[:, 0] if self.log_q_head is not None else None
            return self.project_out(gelu(self.project_in(v))), log_q

        def predict(self, w):
            """(phi [n, 2, Mx, My], log_q [n]) for fields w [n, 2, Mx, My], as
            mesofield.Operator.predict (float64 numpy in and out)."""
            w = np.asarray(w.detach().cpu().numpy() if torch.is_tensor(w) else w, dtype=np.float64)
            x, gauge = _inputs(w, self.meta)
            p = next(self.parameters())
            with torch.no_grad():
                logits, log_q = self(torch.as_tensor(x, dtype=p.dtype, device=p.device))
                scale = self.meta["normalization"]["logit_scale"]
                f_a = self.meta["f_a"]
                channels = []
                for c, fraction in [(0, f_a), (1, 1.0 - f_a)]:
                    z = logits[..., c]
                    if self.log_density:
                        z = z * (scale[c] * UNIFORM_SLOPE)
                        q = torch.exp(z - z.amax(dim=(1, 2), keepdim=True))
                    else:
                        q = nn.functional.softplus(z * scale[c] + UNIFORM_LOGIT)
                    channels.append(q / q.mean(dim=(1, 2), keepdim=True) * fraction)
                phi = torch.stack(channels, dim=1).double().cpu().numpy()
            norm = self.meta["normalization"]
            if log_q is None:
                return phi, np.full(w.shape[0], np.nan)
            free = log_q.double().cpu().numpy() * norm["log_q_std"] + norm["log_q_mean"]
            return phi, free - gauge

    def load(path, device="cpu"):
        """The exported operator at `path` as a MesofieldFNO (float32, eval mode)."""
        tensors, meta = read(path)
        model = MesofieldFNO(meta)
        model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()})
        return model.to(device).eval()

else:

    def load(path, device="cpu"):
        """Needs PyTorch; ``numpy_predict`` gives the same forward pass without it."""
        raise ImportError("mesofield.torch.load needs PyTorch (pip install torch); numpy_predict works without it")
