//! Progress bars on a terminal for the long loops: the main job's stages (`liftos pipeline`:
//! ingestion, reading back, the budget plan, the analysis), placebo-in-space, geo designs,
//! bootstraps and re-fits. The outermost loop running is one bar and the loop running inside it a
//! second; nothing is drawn when stderr is not a terminal or with `--quiet`. Log lines are written
//! above the bars, which are redrawn below them.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use liftos_estimators::parallel::Progress;
use std::sync::{Mutex, OnceLock};

/// The bars' area on stderr, once installed.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

#[derive(Default)]
struct Shown {
    next_id: u64,
    /// The outermost loop's bar, and the bar of the loop running inside it.
    outer: Option<(u64, ProgressBar)>,
    inner: Option<(u64, ProgressBar)>,
}

pub struct Bar {
    bars: MultiProgress,
    shown: Mutex<Shown>,
}

fn style(template: &str) -> Option<ProgressStyle> {
    ProgressStyle::with_template(template).ok()
}

impl Progress for Bar {
    fn start(&self, total: usize) -> u64 {
        let Ok(mut s) = self.shown.lock() else { return u64::MAX };
        s.next_id += 1;
        let id = s.next_id;
        if s.outer.is_none() || s.inner.is_none() {
            let bar = self.bars.add(ProgressBar::new(total as u64));
            if let Some(st) = style("{spinner} {wide_bar} {pos}/{len} ({eta} left)") {
                bar.set_style(st);
            }
            bar.tick();
            if s.outer.is_none() {
                s.outer = Some((id, bar));
            } else {
                s.inner = Some((id, bar));
            }
        }
        id
    }

    fn advance(&self, id: u64) {
        if let Ok(s) = self.shown.lock() {
            for (shown, bar) in [&s.outer, &s.inner].into_iter().flatten() {
                if *shown == id {
                    bar.inc(1);
                }
            }
        }
    }

    fn message(&self, id: u64, text: &str) {
        if let Ok(s) = self.shown.lock() {
            if let Some((_, bar)) = s.outer.as_ref().filter(|(shown, _)| *shown == id) {
                // A named stage: how many of the stages are done and which one runs.
                if let Some(st) = style("{spinner} [{pos}/{len}] {msg} ({elapsed})") {
                    bar.set_style(st);
                }
                bar.set_message(text.to_string());
            }
        }
    }

    fn finish(&self, id: u64) {
        if let Ok(mut s) = self.shown.lock() {
            if s.inner.as_ref().is_some_and(|(shown, _)| *shown == id) {
                if let Some((_, bar)) = s.inner.take() {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
            } else if s.outer.as_ref().is_some_and(|(shown, _)| *shown == id) {
                for (_, bar) in [s.inner.take(), s.outer.take()].into_iter().flatten() {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
            }
        }
    }
}

/// Show the long loops on stderr when it is a terminal and the user did not ask for quiet.
pub fn install(quiet: bool) {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return;
    }
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    if BARS.set(bars.clone()).is_ok() {
        liftos_estimators::parallel::set_progress(Box::new(Bar { bars, shown: Mutex::new(Shown::default()) }));
    }
}

/// The log's writer: stderr, with the bars (when shown) cleared while a line is written and
/// drawn again below it.
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BARS.get() {
            Some(bars) => bars.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
