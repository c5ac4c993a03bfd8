//! Stopping a running loop from outside (Ctrl-C in a Python notebook, a
//! cancelled job) without a cancellation path through every loop: each
//! exact solver carries an optional flag, and once it is set every solve
//! and tangent map fails with `Error::Interrupted`, which the loops pass
//! up like any other error. A loop therefore stops within one solve.
//!
//! The flag reaches solvers that library code builds internally through
//! `with_interrupt`: solvers created on this thread while it runs pick it
//! up (`ExactSolver::new`), whichever threads later use them.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

thread_local! {
    static AMBIENT: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Runs `work` with `flag` as the interrupt of every exact solver created
/// on this thread meanwhile; the previous one (if any) is restored after.
pub fn with_interrupt<T>(flag: Arc<AtomicBool>, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<Arc<AtomicBool>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            AMBIENT.with(|a| *a.borrow_mut() = previous);
        }
    }
    let _restore = Restore(AMBIENT.with(|a| a.borrow_mut().replace(flag)));
    work()
}

/// The flag of the innermost `with_interrupt` on this thread.
pub(crate) fn ambient() -> Option<Arc<AtomicBool>> {
    AMBIENT.with(|a| a.borrow().clone())
}
