//! One Python codec object, several threads: a pool of the Rust codecs behind it.
//!
//! A Rust codec codes one call at a time (it owns one working arena, and on ONNX Runtime's
//! CPU provider one session per graph). Python code shares one codec object between the
//! threads of a data loader, so each call borrows a codec from the pool while it runs: an
//! idle one, else a new one (up to a bound: on the CPU provider each has sessions of its own,
//! so calls run side by side), else it waits for one to come back.

use std::sync::{Condvar, Mutex, MutexGuard};

/// The codecs: idle ones, and how many exist.
struct State<T> {
    idle: Vec<T>,
    made: usize,
}

/// A pool of up to `max` values of `T`, made on demand by `make`.
pub(crate) struct Pool<T> {
    state: Mutex<State<T>>,
    returned: Condvar,
    max: usize,
    make: Box<dyn Fn() -> vaerans::Result<T> + Send + Sync>,
}

impl<T> Pool<T> {
    /// A pool holding `first`, which makes more with `make`, at most `max` in all.
    pub(crate) fn new(
        first: T,
        max: usize,
        make: impl Fn() -> vaerans::Result<T> + Send + Sync + 'static,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                idle: vec![first],
                made: 1,
            }),
            returned: Condvar::new(),
            max: max.max(1),
            make: Box::new(make),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a value of the pool: an idle one, else a new one while there are fewer
    /// than `max`, else the next one returned.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R) -> vaerans::Result<R> {
        let value = {
            let mut state = self.lock();
            loop {
                if let Some(v) = state.idle.pop() {
                    break v;
                }
                if state.made < self.max {
                    state.made += 1;
                    drop(state);
                    match (self.make)() {
                        Ok(v) => break v,
                        Err(e) => {
                            self.lock().made -= 1;
                            self.returned.notify_one();
                            return Err(e);
                        }
                    }
                }
                state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        // Given back even when `f` panics: the value is not left half-used by a panic in the
        // codec (its calls return errors), and a lost value would shrink the pool for good.
        struct Back<'a, T> {
            pool: &'a Pool<T>,
            value: Option<T>,
        }
        impl<T> Drop for Back<'_, T> {
            fn drop(&mut self) {
                if let Some(v) = self.value.take() {
                    self.pool.lock().idle.push(v);
                    self.pool.returned.notify_one();
                }
            }
        }
        let back = Back {
            pool: self,
            value: Some(value),
        };
        let out = f(back.value.as_ref().expect("set above"));
        drop(back);
        Ok(out)
    }
}
