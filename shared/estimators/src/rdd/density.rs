//! Manipulation test of the running variable's density at the cutoff (Cattaneo, Jansson and Ma
//! 2020): local polynomial density estimators on each side from the empirical distribution
//! function, jackknife standard errors, and a test that the two densities are equal.
//!
//! A port of rddensity 2.x's default path (`p=2`, triangular kernel, `fitselect="unrestricted"`,
//! `vce="jackknife"`, `bwselect="comb"`, `regularize=True`, mass-point adjustment), checked
//! against it on the Senate data.

use ndarray::{ArrayView1, ArrayView2};

use crate::{dist, linalg};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// rddensity's `__rddensity_fv` (unrestricted, triangular, jackknife), streamed: nothing of size
/// n is stored. `x` is sorted and `x - c` centres it at the cutoff; the window is `lo..hi` of
/// it; `ycdf(i)`
/// is the empirical distribution function at row i and `first(i)` the first row of i's tie group.
#[allow(clippy::too_many_arguments)]
fn fv(
    x: &[f64],
    c: f64,
    lo: usize,
    hi: usize,
    ycdf: &dyn Fn(usize) -> f64,
    first: &dyn Fn(usize) -> usize,
    n: usize,
    hl: f64,
    hr: f64,
    p: usize,
    s: usize,
    jackknife: bool,
) -> Option<Fv> {
    let k = 2 * p + 2;
    let mut hp = vec![0.0; k];
    for pow in 0..=p {
        hp[2 * pow] = hl.powi(pow as i32);
        hp[2 * pow + 1] = hr.powi(pow as i32);
    }
    // Row i's regressors times its weight: only the even (left) or odd (right) entries are used.
    let row = |i: usize, out: &mut [f64]| {
        out.iter_mut().for_each(|v| *v = 0.0);
        let v = x[i] - c;
        let (w, u, off) = if v < 0.0 { ((1.0 + v / hl) / hl, v / hl, 0) } else { ((1.0 - v / hr) / hr, v / hr, 1) };
        let mut pw = 1.0;
        for pow in 0..=p {
            out[2 * pow + off] = pw;
            pw *= u;
        }
        w
    };
    let mut g = vec![0.0; k * k];
    let mut xty = vec![0.0; k];
    let mut r = vec![0.0; k];
    for i in lo..hi {
        let w = row(i, &mut r);
        let y = ycdf(i);
        for a in 0..k {
            if r[a] == 0.0 {
                continue;
            }
            xty[a] += w * r[a] * y;
            for b in 0..k {
                g[a * k + b] += w * r[a] * r[b];
            }
        }
    }
    let sinv = linalg::inv_spd(ArrayView2::from_shape((k, k), &g).ok()?).ok()?;
    let b: Vec<f64> = (0..k).map(|j| (0..k).map(|a| xty[a] * sinv[[a, j]]).sum::<f64>() / hp[j]).collect();
    // Jackknife: V = HpInv Sinv (Σ L_i L_i') Sinv HpInv with L_i = Σ_{j > first(i)} XpW_j / (n - 1).
    // Only V's [2,2], [3,3] and [2,3] entries are used, so accumulate z_i = rows 2 and 3 of
    // Sinv L_i. Walk backwards keeping the tail sum; a tie group's members all take the tail at
    // its first row.
    let (mut v22, mut v33, mut v23) = (0.0, 0.0, 0.0);
    if jackknife {
        let nf = (n - 1) as f64;
        let (s2, s3) = (sinv.row(2), sinv.row(3));
        let mut acc = vec![0.0; k];
        let mut i = hi;
        while i > lo {
            i -= 1;
            let f = first(i).max(lo);
            let mut j = i;
            while j != f {
                let w = row(j, &mut r);
                for a in 0..k {
                    acc[a] += w * r[a];
                }
                j -= 1;
            }
            let members = (i - f + 1) as f64;
            let z2 = s2.dot(&ArrayView1::from(&acc[..])) / nf;
            let z3 = s3.dot(&ArrayView1::from(&acc[..])) / nf;
            v22 += members * z2 * z2;
            v33 += members * z3 * z3;
            v23 += members * z2 * z3;
            let w = row(f, &mut r);
            for a in 0..k {
                acc[a] += w * r[a];
            }
            i = f;
        }
        v22 /= hp[2] * hp[2];
        v33 /= hp[3] * hp[3];
        v23 /= hp[2] * hp[3];
    }
    let nonneg = |x: f64| if x < 0.0 { f64::NAN } else { x };
    Some(Fv {
        hat: [b[2], b[3]],
        s: [b[2 * s], b[2 * s + 1]],
        jk: [nonneg(v22), nonneg(v33), nonneg(v22 + v33 - 2.0 * v23), nonneg(v22 + v33 + 2.0 * v23)],
    })
}

/// Kernel moment matrices on [0, 1] for the triangular kernel: S_ij = ∫(1-l) l^(i+j) dl and
/// C_i = ∫(1-l) l^(i+p+1) dl.
fn bias_constant(p: usize) -> f64 {
    let m = |e: usize| 1.0 / (e as f64 + 1.0) - 1.0 / (e as f64 + 2.0);
    let k = p + 1;
    let s = ndarray::Array2::from_shape_fn((k, k), |(i, j)| m(i + j));
    let c: ndarray::Array1<f64> = (0..k).map(|i| m(i + p + 1)).collect();
    match linalg::inv_spd(s.view()) {
        Ok(inv) => inv.row(1).dot(&c),
        Err(_) => f64::NAN,
    }
}

fn median3(a: f64, b: f64, c: f64) -> f64 {
    let mut v = [a, b, c];
    v.sort_by(|x, y| x.total_cmp(y));
    v[1]
}

/// The density test at cutoff `c` with rddensity's defaults.
pub fn test(x_raw: ArrayView1<f64>, c: f64) -> Result<DensityTest, String> {
    let mut xs: Vec<f64> = x_raw.iter().copied().filter(|v| v.is_finite()).collect();
    xs.sort_unstable_by(|a, b| a.total_cmp(b));
    test_sorted(&xs, c)
}

/// The same, for finite values already sorted ascending. Nothing of the data's size is copied:
/// the values are centred as they are read, and tie groups and unique values are found in the
/// sorted values where they are needed.
pub fn test_sorted(sorted: &[f64], c: f64) -> Result<DensityTest, String> {
    let p = 2usize;
    // Centred at the cutoff (computed where used, always as `v - c`).
    let xc = |i: usize| sorted[i] - c;
    let n = sorted.len();
    if n < 2 * (20 + p + 3) {
        return Err(format!("{n} observations; the density test needs at least {}", 2 * (20 + p + 3)));
    }
    if 0.0 <= xc(0) || 0.0 >= xc(n - 1) {
        return Err("the cutoff is outside the data".into());
    }
    // `v - c` is non-decreasing in v, so partition points on the centred values are searches.
    let below = |t: f64| sorted.partition_point(|&v| v - c < t);
    let at_most = |t: f64| sorted.partition_point(|&v| v - c <= t);
    let nl = below(0.0);
    let nr = n - nl;
    // Unique (centred) values: their number, and the k-th closest to the cutoff on each side.
    let distinct = |r: std::ops::Range<usize>| r.clone().filter(|&i| i == r.start || xc(i) != xc(i - 1)).count();
    let (nlu, nru) = (distinct(0..nl), distinct(nl..n));
    let mass = nlu + nru != n;
    if nl < 20 + p + 3 || nr < 20 + p + 3 {
        return Err("too few observations on one side of the cutoff for the density test".into());
    }
    let mean = (0..n).map(xc).sum::<f64>() / n as f64;
    let sd = ((0..n).map(|i| (xc(i) - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
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
    // The unique values' extremes are the data's.
    let max_abs_u = xc(0).abs().max(xc(n - 1).abs());
    bn = bn.min(max_abs_u);
    cn = cn.min(max_abs_u);
    // The k-th closest observation (or unique value) to the cutoff on each side, 1-based.
    let left_k = |k: usize| xc(nl - k.min(nl)).abs();
    let right_k = |k: usize| xc(nl + k.min(nr) - 1);
    let uleft_k = |k: usize| {
        let (mut i, mut seen) = (nl - 1, 1);
        while i > 0 && seen < k {
            i -= 1;
            seen += usize::from(xc(i) != xc(i + 1));
        }
        xc(i).abs()
    };
    let uright_k = |k: usize| {
        let (mut i, mut seen) = (nl, 1);
        while i + 1 < n && seen < k {
            i += 1;
            seen += usize::from(xc(i) != xc(i - 1));
        }
        xc(i)
    };
    let min_local = 20 + p + 1;
    bn = bn.max(left_k(min_local + 2)).max(right_k(min_local + 2));
    cn = cn.max(left_k(min_local)).max(right_k(min_local));
    bn = bn.max(uleft_k(min_local + 2)).max(uright_k(min_local + 2));
    cn = cn.max(uleft_k(min_local)).max(uright_k(min_local));

    // The empirical distribution function (at the last of each tie group).
    let ycdf = |i: usize| if mass { at_most(xc(i)) - 1 } else { i } as f64 / (nf - 1.0);
    let first = |i: usize| if mass { below(xc(i)) } else { i };
    let window = |lo: f64, hi: f64| (below(-lo), at_most(hi));
    let (b0, b1) = window(bn, bn);
    let (c0, c1) = window(cn, cn);
    let fvb = fv(sorted, c, b0, b1, &ycdf, &first, n, bn, bn, p + 2, p + 1, false).ok_or("singular pilot fit")?;
    let fvc = fv(sorted, c, c0, c1, &ycdf, &first, n, cn, cn, p, 1, true).ok_or("singular pilot fit")?;
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
    let (ul, ur) = (xc(0).abs(), xc(n - 1));
    let um = ul.max(ur);
    hn[0] = hn[0].min(ul);
    hn[1] = hn[1].min(ur);
    hn[2] = hn[2].min(um);
    hn[3] = hn[3].min(um);
    let (hlmin, hrmin) = (left_k(min_local), right_k(min_local));
    let (hlu, hru) = (uleft_k(min_local), uright_k(min_local));
    hn[0] = hn[0].max(hlmin).max(hlu);
    hn[1] = hn[1].max(hrmin).max(hru);
    hn[2] = hn[2].max(hlmin).max(hrmin).max(hlu).max(hru);
    hn[3] = hn[3].max(hlmin).max(hrmin).max(hlu).max(hru);
    let hl = median3(hn[0], hn[2], hn[3]);
    let hr = median3(hn[1], hn[2], hn[3]);

    let (h0, h1) = window(hl, hr);
    let q = p + 1;
    let f = fv(sorted, c, h0, h1, &ycdf, &first, n, hl, hr, q, 1, true).ok_or("singular density fit")?;
    let diff = f.hat[1] - f.hat[0];
    let t = diff / f.jk[2].sqrt();
    Ok(DensityTest {
        density_left: f.hat[0],
        density_right: f.hat[1],
        t_stat: t,
        p_value: dist::normal_p_value(t),
        bandwidth_left: hl,
        bandwidth_right: hr,
        n_effective_left: nl - h0,
        n_effective_right: h1 - nl,
    })
}
