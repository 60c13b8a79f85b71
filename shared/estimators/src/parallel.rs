//! Parallel loops on rayon's pool, where a worker that panics fails the whole computation: a
//! placebo distribution or a candidate search is never silently computed over fewer items.

use rayon::prelude::*;

/// A worker panicked on item `index`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("item {index} failed: {message}")]
pub struct WorkerPanicked {
    pub index: usize,
    pub message: String,
}

/// `f` over every item on all cores, in order; the first panic (by index) is the error.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Result<Vec<R>, WorkerPanicked> {
    let out: Vec<std::thread::Result<R>> =
        items.par_iter().map(|x| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(x)))).collect();
    out.into_iter()
        .enumerate()
        .map(|(index, r)| {
            r.map_err(|e| WorkerPanicked {
                index,
                message: e
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| e.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the worker panicked".into()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_order_and_a_panic_fails_the_whole_map() {
        let items: Vec<usize> = (0..100).collect();
        assert_eq!(map(&items, |x| x * 2).unwrap(), (0..100).map(|x| x * 2).collect::<Vec<_>>());
        let err = map(&items, |&x| {
            if x == 37 {
                panic!("boom at {x}");
            }
            x
        })
        .unwrap_err();
        assert_eq!(err.index, 37);
        assert!(err.message.contains("boom at 37"), "{}", err.message);
    }
}
