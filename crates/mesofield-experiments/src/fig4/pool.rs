//! The L-FTS patterns every stage draws from: one dataset of runs at the
//! spec's chi, run by run (test runs, then the chi pairs, then the pool of
//! the data-driven baselines).

use std::path::Path;

use anyhow::{Context, Result};

use mesofield_physics::ChainModel;
use mesofield_physics::dataset::{Dataset, GeneratorConfig, LftsFamily};

use super::Fig4Spec;
use crate::datasets::load_or_generate;
use crate::progress::Reporter;

pub struct Pool {
    pub data: Dataset,
}

impl Pool {
    pub fn load_or_generate(spec: &Fig4Spec, dir: &Path, model: &ChainModel, reporter: &Reporter) -> Result<Pool> {
        std::fs::create_dir_all(dir)?;
        let runs = spec.test_runs + 2 * spec.chi_pairs + spec.pool_runs;
        let generator = GeneratorConfig {
            grid: spec.grid,
            seed: spec.seed,
            grf: Default::default(),
            scft: Default::default(),
            lfts: LftsFamily {
                runs,
                snapshots_per_run: spec.snapshots,
                chi: [spec.chi, spec.chi],
                steps: spec.steps,
                beads_per_cell: spec.beads_per_cell,
                beads_per_cell_max: None,
                step_size: spec.step_size,
                integrator: spec.integrator,
            },
        };
        let data = load_or_generate(&dir.join("pool.safetensors"), model, &generator, "L-FTS patterns", reporter)?;
        Ok(Pool { data })
    }

    fn points(&self) -> usize {
        self.data.mx * self.data.my
    }

    /// The sample index of run `r`'s last snapshot.
    pub fn last_of(&self, r: usize) -> Result<usize> {
        let d = &self.data;
        (0..d.len())
            .filter(|&i| d.run[i] == r as i64)
            .max_by_key(|&i| d.step[i])
            .with_context(|| format!("the pool has no snapshot of run {r}"))
    }

    /// The test patterns (the last snapshots of the test runs) and the
    /// validation patterns that choose Fig. 2's RBM (those of the chi-pair
    /// runs, at most `rbm_validation_patterns`).
    pub fn tests_and_validation(&self, spec: &Fig4Spec) -> Result<(Vec<usize>, Vec<usize>)> {
        let tests = (0..spec.test_runs).map(|r| self.last_of(r)).collect::<Result<_>>()?;
        let validation = (spec.test_runs..spec.test_runs + 2 * spec.chi_pairs)
            .take(spec.rbm_validation_patterns)
            .map(|r| self.last_of(r))
            .collect::<Result<_>>()?;
        Ok((tests, validation))
    }

    /// phi_A of sample `i`.
    pub fn phi_a(&self, i: usize) -> &[f64] {
        let m = self.points();
        &self.data.phi[i * 2 * m..i * 2 * m + m]
    }

    /// The baselines' training samples: those of the pool runs, the last
    /// snapshots of distinct runs first, so a small set holds independent patterns.
    pub fn baseline_samples(&self, spec: &Fig4Spec) -> Vec<usize> {
        let d = &self.data;
        let first_pool_run = (spec.test_runs + 2 * spec.chi_pairs) as i64;
        let mut samples: Vec<usize> = (0..d.len()).filter(|&i| d.run[i] >= first_pool_run).collect();
        samples.sort_by_key(|&i| (std::cmp::Reverse(d.step[i]), d.run[i]));
        samples
    }
}
