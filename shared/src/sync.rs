//! Locking that survives a panic elsewhere: the in-process state behind a `Mutex` (the cache's
//! breaker, the shared circuit's local view, the in-memory fakes) stays usable when a thread
//! that held the lock panicked, as the data itself is never left half-written by our code.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The guard of `mutex`, also when it is poisoned (a holder panicked): the data is taken as it is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
