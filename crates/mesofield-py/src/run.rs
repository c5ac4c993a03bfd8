//! Errors as Python exceptions, and long calls off the interpreter lock
//! that stop on Ctrl-C.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use mesofield_fno::training::Stop;
use mesofield_physics::Error;
use mesofield_physics::interrupt::with_interrupt;

/// Why a call failed, by the exception it becomes.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: `ValueError`.
    Input(String),
    /// A loop that did not converge or left the model's domain: `RuntimeError`.
    Run(String),
    /// A file that cannot be read or written: `OSError`.
    Io(String),
    Interrupted,
}

pub type Outcome<T> = Result<T, Failure>;

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        match f {
            Failure::Input(m) => PyValueError::new_err(m),
            Failure::Run(m) => PyRuntimeError::new_err(m),
            Failure::Io(m) => PyOSError::new_err(m),
            Failure::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        }
    }
}

impl From<Error> for Failure {
    /// A domain error here comes from a loop's own iterates; `solve` maps
    /// the domain errors of the user's fields to `Input` itself.
    fn from(e: Error) -> Failure {
        match e {
            Error::Model(_) | Error::Grid(_) | Error::Shape(_) | Error::Parameter(_) => Failure::Input(e.to_string()),
            Error::Dataset(_) => Failure::Input(e.to_string()),
            Error::Io(m) => Failure::Io(m),
            Error::Interrupted => Failure::Interrupted,
            Error::Domain { .. } | Error::Scft(_) | Error::Sampling(_) => Failure::Run(e.to_string()),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        match e.downcast_ref::<Error>() {
            // Context added to a physics error stays in the message.
            Some(inner) if e.chain().count() == 1 => Failure::from(inner.clone()),
            Some(Error::Interrupted) => Failure::Interrupted,
            _ => Failure::Run(format!("{e:#}")),
        }
    }
}

impl From<mesofield_physics::ModelError> for Failure {
    fn from(e: mesofield_physics::ModelError) -> Failure {
        Failure::Input(e.to_string())
    }
}

/// How often the waiting interpreter thread looks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(25);

/// Runs `work` on a worker thread with the interpreter lock released;
/// meanwhile this thread checks for signals, and on Ctrl-C sets the
/// interrupt flag of every exact solver `work` creates (which then fails
/// its next solve), waits for `work` to stop and raises `KeyboardInterrupt`.
/// A panic in `work` becomes a `RuntimeError` naming it a bug.
pub fn interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Outcome<T> + Send,
{
    interruptible_with(py, None, work)
}

/// `interruptible` for work that trains: Ctrl-C also asks the training
/// loop to stop (it saves `last` after the batch in progress, so the same
/// call with `resume=True` goes on from there).
pub fn interruptible_training<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Stop) -> Outcome<T> + Send,
{
    let stop = Stop::never();
    interruptible_with(py, Some(&stop), || work(&stop))
}

fn interruptible_with<T, F>(py: Python<'_>, stop: Option<&Stop>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Outcome<T> + Send,
{
    let flag = Arc::new(AtomicBool::new(false));
    let (outcome, signal) = py.detach(|| {
        std::thread::scope(|scope| {
            let (tx, rx) = channel();
            let worker_flag = flag.clone();
            scope.spawn(move || {
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| with_interrupt(worker_flag, work)));
                // The receiver waits for exactly this message.
                let _ = tx.send(result);
            });
            let mut signal: Option<PyErr> = None;
            loop {
                match rx.recv_timeout(SIGNAL_POLL) {
                    Ok(result) => return (result, signal),
                    Err(RecvTimeoutError::Timeout) => {
                        if signal.is_none()
                            && let Err(e) = Python::attach(|py| py.check_signals())
                        {
                            flag.store(true, Ordering::Relaxed);
                            if let Some(stop) = stop {
                                stop.requested.store(true, Ordering::Relaxed);
                            }
                            signal = Some(e);
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        let gone: Box<dyn Any + Send> = Box::new("the worker thread ended without a result");
                        return (Err(gone), signal);
                    }
                }
            }
        })
    });
    // The signal handler's exception (KeyboardInterrupt for Ctrl-C) wins
    // over the Interrupted error it caused.
    if let Some(e) = signal {
        return Err(e);
    }
    match outcome {
        Ok(result) => result.map_err(PyErr::from),
        Err(panic) => Err(PyRuntimeError::new_err(format!(
            "internal error (a bug in mesofield, please report it): {}",
            panic_message(panic.as_ref())
        ))),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}
