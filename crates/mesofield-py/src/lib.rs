//! `mesofield._native`: the extension module behind the Python package
//! `mesofield` (python/mesofield/__init__.py wraps it with docstrings and
//! result classes). A thin layer like the CLI: every function calls the
//! same library code as the matching command, so results agree to the bit.
//!
//! Conventions: arrays in are C-contiguous float64 numpy arrays, refused
//! otherwise with a one-line `ValueError` (never converted silently);
//! arrays out are new float64 arrays. Long calls run with the interpreter
//! lock released and stop on Ctrl-C (`KeyboardInterrupt`) within one exact
//! solve (`mesofield_physics::interrupt`). Reports that the CLI prints as
//! JSON come back as the same JSON text, which the Python layer parses.

mod arrays;
mod fields;
mod learned;
mod model;
mod operator;
mod patterns;
mod run;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<model::PyChainModel>()?;
    m.add_class::<operator::PyOperator>()?;
    m.add_class::<learned::PyDenoiseOperator>()?;
    m.add_function(wrap_pyfunction!(fields::solve, m)?)?;
    m.add_function(wrap_pyfunction!(fields::scft, m)?)?;
    m.add_function(wrap_pyfunction!(fields::spinodal, m)?)?;
    m.add_function(wrap_pyfunction!(fields::sample, m)?)?;
    m.add_function(wrap_pyfunction!(patterns::invert, m)?)?;
    m.add_function(wrap_pyfunction!(patterns::infer_chi, m)?)?;
    m.add_function(wrap_pyfunction!(patterns::denoise, m)?)?;
    m.add_function(wrap_pyfunction!(operator::load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(learned::learn, m)?)?;
    m.add_function(wrap_pyfunction!(fields::rust_solve_seconds, m)?)?;
    Ok(())
}
