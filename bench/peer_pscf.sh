#!/usr/bin/env bash
# L-FTS side by side with PSCF 1.3.3 (pscfpp's pscf_pc, bead model,
# Brownian dynamics with the Leimkuhler-Matthews step LMBdStep and the
# linear-response Anderson compressor LrAmCompressor): the same system,
# start, step and compressor tolerance, one thread each, alternating runs.
# Prints a markdown table: steps/s, solves (MDE solves) per step, the mean
# dF per chain over the last half with its standard error, tau_int of H and
# decorrelated samples of H per second. Not run in CI.
#
#   bench/peer_pscf.sh                 # 32x32 (box 6.4) and 64x64 (box 12.8), chi 0.4 and 1.0
#   GRIDS=32 CHIS=0.4 STEPS=1000 ROUNDS=1 bench/peer_pscf.sh
#
# PSCF is built from its sources beside the repository (PSCF_DIR, default
# ../pscfpp; needs g++, make, python3, GSL and FFTW: Debian's libgsl-dev,
# libfftw3-dev). mesofield from MESOFIELD_BIN (default target/release/mesofield,
# or $CARGO_TARGET_DIR/release/mesofield).
#
# The mapping (docs/formats.md, PSCF r-grid): PSCF's bead model with 70 A +
# 30 B beads and b = 0.2309401076758503 is mesofield's default chain; its
# vMonomer = h^2 / B (cell area over beads per cell) and mobility =
# lambda vMonomer give mesofield's B and lambda; dF per chain =
# H_PSCF / n + 1 - N chi f (1 - f) with n = M B / N chains. Both start from
# the SCFT saddle point at that chi from lamellar:M/16 (two periods on
# 32x32), exported as PSCF's r-grid file (from mesofield's lamellar start
# fields PSCF's compressor diverges at chi = 1.0), and compress it first.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pscf_dir=${PSCF_DIR:-$root/../pscfpp}
bin=${MESOFIELD_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/mesofield}
grids=${GRIDS:-"32 64"}
chis=${CHIS:-"0.4 1.0"}
steps=${STEPS:-2000}
rounds=${ROUNDS:-3}
lambda=${LAMBDA:-0.05}
tol=${TOL:-1e-4}
beads_per_cell=${B:-100}
seed=${SEED:-1}

if [ ! -x "$pscf_dir/bin/pscf_pc" ]; then
    if [ ! -d "$pscf_dir" ]; then
        git clone --branch v1.3.3 --recursive https://github.com/dmorse/pscfpp "$pscf_dir"
    fi
    (cd "$pscf_dir" && ./configure > /dev/null &&
        PYTHONPATH="$pscf_dir/lib/python:${PYTHONPATH:-}" PATH="$pscf_dir/bin:$PATH" make -j2 pscf_pc > /dev/null)
fi
pscf=$pscf_dir/bin/pscf_pc
[ -x "$bin" ] || { echo "no mesofield binary at $bin (cargo build --release)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1

now() { date +%s.%N; }

pscf_run() { # dir chi mesh vmonomer mobility
    local dir=$1 chi=$2 mesh=$3 vmonomer=$4 mobility=$5
    mkdir -p "$dir/out"
    cat > "$dir/param" <<EOF
System{
  polymerModel  Bead
  Mixture{
    nMonomer  2
    monomers[
             0.2309401076758503
             0.2309401076758503
    ]
    nPolymer  1
    Polymer{
      type    linear
      nBlock  2
      blocks[
              0   70
              1   30
      ]
      phi     1.0
    }
    vMonomer  $vmonomer
  }
  Interaction{
    chi(
        1   0   $chi
    )
  }
  Domain{
    mesh         $mesh    $mesh
    lattice      square
  }
  BdSimulator{
    seed           $seed
    LMBdStep{
      mobility  $mobility
    }
    LrAmCompressor{
      epsilon      $tol
      maxItr       200
      maxHist      20
      verbose      0
      errorType    max
    }
    AnalyzerManager{
      baseInterval    1
      HamiltonianAnalyzer{
        interval         1
        outputFileName   out/hamiltonian
        nSamplePerOutput 1
      }
    }
  }
}
EOF
    printf 'READ_W_RGRID in/w.rf\nCOMPRESS\nSIMULATE %s\nFINISH\n' "$steps" > "$dir/command"
    local t0 t1
    t0=$(now)
    if ! (cd "$dir" && "$pscf" -d 2 -p param -c command > log 2>&1); then
        return 1
    fi
    t1=$(now)
    echo "$t0 $t1" > "$dir/seconds"
}

analyse() { # kind dir chains offset steps
    python3 - "$@" <<'EOF'
import json, sys
import numpy as np
kind, d, chains, offset, steps = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])

def tau_int(x):
    # Sokal's automatic window (c = 5), as mesofield's stats::integrated_time.
    x = np.asarray(x) - np.mean(x)
    n = len(x)
    f = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n] / np.arange(n, 0, -1)
    rho = acf / acf[0]
    tau = 0.5
    for w in range(1, n // 2):
        tau += rho[w]
        if w >= 5 * tau:
            return tau
    return tau

if kind == "pscf":
    rows = [l.split() for l in open(f"{d}/out/hamiltonian.dat") if l.strip() and l.split()[0].lstrip("-").isdigit()]
    step = np.array([int(r[0]) for r in rows])
    h = np.array([float(r[3]) for r in rows]) / chains + offset
    t0, t1 = map(float, open(f"{d}/seconds").read().split())
    solves = next(int(l.split()[-1]) for l in open(f"{d}/log") if l.startswith("MDE counter"))
    seconds = t1 - t0
else:
    trace = [json.loads(l) for l in open(f"{d}/trace.jsonl")]
    step = np.array([t["step"] for t in trace])
    h = np.array([t["hamiltonian"] for t in trace])
    s = json.load(open(f"{d}/summary.json"))
    solves, seconds = s["exact_solves"], s["seconds"]
half = h[step > steps // 2]
tau = tau_int(half)
err = np.sqrt(2 * tau * np.var(half, ddof=1) / len(half))
print(f"{steps / seconds:.1f} {solves / steps:.1f} {np.mean(half):.4f} {err:.4f} {tau:.2f} {steps / seconds / (2 * tau):.1f}")
EOF
}

echo "| grid | chi | run | steps/s | solves/step | dF per chain (last half) | tau_int(H), steps | effective samples of H/s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for m in $grids; do
    box=$(python3 -c "print($m * 0.2)")
    printf 'box = [%s, %s]\n' "$box" "$box" > "$work/model.toml"
    chains=$(python3 -c "print($m * $m * $beads_per_cell / 100)")
    vmonomer=$(python3 -c "print(0.04 / $beads_per_cell)")
    mobility=$(python3 -c "print($lambda * 0.04 / $beads_per_cell)")
    for chi in $chis; do
        offset=$(python3 -c "print(1 - 21 * $chi)")
        "$bin" scft --chi "$chi" --init "lamellar:$((m / 16))" --grid "${m}x${m}" --model "$work/model.toml" \
            --tol 1e-8 --output "$work/start.safetensors" > /dev/null 2>&1
        "$bin" export --input "$work/start.safetensors" --model "$work/model.toml" --out "$work/w.rf" > /dev/null
        for round in $(seq 1 "$rounds"); do
            dir=$work/pscf_${m}_${chi}_$round
            mkdir -p "$dir/in" && cp "$work/w.rf" "$dir/in/w.rf"
            if pscf_run "$dir" "$chi" "$m" "$vmonomer" "$mobility"; then
                read -r sps spp h herr tau ess < <(analyse pscf "$dir" "$chains" "$offset" "$steps")
                echo "| ${m}x${m} | $chi | PSCF LM + LrAm, max $tol | $sps | $spp | $h +- $herr | $tau | $ess |"
            else
                echo "| ${m}x${m} | $chi | PSCF LM + LrAm, max $tol | failed: $(grep -m1 -i -E 'error|fail|exception' "$dir/log" || tail -1 "$dir/log") | | | | |"
            fi
            for t in "$tol" 1e-6; do
                dir=$work/meso_${m}_${chi}_${round}_$t
                "$bin" sample --chi "$chi" --beads-per-cell "$beads_per_cell" --steps "$steps" --step-size "$lambda" \
                    --integrator lm --seed "$seed" --init "$work/start.safetensors" --model "$work/model.toml" \
                    --tol "$t" --every 0 --threads 1 --out "$dir" > /dev/null 2>&1
                read -r sps spp h herr tau ess < <(analyse mesofield "$dir" "$chains" "$offset" "$steps")
                echo "| ${m}x${m} | $chi | mesofield lm, tol $t | $sps | $spp | $h +- $herr | $tau | $ess |"
            done
        done
    done
done
