//! `mesofield`: the command line of the mesofield framework. It parses,
//! dispatches to `commands/`, and prints one-line errors; the work is in
//! the library crates.

// Training allocates and frees tensors of megabytes per step; glibc's malloc
// returns them to the kernel each time (a quarter of the run in page faults),
// mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use commands::{data, dynamics, fields, operator, patterns, reproduce, sample, with_threads};

#[derive(Parser)]
#[command(
    name = "mesofield",
    version,
    about = "AB diblock field theory and neural operators: exact solver, SCFT, L-FTS, operators, denoising, dynamics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exact solve: read `w` [n, 2, Mx, My], write `phi` and `log_q` (float64).
    Solve(fields::SolveArgs),
    /// Self-consistent field theory: the saddle point at a given chi.
    Scft(fields::ScftArgs),
    /// SCFT from every start at every chi: failures, iterations and time per chi.
    ScftSweep(fields::ScftSweepArgs),
    /// The RPA spinodal of the homogeneous melt (continuous q, and on a grid).
    Spinodal(fields::SpinodalArgs),
    /// Generate a (w, phi) dataset with the exact solver.
    Generate(data::GenerateArgs),
    /// Inspect or merge datasets and the other files mesofield writes.
    #[command(subcommand)]
    Dataset(data::DatasetCommand),
    /// PNG picture of a field or density.
    Plot(data::PlotArgs),
    /// Write a field of a mesofield file as another program's file (PSCF r-grid).
    Export(data::ExportArgs),
    /// Measure exact-solver throughput and SCFT timing.
    Bench(fields::BenchArgs),
    /// Train a Fourier neural operator on exact (w, phi) pairs.
    Train(operator::TrainArgs),
    /// Train a denoise operator ((noisy phi_A, sigma) -> phi_A) on clean patterns, for `denoise --solver operator:DIR/best`.
    TrainDenoiser(operator::TrainDenoiserArgs),
    /// chi from one or two clean samples, clean patterns by L-FTS at that chi, and a denoise operator trained on them.
    Learn(operator::LearnArgs),
    /// New patterns from a denoise operator by reverse diffusion, checked against L-FTS patterns.
    GeneratePatterns(operator::GeneratePatternsArgs),
    /// Compare an operator's predictions with the exact densities of a dataset.
    Eval(operator::EvalArgs),
    /// Operator prediction with the contract of `solve`.
    Predict(operator::PredictArgs),
    /// Time the operator: training step, inference, spectral convolution (synthetic data).
    BenchOperator(operator::BenchOperatorArgs),
    /// Langevin field-theoretic simulation (L-FTS) into a run folder.
    Sample(sample::SampleArgs),
    /// Add Gaussian (and salt-and-pepper) noise to clean patterns, seeded.
    Noise(patterns::NoiseArgs),
    /// Infer chi from clean patterns: the inverse map, then the exchange-field condition.
    InferChi(patterns::InferChiArgs),
    /// Recover patterns from noisy observations by action minimisation (chi given or inferred).
    Denoise(patterns::DenoiseArgs),
    /// Pattern dynamics: d phi_A/dt = div(M grad mu) (paper eq. 26) into a run folder.
    Dynamics(dynamics::DynamicsArgs),
    /// The restricted Boltzmann machine baseline: train, denoise.
    #[command(subcommand)]
    Rbm(patterns::RbmCommand),
    /// Reproduce a figure of the paper end to end (fig1, fig2, fig3, fig4, dynamics).
    Reproduce(reproduce::ReproduceArgs),
}

fn main() -> ExitCode {
    // A reader that closes the pipe early (`| head`) ends the process as it
    // ends C tools, not with a panic on the next print.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default before any
    // thread starts has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("error: {} (see mesofield --help)", first_line_of_clap_error(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// clap's report spans several lines; its first says what is wrong, and a
/// first line ending in ':' continues on the next ones (the missing arguments).
fn first_line_of_clap_error(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut first = lines.first().copied().unwrap_or("invalid arguments").to_string();
    if first.ends_with(':') {
        let more: Vec<&str> = lines[1..].iter().take_while(|l| !l.starts_with("Usage")).copied().collect();
        first = format!("{first} {}", more.join(", "));
    }
    // An invalid value names the ones that are valid on its next line.
    if let Some(values) = lines.get(1).filter(|l| l.starts_with("[possible values")) {
        first = format!("{first} {values}");
    }
    first.trim_start_matches("error: ").to_string()
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Solve(a) => with_threads(a.common.threads, || fields::solve(&a)),
        Command::Scft(a) => with_threads(a.common.threads, || fields::scft(&a)),
        Command::ScftSweep(a) => with_threads(a.common.threads, || fields::scft_sweep(&a)),
        Command::Spinodal(a) => fields::spinodal(&a),
        Command::Bench(a) => with_threads(a.common.threads, || fields::bench(&a)),
        Command::Generate(a) => with_threads(a.common.threads, || data::generate(&a)),
        Command::Dataset(c) => data::dataset(&c),
        Command::Plot(a) => data::plot(&a),
        Command::Export(a) => data::export(&a),
        Command::Train(a) => with_threads(a.common.threads, || operator::train(&a)),
        Command::TrainDenoiser(a) => with_threads(a.common.threads, || operator::train_denoiser(&a)),
        Command::Learn(a) => with_threads(a.common.threads, || operator::learn(&a)),
        Command::GeneratePatterns(a) => with_threads(a.common.threads, || operator::generate_patterns(&a)),
        Command::Eval(a) => with_threads(a.common.threads, || operator::eval(&a)),
        Command::Predict(a) => with_threads(a.common.threads, || operator::predict(&a)),
        Command::BenchOperator(a) => with_threads(a.common.threads, || operator::bench_operator(&a)),
        Command::Sample(a) => with_threads(a.run.common.threads, || sample::sample(&a)),
        Command::Noise(a) => patterns::noise(&a),
        Command::InferChi(a) => with_threads(a.common.threads, || patterns::infer_chi(&a)),
        Command::Denoise(a) => with_threads(a.common.threads, || patterns::denoise(&a)),
        Command::Rbm(c) => patterns::rbm(&c),
        Command::Dynamics(a) => with_threads(a.run.common.threads, || dynamics::dynamics(&a)),
        Command::Reproduce(a) => with_threads(a.threads, || reproduce::reproduce(&a)),
    }
}
