//! Manipulation test of the running variable's density at the cutoff (Cattaneo, Jansson and Ma
//! 2020): local polynomial density estimators on each side from the empirical distribution
//! function, jackknife standard errors, and a test that the two densities are equal.
//!
//! A port of rddensity 2.x's default path (`p=2`, triangular kernel, `fitselect="unrestricted"`,
//! `vce="jackknife"`, `bwselect="comb"`, `regularize=True`, mass-point adjustment), checked
//! against it on the Senate data.

use crate::estimators::{dist, linalg};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct DensityTest {
    pub density_left: f64,
    pub density_right: f64,
    pub t_stat: f64,
    pub p_value: f64,
    pub bandwidth_left: f64,
    pub bandwidth_right: f64,
    pub n_effective_left: usize,
    pub n_effective_right: usize,
}

/// Hermite polynomials (probabilists') used by the rule-of-thumb pilot.
fn hermite(x: f64, p: usize) -> f64 {
    match p {
        0 => 1.0,
        1 => x,
        2 => x * x - 1.0,
        3 => x.powi(3) - 3.0 * x,
        4 => x.powi(4) - 6.0 * x * x + 3.0,
        5 => x.powi(5) - 10.0 * x.powi(3) + 15.0 * x,
        6 => x.powi(6) - 15.0 * x.powi(4) + 45.0 * x * x - 15.0,
        _ => x.powi(7) - 21.0 * x.powi(5) + 105.0 * x.powi(3) - 105.0 * x,
    }
}

struct Fv {
    hat: [f64; 2],
    s: [f64; 2],
    /// Jackknife variances: left, right, diff, sum.
    jk: [f64; 4],
}

/// rddensity's `__rddensity_fv` (unrestricted, triangular, jackknife). `x` sorted, centred at
/// the cutoff, only the observations in [-hl, hr]; `first` maps each row to the first row of
/// its tie group (mass points) or to itself.
#[allow(clippy::too_many_arguments)]
fn fv(y: &[f64], x: &[f64], n: usize, hl: f64, hr: f64, p: usize, s: usize, first: &[usize]) -> Option<Fv> {
    let nh = x.len();
    let k = 2 * p + 2;
    let w: Vec<f64> = x.iter().map(|&v| if v < 0.0 { (1.0 + v / hl) / hl } else { (1.0 - v / hr) / hr }).collect();
    let mut xp = vec![vec![0.0; nh]; k];
    let mut hp = vec![0.0; k];
    for pow in 0..=p {
        for i in 0..nh {
            if x[i] < 0.0 {
                xp[2 * pow][i] = (x[i] / hl).powi(pow as i32);
            } else {
                xp[2 * pow + 1][i] = (x[i] / hr).powi(pow as i32);
            }
        }
        hp[2 * pow] = hl.powi(pow as i32);
        hp[2 * pow + 1] = hr.powi(pow as i32);
    }
    let xpw: Vec<Vec<f64>> = xp.iter().map(|c| c.iter().zip(&w).map(|(a, w)| a * w).collect()).collect();
    let mut g = vec![0.0; k * k];
    for a in 0..k {
        for b in 0..k {
            g[a * k + b] = linalg::dot(&xpw[a], &xp[b]);
        }
    }
    let sinv = linalg::inv_spd(&g, k).ok()?;
    let xty: Vec<f64> = xpw.iter().map(|c| linalg::dot(c, y)).collect();
    let b: Vec<f64> = (0..k).map(|j| (0..k).map(|a| xty[a] * sinv[a * k + j]).sum::<f64>() / hp[j]).collect();
    // Jackknife: L[i] = sum over later rows of XpW / (n - 1), taken at the tie group's first row.
    let nf = (n - 1) as f64;
    let mut l = vec![vec![0.0; nh]; k];
    for jj in 0..k {
        let mut tail = vec![0.0; nh];
        let mut acc = 0.0;
        for i in (0..nh).rev() {
            tail[i] = acc / nf;
            acc += xpw[jj][i];
        }
        for i in 0..nh {
            l[jj][i] = tail[first[i]];
        }
    }
    let mut ll = vec![0.0; k * k];
    for a in 0..k {
        for c in 0..k {
            ll[a * k + c] = linalg::dot(&l[a], &l[c]);
        }
    }
    let mut v = linalg::sandwich(&sinv, &ll, k);
    for a in 0..k {
        for c in 0..k {
            v[a * k + c] /= hp[a] * hp[c];
        }
    }
    let nonneg = |x: f64| if x < 0.0 { f64::NAN } else { x };
    Some(Fv {
        hat: [b[2], b[3]],
        s: [b[2 * s], b[2 * s + 1]],
        jk: [
            nonneg(v[2 * k + 2]),
            nonneg(v[3 * k + 3]),
            nonneg(v[2 * k + 2] + v[3 * k + 3] - 2.0 * v[2 * k + 3]),
            nonneg(v[2 * k + 2] + v[3 * k + 3] + 2.0 * v[2 * k + 3]),
        ],
    })
}

/// Kernel moment matrices on [0, 1] for the triangular kernel: S_ij = ∫(1-l) l^(i+j) dl and
/// C_i = ∫(1-l) l^(i+p+1) dl.
fn bias_constant(p: usize) -> f64 {
    let m = |e: usize| 1.0 / (e as f64 + 1.0) - 1.0 / (e as f64 + 2.0);
    let k = p + 1;
    let s: Vec<f64> = (0..k * k).map(|ij| m(ij / k + ij % k)).collect();
    let c: Vec<f64> = (0..k).map(|i| m(i + p + 1)).collect();
    match linalg::inv_spd(&s, k) {
        Ok(inv) => (0..k).map(|j| inv[k + j] * c[j]).sum(),
        Err(_) => f64::NAN,
    }
}

fn median3(a: f64, b: f64, c: f64) -> f64 {
    let mut v = [a, b, c];
    v.sort_by(|x, y| x.total_cmp(y));
    v[1]
}

/// The density test at cutoff `c` with rddensity's defaults.
pub fn test(x_raw: &[f64], c: f64) -> Result<DensityTest, String> {
    let p = 2usize;
    let mut x: Vec<f64> = x_raw.iter().copied().filter(|v| v.is_finite()).collect();
    x.sort_by(|a, b| a.total_cmp(b));
    let n = x.len();
    if n < 2 * (20 + p + 3) {
        return Err(format!("{n} observations; the density test needs at least {}", 2 * (20 + p + 3)));
    }
    if c <= x[0] || c >= x[n - 1] {
        return Err("the cutoff is outside the data".into());
    }
    let nl = x.iter().filter(|&&v| v < c).count();
    let nr = n - nl;
    // Unique values with their first and last positions.
    let mut uniq = Vec::new();
    let mut first_of = vec![0usize; n];
    let mut last_of = vec![0usize; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && x[j + 1] == x[i] {
            j += 1;
        }
        for k in i..=j {
            first_of[k] = i;
            last_of[k] = j;
        }
        uniq.push(x[i]);
        i = j + 1;
    }
    let mass = uniq.len() != n;
    let xc: Vec<f64> = x.iter().map(|v| v - c).collect();
    let uc: Vec<f64> = uniq.iter().map(|v| v - c).collect();
    let nlu = uc.iter().filter(|&&v| v < 0.0).count();
    let nru = uc.len() - nlu;
    if nl < 20 + p + 3 || nr < 20 + p + 3 {
        return Err("too few observations on one side of the cutoff for the density test".into());
    }
    let mean = xc.iter().sum::<f64>() / n as f64;
    let sd = (xc.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
    let z = mean / sd;
    let phi = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let fhatb = 1.0 / (hermite(z, p + 2).powi(2) * phi);
    let fhatc = 1.0 / (hermite(z, p).powi(2) * phi);
    // rddensity's constants, verbatim.
    #[allow(clippy::excessive_precision)]
    const CB: [f64; 7] = [
        25884.444444494150957,
        3430865.4551236177795,
        845007948.04262602329,
        330631733667.03808594,
        187774809656037.3125,
        145729502641999264.0,
        146013502974449876992.0,
    ];
    #[allow(clippy::excessive_precision)]
    const CC: [f64; 7] = [
        4.8000000000000246914,
        548.57142857155463389,
        100800.00000020420703,
        29558225.458100609481,
        12896196859.612621307,
        7890871468221.609375,
        6467911284037581.0,
    ];
    let nf = n as f64;
    let pf = p as f64;
    let mut bn = ((2.0 * pf + 1.0) / 4.0 * fhatb * CB[p - 1] / nf).powf(1.0 / (2.0 * pf + 5.0)) * sd;
    let mut cn = (1.0 / (2.0 * pf) * fhatc * CC[p - 1] / nf).powf(1.0 / (2.0 * pf + 1.0)) * sd;
    let max_abs_u = uc.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    bn = bn.min(max_abs_u);
    cn = cn.min(max_abs_u);
    let mut left_abs: Vec<f64> = xc.iter().filter(|&&v| v < 0.0).map(|v| v.abs()).collect();
    left_abs.sort_by(|a, b| a.total_cmp(b));
    let right: Vec<f64> = xc.iter().copied().filter(|&v| v >= 0.0).collect();
    let mut uleft_abs: Vec<f64> = uc.iter().filter(|&&v| v < 0.0).map(|v| v.abs()).collect();
    uleft_abs.sort_by(|a, b| a.total_cmp(b));
    let uright: Vec<f64> = uc.iter().copied().filter(|&v| v >= 0.0).collect();
    let nth = |v: &[f64], k: usize, len: usize| v[k.min(len) - 1];
    let min_local = 20 + p + 1;
    bn = bn.max(nth(&left_abs, min_local + 2, nl)).max(nth(&right, min_local + 2, nr));
    cn = cn.max(nth(&left_abs, min_local, nl)).max(nth(&right, min_local, nr));
    bn = bn.max(nth(&uleft_abs, min_local + 2, nlu)).max(nth(&uright, min_local + 2, nru));
    cn = cn.max(nth(&uleft_abs, min_local, nlu)).max(nth(&uright, min_local, nru));

    // The empirical distribution function (at the last of each tie group).
    let yall: Vec<f64> = (0..n).map(|i| if mass { last_of[i] } else { i } as f64 / (nf - 1.0)).collect();
    let window = |lo: f64, hi: f64| -> (Vec<f64>, Vec<f64>, Vec<usize>) {
        let idx: Vec<usize> = (0..n).filter(|&i| xc[i] >= -lo && xc[i] <= hi).collect();
        let start = idx.first().copied().unwrap_or(0);
        let first: Vec<usize> =
            idx.iter().map(|&i| if mass { first_of[i].max(start) - start } else { i - start }).collect();
        (idx.iter().map(|&i| yall[i]).collect(), idx.iter().map(|&i| xc[i]).collect(), first)
    };
    let (yb, xb, fb) = window(bn, bn);
    let (yc2, xc2, fc) = window(cn, cn);
    let fvb = fv(&yb, &xb, n, bn, bn, p + 2, p + 1, &fb).ok_or("singular pilot fit")?;
    let fvc = fv(&yc2, &xc2, n, cn, cn, p, 1, &fc).ok_or("singular pilot fit")?;
    let bc = bias_constant(p);
    let var = fvc.jk.map(|v| nf * cn * v);
    let bl = fvb.s[0] * bc * if p.is_multiple_of(2) { 1.0 } else { -1.0 };
    let br = fvb.s[1] * bc;
    let bias2 = [bl * bl, br * br, (br - bl).powi(2), (br + bl).powi(2)];
    let mut hn: Vec<f64> = (0..4)
        .map(|j| {
            let h = (1.0 / (2.0 * pf) * var[j] / bias2[j] / nf).powf(1.0 / (2.0 * pf + 1.0));
            if var[j].is_nan() || !h.is_finite() {
                0.0
            } else {
                h
            }
        })
        .collect();
    let (ul, ur) = (uc[0].abs(), uc[uc.len() - 1]);
    let um = ul.max(ur);
    hn[0] = hn[0].min(ul);
    hn[1] = hn[1].min(ur);
    hn[2] = hn[2].min(um);
    hn[3] = hn[3].min(um);
    let (hlmin, hrmin) = (nth(&left_abs, min_local, nl), nth(&right, min_local, nr));
    let (hlu, hru) = (nth(&uleft_abs, min_local, nlu), nth(&uright, min_local, nru));
    hn[0] = hn[0].max(hlmin).max(hlu);
    hn[1] = hn[1].max(hrmin).max(hru);
    hn[2] = hn[2].max(hlmin).max(hrmin).max(hlu).max(hru);
    hn[3] = hn[3].max(hlmin).max(hrmin).max(hlu).max(hru);
    let hl = median3(hn[0], hn[2], hn[3]);
    let hr = median3(hn[1], hn[2], hn[3]);

    let (yh, xh, fh) = window(hl, hr);
    let q = p + 1;
    let f = fv(&yh, &xh, n, hl, hr, q, 1, &fh).ok_or("singular density fit")?;
    let diff = f.hat[1] - f.hat[0];
    let t = diff / f.jk[2].sqrt();
    Ok(DensityTest {
        density_left: f.hat[0],
        density_right: f.hat[1],
        t_stat: t,
        p_value: dist::normal_p_value(t),
        bandwidth_left: hl,
        bandwidth_right: hr,
        n_effective_left: xh.iter().filter(|&&v| v < 0.0).count(),
        n_effective_right: xh.iter().filter(|&&v| v >= 0.0).count(),
    })
}
