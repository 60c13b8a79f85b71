//! Parallel loops on rayon's pool, where a worker that panics fails the whole computation: a
//! placebo distribution or a candidate search is never silently computed over fewer items.

use rayon::prelude::*;
use std::sync::OnceLock;

/// What a long loop reports as it goes, to an observer the program installs (the `liftos`
/// command's progress bar). None by default: the estimators never print.
pub trait Progress: Send + Sync {
    /// A loop of `total` items starts; its id (loops inside it start too: the observer decides
    /// which it shows).
    fn start(&self, total: usize) -> u64;
    /// One more item of loop `id` done.
    fn advance(&self, id: u64);
    /// Loop `id` is over.
    fn finish(&self, id: u64);
    /// Loop `id` moved on to a named step (a stage of the main job). Ignored unless the observer
    /// shows names.
    fn message(&self, _id: u64, _text: &str) {}
}

static OBSERVER: OnceLock<Box<dyn Progress>> = OnceLock::new();

/// Install the observer of every loop of this process (once; false if one is installed).
pub fn set_progress(observer: Box<dyn Progress>) -> bool {
    OBSERVER.set(observer).is_ok()
}

/// Loops shorter than this are not reported.
const REPORTED_FROM: usize = 8;

/// A worker panicked on item `index`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("item {index} failed: {message}")]
pub struct WorkerPanicked {
    pub index: usize,
    pub message: String,
}

/// `f` over every item on all cores, in order; the first panic (by index) is the error.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Result<Vec<R>, WorkerPanicked> {
    let observer = OBSERVER.get().filter(|_| items.len() >= REPORTED_FROM);
    let id = observer.map(|o| o.start(items.len()));
    let out: Vec<std::thread::Result<R>> = items
        .par_iter()
        .map(|x| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(x)));
            if let (Some(o), Some(id)) = (observer, id) {
                o.advance(id);
            }
            r
        })
        .collect();
    if let (Some(o), Some(id)) = (observer, id) {
        o.finish(id);
    }
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

/// A sequential loop's report to the observer (a seeded bootstrap whose draws come from one
/// random stream): [`Steps::advance`] after each item; the loop is over when it is dropped.
pub struct Steps {
    id: Option<u64>,
}

/// Report a sequential loop of `total` items (not reported when shorter than [`map`]'s loops).
pub fn steps(total: usize) -> Steps {
    let id = OBSERVER.get().filter(|_| total >= REPORTED_FROM).map(|o| o.start(total));
    Steps { id }
}

/// Report a sequence of named stages (the main job's ingestion, budget plan and analysis),
/// whatever its length: [`Steps::stage`] as each starts, [`Steps::advance`] as it ends. The
/// estimators' own loops inside a stage are reported too, as loops within it.
pub fn stages(total: usize) -> Steps {
    Steps { id: OBSERVER.get().map(|o| o.start(total)) }
}

impl Steps {
    /// The stage now running, by name.
    pub fn stage(&self, name: &str) {
        if let (Some(o), Some(id)) = (OBSERVER.get(), self.id) {
            o.message(id, name);
        }
    }

    /// One more item done.
    pub fn advance(&self) {
        if let (Some(o), Some(id)) = (OBSERVER.get(), self.id) {
            o.advance(id);
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if let (Some(o), Some(id)) = (OBSERVER.get(), self.id) {
            o.finish(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every loop of this process (other tests' too), by id: (total, advanced, finished), and
    /// the names its steps announced.
    struct Counting(
        std::sync::Mutex<std::collections::BTreeMap<u64, (usize, usize, bool)>>,
        std::sync::Mutex<Vec<(u64, String)>>,
    );

    impl Progress for Counting {
        fn start(&self, total: usize) -> u64 {
            let mut m = self.0.lock().unwrap();
            let id = m.len() as u64 + 1;
            m.insert(id, (total, 0, false));
            id
        }
        fn advance(&self, id: u64) {
            self.0.lock().unwrap().get_mut(&id).unwrap().1 += 1;
        }
        fn finish(&self, id: u64) {
            self.0.lock().unwrap().get_mut(&id).unwrap().2 = true;
        }
        fn message(&self, id: u64, text: &str) {
            self.1.lock().unwrap().push((id, text.to_string()));
        }
    }

    #[test]
    fn an_observer_sees_each_loop_start_advance_and_finish() {
        let counting: &'static Counting = Box::leak(Box::new(Counting(Default::default(), Default::default())));
        struct Forward(&'static Counting);
        impl Progress for Forward {
            fn start(&self, total: usize) -> u64 {
                self.0.start(total)
            }
            fn advance(&self, id: u64) {
                self.0.advance(id)
            }
            fn finish(&self, id: u64) {
                self.0.finish(id)
            }
            fn message(&self, id: u64, text: &str) {
                self.0.message(id, text)
            }
        }
        assert!(set_progress(Box::new(Forward(counting))));
        // An outer loop of 137 items, each running an inner loop of 9; a loop of 3 is not reported.
        let outer: Vec<usize> = (0..137).collect();
        let sums =
            map(&outer, |&i| map(&(0..9).collect::<Vec<usize>>(), |&j| i * j).unwrap().iter().sum::<usize>()).unwrap();
        assert_eq!(sums[2], 72);
        map(&[1, 2, 3], |x| x + 1).unwrap();
        // a sequential loop of 40 steps, reported as it goes and finished when dropped
        {
            let s = steps(40);
            for _ in 0..40 {
                s.advance();
            }
            let m = counting.0.lock().unwrap();
            assert_eq!(m.values().filter(|(total, done, fin)| *total == 40 && *done == 40 && !*fin).count(), 1);
        }
        drop(steps(2));
        // Three named stages are reported although short, each name with its loop, and a loop
        // inside a stage as a loop of its own.
        let stage_id = {
            let s = stages(3);
            for name in ["ingest", "plan", "analyse"] {
                s.stage(name);
                map(&(0..23).collect::<Vec<usize>>(), |x| x * 2).unwrap();
                s.advance();
            }
            let m = counting.0.lock().unwrap();
            let (&id, _) = m.iter().find(|(_, (total, done, fin))| *total == 3 && *done == 3 && !*fin).unwrap();
            assert!(m.values().filter(|(total, done, fin)| *total == 23 && *done == 23 && *fin).count() >= 3);
            id
        };
        let names: Vec<String> =
            counting.1.lock().unwrap().iter().filter(|(id, _)| *id == stage_id).map(|(_, t)| t.clone()).collect();
        assert_eq!(names, ["ingest", "plan", "analyse"]);
        let m = counting.0.lock().unwrap();
        assert!(m[&stage_id].2, "finished when dropped");
        assert_eq!(m.values().filter(|(total, done, fin)| *total == 40 && *done == 40 && *fin).count(), 1);
        assert_eq!(m.values().filter(|(total, done, fin)| *total == 137 && *done == 137 && *fin).count(), 1);
        assert!(m.values().filter(|(total, _, _)| *total == 9).count() >= 137);
        assert!(m.values().all(|(total, done, fin)| !*fin || done == total));
        assert!(m.iter().all(|(id, (total, _, _))| *total >= REPORTED_FROM || *id == stage_id));
        assert!(!set_progress(Box::new(Forward(counting))), "installed once");
    }

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
