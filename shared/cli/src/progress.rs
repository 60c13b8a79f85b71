//! A progress bar for the estimators' long loops (placebo-in-space, geo designs, bootstraps,
//! re-fits) on a terminal: the outermost loop running is shown; nothing when stderr is not a
//! terminal or with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use liftos_estimators::parallel::Progress;
use std::sync::Mutex;

#[derive(Default)]
struct Shown {
    next_id: u64,
    /// The loop on the bar and the bar.
    current: Option<(u64, ProgressBar)>,
}

pub struct Bar {
    shown: Mutex<Shown>,
}

impl Progress for Bar {
    fn start(&self, total: usize) -> u64 {
        let Ok(mut s) = self.shown.lock() else { return u64::MAX };
        s.next_id += 1;
        let id = s.next_id;
        if s.current.is_none() {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {wide_bar} {pos}/{len} ({eta} left)") {
                bar.set_style(style);
            }
            s.current = Some((id, bar));
        }
        id
    }

    fn advance(&self, id: u64) {
        if let Ok(s) = self.shown.lock() {
            if let Some((shown, bar)) = &s.current {
                if *shown == id {
                    bar.inc(1);
                }
            }
        }
    }

    fn finish(&self, id: u64) {
        if let Ok(mut s) = self.shown.lock() {
            if s.current.as_ref().is_some_and(|(shown, _)| *shown == id) {
                if let Some((_, bar)) = s.current.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}

/// Show the estimators' loops on stderr when it is a terminal and the user did not ask for quiet.
pub fn install(quiet: bool) {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return;
    }
    liftos_estimators::parallel::set_progress(Box::new(Bar { shown: Mutex::new(Shown::default()) }));
}
