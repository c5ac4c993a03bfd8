"""Feasibility probe for issue 16's pressure operator in correction form.

Question: can a small FNO, given the melt-preconditioned residual of the
L-FTS inner loop (phi_A + phi_B = 1 at fixed W_-), predict the exact
correction W_+* - W_+ well enough that Anderson mixing with the network as
its preconditioner needs far fewer exact solves than with the melt's 1/S_tot?

Everything runs in one process on the mesofield wheel (exact solves) and
torch (the network): L-FTS chains give consecutive partial-saddle states,
the inner loop of each step is replayed from the sampler's own start rule
with the melt preconditioner, its iterates become training pairs, and the
held-out steps are replayed again with the network inside the loop.

Run outside CI, in a venv with torch and the mesofield wheel:
    python bench/pressure_correction_probe.py [--width 16 --layers 3 --modes 8]
"""

import argparse
import time

import numpy as np
import torch

import mesofield as mf

M = 32


def residual(w_minus, w_plus):
    """phi_A + phi_B - 1 and psi = phi_A - phi_B for batches [n, M, M]."""
    w = np.stack([w_plus - w_minus, w_plus + w_minus], axis=1)
    phi, _ = mf.solve(np.ascontiguousarray(w))
    return phi[:, 0] + phi[:, 1] - 1.0, phi[:, 0] - phi[:, 1]


def melt_multiplier():
    eps = 1e-4
    w = np.zeros((2, 2, M, M))
    w[0, :, 0, 0] = eps
    w[1, :, 0, 0] = -eps
    phi, _ = mf.solve(w)
    tot = (phi[0, 0] + phi[0, 1]) - (phi[1, 0] + phi[1, 1])
    k = -np.fft.fft2(tot) / (2 * eps)
    inv = np.zeros_like(k)
    nz = np.abs(k) > 1e-14
    inv[nz] = 1.0 / k[nz]
    inv[0, 0] = 0.0
    return inv.real


class Anderson:
    def __init__(self, n, history=10):
        self.h = history
        self.xs, self.ds = [[] for _ in range(n)], [[] for _ in range(n)]

    def next(self, i, x, d):
        xs, ds = self.xs[i], self.ds[i]
        xs.append(x.ravel().copy())
        ds.append(d.ravel().copy())
        if len(xs) > self.h + 1:
            xs.pop(0)
            ds.pop(0)
        new = x.ravel() + d.ravel()
        if len(xs) > 1:
            dx = np.diff(np.array(xs), axis=0).T
            dd = np.diff(np.array(ds), axis=0).T
            gamma, *_ = np.linalg.lstsq(dd, d.ravel(), rcond=None)
            new = new - (dx + dd) @ gamma
        return new.reshape(x.shape)


def inner_loops(w_minus, w_plus0, precondition, tol, max_iter=200, record=None):
    """Anderson on W_+ for each problem; returns (W_+, solves per problem)."""
    n = len(w_minus)
    w_plus = w_plus0.copy()
    r, psi = residual(w_minus, w_plus)
    solves = np.ones(n, dtype=int)
    active = np.ones(n, dtype=bool)
    mixer = Anderson(n)
    for _ in range(max_iter):
        active &= np.abs(r).reshape(n, -1).max(axis=1) >= tol
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        d = precondition(w_minus[idx], psi[idx], r[idx])
        if record is not None:
            record.append((idx, w_plus[idx].copy(), psi[idx].copy(), r[idx].copy()))
        for k, i in enumerate(idx):
            w_plus[i] = mixer.next(i, w_plus[i], d[k])
        r[idx], psi[idx] = residual(w_minus[idx], w_plus[idx])
        solves[idx] += 1
    return w_plus, solves


def chain_problems(chi, seed, steps, burn):
    t = mf.sample(chi, beads_per_cell=100, steps=burn + steps, seed=seed, init="lamellar:2", every=1)
    w_minus, w_plus = mf.exchange_pressure(t.w)
    psi = 2 * t.phi_a - 1.0
    # Step t -> t + 1 with the sampler's start rule (psi / phi_tot ~ psi).
    start = w_plus[burn:-1] + psi[burn:-1] * (w_minus[burn + 1 :] - w_minus[burn:-1])
    return w_minus[burn + 1 :], start


class SpectralConv(torch.nn.Module):
    def __init__(self, c, modes):
        super().__init__()
        self.modes = modes
        s = 1.0 / (c * c)
        self.w1 = torch.nn.Parameter(s * torch.rand(c, c, modes, modes, dtype=torch.cfloat))
        self.w2 = torch.nn.Parameter(s * torch.rand(c, c, modes, modes, dtype=torch.cfloat))

    def forward(self, x):
        b, c, mx, my = x.shape
        f = torch.fft.rfft2(x)
        out = torch.zeros(b, c, mx, my // 2 + 1, dtype=torch.cfloat)
        m = self.modes
        out[:, :, :m, :m] = torch.einsum("bixy,ioxy->boxy", f[:, :, :m, :m], self.w1)
        out[:, :, -m:, :m] = torch.einsum("bixy,ioxy->boxy", f[:, :, -m:, :m], self.w2)
        return torch.fft.irfft2(out, s=(mx, my))


class Fno(torch.nn.Module):
    def __init__(self, cin, width, layers, modes):
        super().__init__()
        self.lift = torch.nn.Conv2d(cin, width, 1)
        self.spectral = torch.nn.ModuleList([SpectralConv(width, modes) for _ in range(layers)])
        self.skip = torch.nn.ModuleList([torch.nn.Conv2d(width, width, 1) for _ in range(layers)])
        self.p1 = torch.nn.Conv2d(width, 4 * width, 1)
        self.p2 = torch.nn.Conv2d(4 * width, 1, 1)

    def forward(self, x):
        v = self.lift(x)
        for i, (s, k) in enumerate(zip(self.spectral, self.skip)):
            v = s(v) + k(v)
            if i + 1 < len(self.spectral):
                v = torch.nn.functional.gelu(v)
        return self.p2(torch.nn.functional.gelu(self.p1(v)))[:, 0]


def features(w_minus, psi, u, w_std):
    scale = np.sqrt((u**2).mean(axis=(1, 2), keepdims=True)) + 1e-30
    x = np.stack([u / scale, psi, w_minus / w_std], axis=1)
    return torch.tensor(x, dtype=torch.float32), scale


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--modes", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--chis", default="0.4,1.0")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    inv = melt_multiplier()

    def melt(w_minus, psi, r):
        return np.fft.ifft2(np.fft.fft2(r) * inv).real

    chis = [float(c) for c in args.chis.split(",")]
    train_x, train_y, tests = [], [], []
    t0 = time.time()
    for chi in chis:
        for seed, role in [(1, "train"), (2, "train"), (3, "test")]:
            wm, start = chain_problems(chi, seed, args.steps, 100)
            record = []
            final, solves = inner_loops(wm, start, melt, 1e-10, record=record)
            if role == "test":
                tests.append((chi, wm, start, final, solves))
                continue
            for idx, wp, psi, r in record:
                u = melt(None, None, r)
                target = final[idx] - wp
                train_x.append((wm[idx], psi, u))
                train_y.append(target)
    print(f"data {time.time() - t0:.1f} s")
    wm_all = np.concatenate([x[0] for x in train_x])
    w_std = wm_all.std()
    xs, ys = [], []
    for (wm, psi, u), target in zip(train_x, train_y):
        x, scale = features(wm, psi, u, w_std)
        xs.append(x)
        ys.append(torch.tensor((target - u) / scale, dtype=torch.float32))
    x = torch.cat(xs)
    y = torch.cat(ys)
    ref = torch.cat([xx[:, 0] for xx in xs])
    print(f"{len(x)} training pairs; |target| / |u| rms {float((y + ref).pow(2).mean().sqrt()):.3f}, "
          f"melt step's relative error {float(y.pow(2).mean().sqrt() / (y + ref).pow(2).mean().sqrt()):.3f}")
    net = Fno(3, args.width, args.layers, args.modes)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    batches = (len(x) + 63) // 64
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=args.epochs * batches)
    t0 = time.time()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for b in range(batches):
            j = perm[b * 64 : (b + 1) * 64]
            pred = net(x[j])
            full = y[j] + ref[j]
            loss = ((pred - y[j]).pow(2).mean(dim=(1, 2)) / full.pow(2).mean(dim=(1, 2))).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss)
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1}: relative squared error {total / batches:.4f} ({time.time() - t0:.0f} s)")
    net.eval()

    def learned(w_minus, psi, r):
        u = melt(None, None, r)
        xx, scale = features(w_minus, psi, u, w_std)
        with torch.no_grad():
            out = net(xx).numpy().astype(np.float64)
        return (out + u / scale) * scale

    with torch.no_grad():
        one = torch.zeros(1, 3, M, M)
        for _ in range(5):
            net(one)
        t0 = time.perf_counter()
        for _ in range(50):
            net(one)
        call = (time.perf_counter() - t0) / 50
    w0 = np.zeros((1, 2, M, M))
    t0 = time.perf_counter()
    for _ in range(200):
        mf.solve(w0)
    solve = (time.perf_counter() - t0) / 200
    print(f"torch call at batch 1: {call * 1e3:.2f} ms = {call / solve:.2f} exact solves ({solve * 1e3:.2f} ms)")
    for chi, wm, start, final, solves in tests:
        for tol in (1e-6,):
            _, base = inner_loops(wm, start, melt, tol)
            wp, nn = inner_loops(wm, start, learned, tol)
            dev = np.abs(wp - final).max()
            print(f"chi {chi} tol {tol:g}: melt {base.mean():.2f} solves/step, network {nn.mean():.2f} "
                  f"solves/step (+ as many calls), max |W_+ - W_+*| {dev:.2e}")


if __name__ == "__main__":
    main()
