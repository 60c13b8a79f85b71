//! Treatment recommendations (`TreatmentRecommendationEngine`): ranked interventions from the
//! fitted, lift-calibrated response curves and current spend, under the plan's constraints.
//!
//! For each channel the marginal return of the next unit of spend (value x dResponse/dSpend) is
//! known with uncertainty (from its β's standard error). Where the evidence is clear — the
//! marginal return's 90% interval lies wholly above or below break-even — the recommendation is
//! to scale or to cut, towards the optimiser's allocation, with the expected gain and its
//! interval; a shift from the weakest to the strongest channel when both are clear. Where it is
//! not (the interval straddles break-even, or the estimate is less than twice its standard
//! error), the recommendation is to run a test first: acting on it would be a guess.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use super::{optimize, FittedModel, Objective, Plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Scale,
    Cut,
    ShiftBudget,
    RunTest,
    Hold,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Recommendation {
    pub rank: usize,
    pub action: Action,
    pub channel: String,
    /// For a shift: where the money goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_channel: Option<String>,
    pub current_spend: f64,
    pub proposed_spend: f64,
    /// Expected change in profit (value x outcome - spend) per period, with a 90% interval.
    pub expected_gain: f64,
    pub expected_gain_interval: (f64, f64),
    /// Probability that the action pays (the marginal return is on the right side of 1).
    pub confidence: f64,
    pub marginal_roi: f64,
    pub marginal_roi_interval: (f64, f64),
    pub evidence: String,
}

/// Recommendations for `plan` (its channels, bounds and value per outcome), best first.
pub fn recommend(model: &FittedModel, plan: &Plan) -> Result<Vec<Recommendation>, crate::FieldError> {
    let z = Normal::standard();
    let z90 = z.inverse_cdf(0.95);
    let v = plan.value_per_outcome;
    // The profit-optimal allocation within the plan's bounds and budget.
    let opt = optimize(model, &Plan { objective: Objective::MaxProfit, ..plan.clone() })?;
    let mut out: Vec<Recommendation> = Vec::new();
    for (cb, a) in plan.channels.iter().zip(&opt.allocations) {
        let Some(c) = model.curves.iter().find(|c| c.channel == cb.channel) else { continue };
        let x = cb.current;
        let m = v * c.marginal(x);
        let m_se = if c.beta > 0.0 { m * c.beta_se / c.beta } else { f64::INFINITY };
        let interval = (m - z90 * m_se, m + z90 * m_se);
        let lifts = model.calibration.iter().filter(|(ch, _, _)| *ch == c.channel).count();
        let evidence = format!(
            "response curve fitted on {} periods (R² {:.2}), β {:.3} ± {:.3}{}",
            model.n_obs,
            model.r_squared,
            c.beta,
            c.beta_se,
            if lifts > 0 { format!(", calibrated by {lifts} lift estimate(s)") } else { ", no experiment yet".into() }
        );
        let clear = c.beta > 2.0 * c.beta_se && (interval.0 > 1.0 || interval.1 < 1.0);
        let gain = |target: f64| -> (f64, f64, f64) {
            let d_out = c.response(target) - c.response(x);
            let g = v * d_out - (target - x);
            let se = v * d_out.abs() * c.beta_se / c.beta.max(1e-300);
            (g, g - z90 * se, g + z90 * se)
        };
        if !clear {
            out.push(Recommendation {
                rank: 0,
                action: Action::RunTest,
                channel: c.channel.clone(),
                to_channel: None,
                current_spend: x,
                proposed_spend: x,
                expected_gain: 0.0,
                expected_gain_interval: (0.0, 0.0),
                confidence: 1.0 - z.cdf(((m - 1.0) / m_se).abs()),
                marginal_roi: m,
                marginal_roi_interval: interval,
                evidence: format!(
                    "{evidence}; the marginal return's 90% interval ({:.2}, {:.2}) includes break-even: test before moving budget (a geo test or holdout on this channel)",
                    interval.0, interval.1
                ),
            });
            continue;
        }
        let target = a.spend;
        let (g, lo, hi) = gain(target);
        let action = if target > x * 1.001 {
            Action::Scale
        } else if target < x * 0.999 {
            Action::Cut
        } else {
            Action::Hold
        };
        out.push(Recommendation {
            rank: 0,
            action,
            channel: c.channel.clone(),
            to_channel: None,
            current_spend: x,
            proposed_spend: target,
            expected_gain: g,
            expected_gain_interval: (lo, hi),
            confidence: z.cdf(((m - 1.0) / m_se).abs()),
            marginal_roi: m,
            marginal_roi_interval: interval,
            evidence,
        });
    }
    // A shift between clear channels: from the lowest marginal return to the highest.
    let clear: Vec<&Recommendation> = out.iter().filter(|r| r.action != Action::RunTest).collect();
    if clear.len() >= 2 {
        let lo = clear.iter().min_by(|a, b| a.marginal_roi.total_cmp(&b.marginal_roi)).copied();
        let hi = clear.iter().max_by(|a, b| a.marginal_roi.total_cmp(&b.marginal_roi)).copied();
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo.marginal_roi_interval.1 < hi.marginal_roi_interval.0 {
                let amount = (lo.current_spend * 0.1).min(hi.current_spend * 0.1);
                let gain = (hi.marginal_roi - lo.marginal_roi) * amount;
                let se = ((hi.marginal_roi_interval.1 - hi.marginal_roi_interval.0).powi(2)
                    + (lo.marginal_roi_interval.1 - lo.marginal_roi_interval.0).powi(2))
                .sqrt()
                    / (2.0 * z90)
                    * amount;
                out.push(Recommendation {
                    rank: 0,
                    action: Action::ShiftBudget,
                    channel: lo.channel.clone(),
                    to_channel: Some(hi.channel.clone()),
                    current_spend: lo.current_spend,
                    proposed_spend: lo.current_spend - amount,
                    expected_gain: gain,
                    expected_gain_interval: (gain - z90 * se, gain + z90 * se),
                    confidence: z.cdf(gain / se.max(1e-300)),
                    marginal_roi: lo.marginal_roi,
                    marginal_roi_interval: lo.marginal_roi_interval,
                    evidence: format!(
                        "marginal return {:.2} on {} against {:.2} on {}: moving 10% of the smaller budget",
                        lo.marginal_roi, lo.channel, hi.marginal_roi, hi.channel
                    ),
                });
            }
        }
    }
    // Clear actions by expected gain, then the tests (most uncertain first), holds last.
    out.sort_by(|a, b| {
        let key = |r: &Recommendation| match r.action {
            Action::RunTest => 1,
            Action::Hold => 2,
            _ => 0,
        };
        key(a)
            .cmp(&key(b))
            .then(b.expected_gain.total_cmp(&a.expected_gain))
            .then(a.confidence.total_cmp(&b.confidence))
    });
    for (i, r) in out.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{ChannelBounds, Curve};

    fn model(se: [f64; 3]) -> FittedModel {
        let c = |name: &str, beta: f64, se: f64, k: f64| Curve {
            channel: name.into(),
            beta,
            beta_se: se,
            half_saturation: k,
            shape: 1.0,
            adstock: 0.0,
        };
        FittedModel {
            base: 0.0,
            curves: vec![
                c("strong", 400.0, se[0], 2000.0),
                c("weak", 60.0, se[1], 8000.0),
                c("unclear", 150.0, se[2], 3000.0),
            ],
            covariance: ndarray::Array2::zeros((4, 4)),
            residual_sd: 1.0,
            r_squared: 0.9,
            calibration: vec![("strong".into(), 100.0, 98.0)],
            n_obs: 100,
        }
    }

    fn plan() -> Plan {
        let ch = |name: &str, current: f64| ChannelBounds { channel: name.into(), current, min: None, max: None };
        let channels = vec![ch("strong", 1000.0), ch("weak", 4000.0), ch("unclear", 1200.0)];
        Plan {
            value_per_outcome: 30.0,
            max_change: Some(0.5),
            seed: 1,
            ..Plan::new(Objective::MaxProfit, None, channels)
        }
    }

    #[test]
    fn clear_evidence_acts_weak_evidence_tests() {
        let recs = recommend(&model([10.0, 3.0, 120.0]), &plan()).unwrap();
        let by = |ch: &str, a: Action| recs.iter().find(|r| r.channel == ch && r.action == a);
        // strong: marginal ROI at 1000 = 30 * 400 * 2000 / 3000² = 2.67 -> scale.
        let s = by("strong", Action::Scale).expect("scale strong");
        assert!(s.proposed_spend > 1000.0 && s.expected_gain > 0.0 && s.confidence > 0.95);
        // weak: 30 * 60 * 8000 / 12000² = 0.1 -> cut.
        assert!(by("weak", Action::Cut).is_some());
        // unclear: beta 150 ± 120 -> test first.
        let t = by("unclear", Action::RunTest).expect("test unclear");
        assert!(t.marginal_roi_interval.0 < 1.0 && t.marginal_roi_interval.1 > 1.0);
        assert!(by("weak", Action::ShiftBudget).is_some_and(|r| r.to_channel.as_deref() == Some("strong")));
        // Ranked: actions before tests, by expected gain.
        assert_eq!(recs[0].rank, 1);
        assert!(
            recs.iter().position(|r| r.action == Action::RunTest) > recs.iter().position(|r| r.action == Action::Scale)
        );
        // The same channel with precise evidence gets an action instead.
        let precise = recommend(&model([10.0, 3.0, 5.0]), &plan()).unwrap();
        assert!(!precise.iter().any(|r| r.channel == "unclear" && r.action == Action::RunTest));
    }
}
