//! Progress of long jobs: an indicatif bar on a terminal, plain lines when
//! stderr is a file or a pipe (a batch job, `... > log 2>&1`), where a bar
//! would be invisible until the end; nothing at all in tests.
//!
//! Plain mode prints a line every `PLAIN_STEP` of a stage's length but no
//! more often than every `PLAIN_MIN_SECONDS` (a stage of a second prints
//! only its closing line), at least every `PLAIN_SECONDS` while it moves,
//! and a closing line when it finishes, each with the stage's latest
//! message. A stage that ends in an error prints nothing more, so a failing
//! command's last line is its error.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Fraction of a stage between two plain lines.
const PLAIN_STEP: f64 = 0.05;
/// Longest quiet spell of a moving stage in plain mode.
const PLAIN_SECONDS: f64 = 30.0;
/// Shortest spell between two progress lines in plain mode.
const PLAIN_MIN_SECONDS: f64 = 2.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An indicatif bar (stderr is a terminal).
    Bar,
    /// One line per stage start, every few percent and the end.
    Lines,
    /// Nothing (library tests, `--json` consumers that parse stderr).
    Silent,
}

impl Mode {
    /// `Bar` when stderr is a terminal, else `Lines`.
    pub fn detect() -> Mode {
        if std::io::stderr().is_terminal() { Mode::Bar } else { Mode::Lines }
    }
}

/// How a pipeline reports: the mode its stages use.
#[derive(Clone, Copy, Debug)]
pub struct Reporter {
    pub mode: Mode,
}

impl Reporter {
    pub fn detect() -> Reporter {
        Reporter { mode: Mode::detect() }
    }
    pub fn silent() -> Reporter {
        Reporter { mode: Mode::Silent }
    }
    /// A stage of `len` units named `what`.
    pub fn stage(&self, len: u64, what: &str) -> Stage {
        Stage::new(self.mode, len, what)
    }
    /// A line that is not part of a stage (a decision, a reused result).
    pub fn note(&self, text: &str) {
        if self.mode != Mode::Silent {
            eprintln!("{text}");
        }
    }
}

struct Plain {
    what: String,
    message: String,
    len: u64,
    pos: u64,
    last_printed: u64,
    last_time: Instant,
    started: Instant,
}

/// One stage's progress; `finish` (or drop) ends it.
pub struct Stage {
    bar: Option<ProgressBar>,
    plain: Option<Mutex<Plain>>,
}

impl Stage {
    fn new(mode: Mode, len: u64, what: &str) -> Stage {
        match mode {
            Mode::Bar => {
                let bar = ProgressBar::new(len);
                bar.set_style(
                    ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
                        .expect("static template")
                        .progress_chars("=> "),
                );
                bar.set_message(what.to_string());
                Stage { bar: Some(bar), plain: None }
            }
            Mode::Lines => {
                let now = Instant::now();
                let plain = Plain {
                    what: what.to_string(),
                    message: String::new(),
                    len,
                    pos: 0,
                    last_printed: 0,
                    last_time: now,
                    started: now,
                };
                Stage { bar: None, plain: Some(Mutex::new(plain)) }
            }
            Mode::Silent => Stage { bar: None, plain: None },
        }
    }

    pub fn set_length(&self, len: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(len);
        }
        if let Some(p) = &self.plain {
            p.lock().unwrap_or_else(|e| e.into_inner()).len = len;
        }
    }

    pub fn set_position(&self, pos: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(pos);
        }
        if let Some(p) = &self.plain {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            p.pos = pos;
            Self::maybe_print(&mut p);
        }
    }

    pub fn inc(&self, by: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(by);
        }
        if let Some(p) = &self.plain {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            p.pos += by;
            Self::maybe_print(&mut p);
        }
    }

    /// The stage's current state in words (a residual, a loss).
    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        } else if let Some(p) = &self.plain {
            p.lock().unwrap_or_else(|e| e.into_inner()).message = message;
        }
    }

    /// A line above the bar (an epoch's metrics): kept in every mode but silent.
    pub fn println(&self, line: impl AsRef<str>) {
        if let Some(bar) = &self.bar {
            bar.println(line.as_ref());
        } else if self.plain.is_some() {
            eprintln!("{}", line.as_ref());
        }
    }

    /// Ends the stage: a bar is cleared, plain mode prints the closing line.
    /// A stage dropped without `finish` (an error on the way) says nothing,
    /// so a failing command's one line is its error.
    pub fn finish(self) {
        if let Some(p) = &self.plain {
            let p = p.lock().unwrap_or_else(|e| e.into_inner());
            let sep = if p.message.is_empty() { "" } else { ", " };
            eprintln!(
                "{}: done, {}/{} in {:.1} s{sep}{}",
                p.what,
                p.pos,
                p.len,
                p.started.elapsed().as_secs_f64(),
                p.message
            );
        }
    }

    fn maybe_print(p: &mut Plain) {
        let step = ((p.len as f64 * PLAIN_STEP).ceil() as u64).max(1);
        let since = p.last_time.elapsed();
        let due = p.pos >= p.last_printed + step && since >= Duration::from_secs_f64(PLAIN_MIN_SECONDS);
        let quiet = since >= Duration::from_secs_f64(PLAIN_SECONDS) && p.pos > p.last_printed;
        if due || quiet {
            p.last_printed = p.pos;
            p.last_time = Instant::now();
            let percent = if p.len > 0 { 100.0 * p.pos as f64 / p.len as f64 } else { 0.0 };
            let sep = if p.message.is_empty() { "" } else { ", " };
            eprintln!(
                "{}: {}/{} ({percent:.0}%), {:.1} s{sep}{}",
                p.what,
                p.pos,
                p.len,
                p.started.elapsed().as_secs_f64(),
                p.message
            );
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
