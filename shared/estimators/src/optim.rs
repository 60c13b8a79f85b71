//! Derivative-free minimisation shared by the estimators (synthetic control's predictor weights,
//! the media mix model's shape parameters).

/// Nelder-Mead (standard coefficients), `iters` iterations at most, stopping when the simplex's
/// values differ by at most 1e-10 of the best value plus `unit`: the size of a loss the caller
/// counts as nothing (give it in the loss's own units, so that the search stops at the same point
/// whatever the data's units).
pub fn nelder_mead(f: &mut dyn FnMut(&[f64]) -> f64, x0: &[f64], iters: usize, unit: f64) -> (Vec<f64>, f64) {
    let k = x0.len();
    let mut simplex: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..k {
        let mut p = x0.to_vec();
        p[i] = if p[i] != 0.0 { p[i] * 1.05 } else { 0.00025 };
        simplex.push(p);
    }
    nelder_mead_from(f, simplex, iters, &|lo, hi| (hi - lo).abs() <= 1e-10 * (unit + lo.abs()))
}

/// Nelder-Mead from a simplex of steps `step` around `x0` (for parameters on an unconstrained
/// scale, where a step relative to the start means nothing at zero), stopping when the simplex's
/// values are within `tol` of each other.
pub fn nelder_mead_step(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x0: &[f64],
    step: f64,
    iters: usize,
    tol: f64,
) -> (Vec<f64>, f64) {
    let mut simplex: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..x0.len() {
        let mut p = x0.to_vec();
        p[i] += step;
        simplex.push(p);
    }
    nelder_mead_from(f, simplex, iters, &|lo, hi| hi - lo <= tol)
}

fn nelder_mead_from(
    f: &mut dyn FnMut(&[f64]) -> f64,
    mut simplex: Vec<Vec<f64>>,
    iters: usize,
    converged: &dyn Fn(f64, f64) -> bool,
) -> (Vec<f64>, f64) {
    let k = simplex.len() - 1;
    let mut vals: Vec<f64> = simplex.iter().map(|p| f(p)).collect();
    for _ in 0..iters {
        let mut order: Vec<usize> = (0..=k).collect();
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        if converged(vals[0], vals[k]) {
            break;
        }
        let centroid: Vec<f64> = (0..k).map(|d| simplex[..k].iter().map(|p| p[d]).sum::<f64>() / k as f64).collect();
        let at = |t: f64| -> Vec<f64> { (0..k).map(|d| centroid[d] + t * (simplex[k][d] - centroid[d])).collect() };
        let xr = at(-1.0);
        let fr = f(&xr);
        if fr < vals[0] {
            let xe = at(-2.0);
            let fe = f(&xe);
            if fe < fr {
                simplex[k] = xe;
                vals[k] = fe;
            } else {
                simplex[k] = xr;
                vals[k] = fr;
            }
        } else if fr < vals[k - 1] {
            simplex[k] = xr;
            vals[k] = fr;
        } else {
            let (xc, fc) = if fr < vals[k] {
                let xc = at(-0.5);
                let fc = f(&xc);
                (xc, fc)
            } else {
                let xc = at(0.5);
                let fc = f(&xc);
                (xc, fc)
            };
            if fc < vals[k].min(fr) {
                simplex[k] = xc;
                vals[k] = fc;
            } else {
                for i in 1..=k {
                    let p: Vec<f64> = (0..k).map(|d| simplex[0][d] + 0.5 * (simplex[i][d] - simplex[0][d])).collect();
                    vals[i] = f(&p);
                    simplex[i] = p;
                }
            }
        }
    }
    let best = (0..=k).min_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap_or(0);
    (simplex[best].clone(), vals[best])
}
