//! Conformal inference for synthetic control (Chernozhukov, Wüthrich and Zhu 2021), as augsynth's
//! `conformal_inf` with moving-block permutations (`type = "block"`, `q = 1`): deterministic.
//!
//! To test "the effect is h in every post period": subtract h from the treated series' post
//! periods, fit the weights on all periods (pre and post; outcomes with V = I, plus the ridge
//! correction with the fit's lambda when augmented), and take the residuals u_1..u_T. Under the
//! null they are exchangeable over time; the statistic S(u) = Σ_post |u_t| / √T1 of the T cyclic
//! shifts of u gives the p-value p(h) = share of shifts with S >= the observed. The interval is
//! {h : p(h) > alpha} read off a grid around the estimate as augsynth does (± 4 post-period RMS
//! gaps for the average, ± 2 per period): the connected run of accepted values around the
//! estimate, as pysyncon reads it (augsynth takes the hull of every accepted value, which
//! over-covers when the set is not connected), the ends refined by bisection; per-period
//! intervals test each post period alone (the other post periods left out of the fit).

use super::{interior_point, ridge_correction, simplex, Problem, SynthError};
use crate::parallel;
use ndarray::{Array1, Array2};

/// An interval's ends (None: unbounded on that side).
type Interval = (Option<f64>, Option<f64>);

/// One period's interval.
pub(super) struct PeriodCi {
    pub time_index: usize,
    pub ci: Interval,
}

pub(super) struct Conformal {
    pub p_value: f64,
    pub ci: Interval,
    /// No constant effect on the search grid is accepted.
    pub empty: bool,
    pub periods: Vec<PeriodCi>,
    pub fits: usize,
}

const GRID: usize = 51;
/// The marker of an empty set (both ends absent and no accepted value).
const EMPTY: Interval = (Some(f64::NAN), Some(f64::NAN));
const BISECTIONS: usize = 20;

/// The residuals of the fit on `periods` with the treated series shifted by `h` in the last
/// `post` of them.
struct Tester<'a> {
    pb: &'a Problem,
    donors: &'a [usize],
    periods: Vec<usize>,
    post: usize,
    lambda: Option<f64>,
}

impl Tester<'_> {
    fn residuals(&self, h: f64) -> Result<Vec<f64>, SynthError> {
        let pb = self.pb;
        let n = self.periods.len();
        let b: Vec<f64> = self
            .periods
            .iter()
            .enumerate()
            .map(|(i, &t)| pb.y[[pb.treated, t]] - if i >= n - self.post { h } else { 0.0 })
            .collect();
        let a: Vec<Vec<f64>> =
            self.donors.iter().map(|&d| self.periods.iter().map(|&t| pb.y[[d, t]]).collect()).collect();
        let mut w = match (simplex::SimplexLs { a: &a, b: &b }).solve(None) {
            Some((w, _)) => w,
            None => interior_point(&a, &b)?.0,
        };
        if let Some(lambda) = self.lambda {
            let (x0, x1) = centred_from(&a, &b);
            let ridge = ridge_correction(x0.view(), &x1, &w, lambda)?;
            for (wi, r) in w.iter_mut().zip(ridge) {
                *wi += r;
            }
        }
        Ok((0..n).map(|i| b[i] - a.iter().zip(&w).map(|(col, wj)| col[i] * wj).sum::<f64>()).collect())
    }

    fn p_value(&self, h: f64) -> Result<f64, SynthError> {
        let u = self.residuals(h)?;
        let n = u.len();
        let stat = |shift: usize| -> f64 {
            (n - self.post..n).map(|i| u[(i + shift) % n].abs()).sum::<f64>() / (self.post as f64).sqrt()
        };
        let observed = stat(0);
        // A relative tolerance: a shift equal to the observed up to rounding counts as at least it.
        let tol = 1e-12 * observed.abs().max(1e-300);
        Ok((0..n).filter(|&s| stat(s) >= observed - tol).count() as f64 / n as f64)
    }
}

/// The grid indices of the accepted run around the centre (the middle of the grid): the run that
/// holds it, or, when the centre is rejected, the run nearest to it (the lower on a tie). None
/// when nothing is accepted.
fn component(acc: &[bool]) -> Option<(usize, usize)> {
    let mid = acc.len() / 2;
    let seed = (0..acc.len()).filter(|&i| acc[i]).min_by_key(|&i| i.abs_diff(mid))?;
    let mut first = seed;
    while first > 0 && acc[first - 1] {
        first -= 1;
    }
    let mut last = seed;
    while last + 1 < acc.len() && acc[last + 1] {
        last += 1;
    }
    Some((first, last))
}

/// The interval {h : p(h) > alpha} around `centre`: the connected run of accepted values that
/// holds the centre (or the run nearest to it), read off a grid and refined, as pysyncon's
/// `ConformalInference` searches outward from the estimate. The accepted set need not be
/// connected (re-fits that chase an extreme h can be accepted again); augsynth reports the hull
/// of all of it, which over-covers (93.4% at 90% in our simulation, against the run's nominal
/// coverage). A grid of half-width `half`, widened (x4, up to 16 x `half`) while the run reaches
/// an end, beyond that the side is unbounded (None); the ends refined by bisection against their
/// rejected neighbours. Nothing accepted: `EMPTY`. Returns the interval and the number of fits.
fn invert(t: &Tester, centre: f64, half: f64, alpha: f64) -> Result<(Interval, usize), SynthError> {
    let mut fits = 0;
    let accept = |h: f64, fits: &mut usize| -> Result<bool, SynthError> {
        *fits += 1;
        Ok(t.p_value(h)? > alpha)
    };
    let half = if half.is_finite() && half > 0.0 { half } else { centre.abs().max(1.0) };
    let mut width = half;
    loop {
        let grid: Vec<f64> = (0..GRID).map(|i| centre - width + 2.0 * width * i as f64 / (GRID - 1) as f64).collect();
        let acc: Vec<bool> = grid.iter().map(|&h| accept(h, &mut fits)).collect::<Result<_, _>>()?;
        let Some((first, last)) = component(&acc) else { return Ok((EMPTY, fits)) };
        let open = first == 0 || last == GRID - 1;
        if open && width < 16.0 * half {
            width *= 4.0;
            continue;
        }
        let refine = |inside: f64, outside: f64, fits: &mut usize| -> Result<f64, SynthError> {
            let (mut i, mut o) = (inside, outside);
            for _ in 0..BISECTIONS {
                let m = 0.5 * (i + o);
                if accept(m, fits)? {
                    i = m;
                } else {
                    o = m;
                }
            }
            Ok(i)
        };
        let lo = if first == 0 { None } else { Some(refine(grid[first], grid[first - 1], &mut fits)?) };
        let hi = if last == GRID - 1 { None } else { Some(refine(grid[last], grid[last + 1], &mut fits)?) };
        return Ok(((lo, hi), fits));
    }
}

/// The conformal p-value of no effect, the interval for a constant post-period effect, and
/// per-period intervals. `gaps` are the point fit's post-period gaps (they set the grid).
pub(super) fn run(
    pb: &Problem,
    donors: &[usize],
    lambda: Option<f64>,
    estimate: f64,
    post_gaps: &[f64],
    alpha: f64,
) -> Result<Conformal, SynthError> {
    let post_sd = (post_gaps.iter().map(|g| g * g).sum::<f64>() / post_gaps.len().max(1) as f64).sqrt();
    let all: Vec<usize> = pb.fit.iter().chain(&pb.post).copied().collect();
    let t = Tester { pb, donors, periods: all, post: pb.post.len(), lambda };
    let p_value = t.p_value(0.0)?;
    let (ci, fits) = invert(&t, estimate, 4.0 * post_sd, alpha)?;
    let per = parallel::map(&pb.post, |&tp| {
        let periods: Vec<usize> = pb.fit.iter().copied().chain([tp]).collect();
        let tester = Tester { pb, donors, periods, post: 1, lambda };
        let centre = post_gaps[pb.post.iter().position(|&x| x == tp).unwrap_or(0)];
        invert(&tester, centre, 2.0 * post_sd, alpha).map(|(ci, n)| (PeriodCi { time_index: tp, ci }, n))
    })
    .map_err(|e| SynthError::Solver(format!("a conformal re-fit failed ({e})")))?;
    let mut periods = Vec::new();
    let mut total = fits + 1;
    for r in per {
        let (p, n) = r?;
        total += n;
        periods.push(p);
    }
    let empty = ci.0.is_some_and(f64::is_nan);
    let ci = if empty { (None, None) } else { ci };
    let periods = periods
        .into_iter()
        .map(|p| PeriodCi { ci: if p.ci.0.is_some_and(f64::is_nan) { (None, None) } else { p.ci }, ..p })
        .collect();
    Ok(Conformal { p_value, ci, empty, periods, fits: total })
}

/// Columns (donors) and a target over periods, centred at the donor mean in each period: the
/// ridge correction's design (rows = periods).
fn centred_from(a: &[Vec<f64>], b: &[f64]) -> (Array2<f64>, Array1<f64>) {
    let (j, n) = (a.len(), b.len());
    let mut x0 = Array2::zeros((n, j));
    let mut x1 = Array1::zeros(n);
    for i in 0..n {
        let m = a.iter().map(|c| c[i]).sum::<f64>() / j as f64;
        for (c, col) in a.iter().enumerate() {
            x0[[i, c]] = col[i] - m;
        }
        x1[i] = b[i] - m;
    }
    (x0, x1)
}

#[cfg(test)]
mod tests {
    use super::component;

    #[test]
    fn the_interval_is_the_accepted_run_around_the_centre() {
        let f = false;
        let t = true;
        // The centre (index 3 of 7) accepted: its run only, not the hull with the far value.
        assert_eq!(component(&[t, f, t, t, t, f, f]), Some((2, 4)));
        // The centre rejected: the nearest run (the lower on a tie).
        assert_eq!(component(&[f, t, f, f, f, t, f]), Some((1, 1)));
        assert_eq!(component(&[f, f, f, f, t, t, f]), Some((4, 5)));
        assert_eq!(component(&[t, t, t, t, t, t, t]), Some((0, 6)));
        assert_eq!(component(&[f; 7]), None);
    }
}
