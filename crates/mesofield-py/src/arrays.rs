//! numpy arrays in and out. Inputs are checked, not converted: a float32,
//! Fortran-ordered or strided array would otherwise be copied (or worse,
//! reinterpreted) behind the user's back, so each is refused with a
//! one-line message saying how to pass it.

use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A float64 array's shape and values (copied: the call then runs without
/// the interpreter lock, while Python code may change the array).
pub struct Input {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Reads `obj` as a C-contiguous float64 numpy array with finite values.
pub fn read_f64(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Input> {
    let py = obj.py();
    let Ok(untyped) = obj.cast::<PyUntypedArray>() else {
        let type_name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        return Err(PyValueError::new_err(format!(
            "{name} must be a numpy array of float64, got {type_name} (use np.asarray({name}, dtype=np.float64))"
        )));
    };
    let dtype = untyped.dtype();
    if !dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        let got = dtype.str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into());
        return Err(PyValueError::new_err(format!(
            "{name} must be float64, got dtype {got} (use np.asarray({name}, dtype=np.float64))"
        )));
    }
    if !untyped.is_c_contiguous() {
        let layout = if untyped.is_fortran_contiguous() { "Fortran-ordered" } else { "not contiguous" };
        return Err(PyValueError::new_err(format!(
            "{name} is {layout}; pass a C-contiguous array (np.ascontiguousarray({name}))"
        )));
    }
    let array = obj.cast::<PyArrayDyn<f64>>().map_err(|e| PyValueError::new_err(format!("{name}: {e}")))?;
    let shape = untyped.shape().to_vec();
    let data = array.readonly().as_slice().map_err(|e| PyValueError::new_err(format!("{name}: {e}")))?.to_vec();
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "{name} has a non-finite value ({}) at index {:?}",
            data[i],
            unravel(i, &shape)
        )));
    }
    Ok(Input { shape, data })
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (k, &n) in shape.iter().enumerate().rev() {
        index[k] = i % n.max(1);
        i /= n.max(1);
    }
    index
}

/// A new float64 array of `shape` holding `data`.
pub fn to_numpy<'py>(py: Python<'py>, shape: &[usize], data: Vec<f64>) -> Bound<'py, PyArrayDyn<f64>> {
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("the shape matches the values").into_pyarray(py)
}

/// Fields `[n, 2, Mx, My]` or one sample `[2, Mx, My]`: (n, Mx, My, batched).
pub fn field_shape(shape: &[usize], name: &str) -> PyResult<(usize, usize, usize, bool)> {
    match *shape {
        [n, 2, mx, my] if n >= 1 && mx >= 2 && my >= 2 => Ok((n, mx, my, true)),
        [2, mx, my] if mx >= 2 && my >= 2 => Ok((1, mx, my, false)),
        _ => Err(PyValueError::new_err(format!(
            "{name} has shape {shape:?}; expected [n, 2, Mx, My] or [2, Mx, My] (channel 0 = A, 1 = B; Mx, My >= 2)"
        ))),
    }
}

/// Patterns `[n, Mx, My]` or one `[Mx, My]`: (n, Mx, My, batched).
pub fn pattern_shape(shape: &[usize], name: &str) -> PyResult<(usize, usize, usize, bool)> {
    match *shape {
        [n, mx, my] if n >= 1 && mx >= 2 && my >= 2 => Ok((n, mx, my, true)),
        [mx, my] if mx >= 2 && my >= 2 => Ok((1, mx, my, false)),
        _ => Err(PyValueError::new_err(format!(
            "{name} has shape {shape:?}; expected [n, Mx, My] or [Mx, My] (phi_A; Mx, My >= 2)"
        ))),
    }
}

/// `[n, rest...]` for a batched call, `[rest...]` for a single sample.
pub fn batch_shape(n: usize, batched: bool, rest: &[usize]) -> Vec<usize> {
    let mut shape = if batched { vec![n] } else { Vec::new() };
    shape.extend_from_slice(rest);
    shape
}
