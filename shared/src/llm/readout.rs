//! A geo test's readout explained (`POST /api/v1/llm/causal/insights` with `analysis.readout` or
//! `analysis.readout_result`, `liftos explain --kind readout`): the relative lift of the test
//! markets over their synthetic control, its interval at the level asked for (t with the
//! readout's degrees of freedom, as the readout computes it), where its noise comes from, the
//! conformal p-value that does not rest on that noise, and the pre-period fit as the validity
//! check. Test markets chosen by a design are not randomised: a readout whose pre-period fit
//! holds is graded B (a quasi-experiment), one whose fit fails C.

use super::facts::{level_fact, with_bounds, Context, Entities, Evidence, Fact, FactKind, FactSheet, Grade};
use super::format::Unit;
use super::narrate::{literal, Audience};
use crate::api::causal::Check;
use crate::api::surfacing::ReadoutAnswer;
use crate::domain::ValidationError;
use liftos_estimators::design::geo::NoiseSource;
use liftos_estimators::dist;

/// The evidence id, method and fact-id prefix of a readout.
pub const READOUT: &str = "readout";

/// The pre-period fit a synthetic control must reach, relative to the markets' level (the
/// analyses' synthetic-control check).
const FIT: f64 = 0.05;

/// The level the readout's interval was computed at (its `level`, 1 - alpha).
pub fn own_level(r: &ReadoutAnswer) -> Option<f64> {
    let l = r.readout.level;
    (l.is_finite() && l > 0.0 && l < 1.0).then_some(l)
}

/// What a readout's sentences need beyond the facts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Drafting {
    /// The test markets (None when a name holds no letter: written as their count).
    pub markets: Option<Vec<String>>,
    pub noise_source: NoiseSource,
    /// The panel's spacing (`time_axis.step`).
    pub step: Option<String>,
    /// The conformal interval is stated (the level asked for is the readout's own).
    pub conformal_interval: bool,
    /// The conformal test and the t interval disagree on whether the lift is clear of zero.
    pub disagree: bool,
}

/// The fact sheet of a readout at `level` (any level: the interval is recomputed from the
/// standard error and degrees of freedom; the conformal interval only at the readout's own).
pub fn sheet(r: &ReadoutAnswer, level: f64, ctx: &Context) -> Result<FactSheet, ValidationError> {
    super::facts::check_level(level)?;
    let g = &r.readout;
    if !(g.std_error.is_finite() && g.std_error > 0.0 && g.df >= 1 && g.lift.is_finite()) {
        return Err(ValidationError::new(
            "analysis.readout_result",
            "needs a finite lift, a positive std_error and df of at least 1 (as the readout gives them)",
        ));
    }
    let fact = |id: &str, label: &str, kind: FactKind, value: f64, unit: Unit, source: &str| {
        let mut f = Fact::new(format!("{READOUT}.{id}"), label, kind, value, unit, source.into());
        f.method = Some(READOUT.into());
        f
    };
    let tc = dist::t_critical(1.0 - level, g.df as f64);
    let (lo, hi) = (g.lift - tc * g.std_error, g.lift + tc * g.std_error);
    let mut effect = fact(
        "effect",
        "the test markets' lift over their synthetic control (relative)",
        FactKind::Effect,
        g.lift,
        Unit::Share,
        "/lift",
    )
    .with_ci(lo, hi, level)
    .with_p(Some(g.p_value));
    effect.significant = Some(lo > 0.0 || hi < 0.0);
    let mut absolute = fact(
        "lift_absolute",
        "the same in outcome units per period across the test markets",
        FactKind::Derived,
        g.lift_absolute,
        Unit::Outcome,
        "/lift_absolute",
    );
    absolute.derived_from = vec![format!("{READOUT}.effect")];
    absolute.significant = effect.significant;
    let mut facts = vec![level_fact(level), effect, absolute];
    let mut stat = |id: &str, label: &str, value: f64, unit: Unit, source: &str| {
        if value.is_finite() {
            facts.push(fact(id, label, FactKind::Statistic, value, unit, source));
        }
    };
    stat("duration", "the test's length in periods", g.duration as f64, Unit::Count, "/duration");
    stat("markets", "the test markets", g.markets.len() as f64, Unit::Count, "/markets");
    stat(
        "std_error",
        "the lift's standard error (the placebo lifts' root mean square)",
        g.std_error,
        Unit::Share,
        "/std_error",
    );
    stat(
        "windows",
        "the windows the noise is measured on (the t interval's degrees of freedom)",
        g.df as f64,
        Unit::Count,
        "/df",
    );
    stat(
        "pre_rmspe",
        "the synthetic control's pre-period fit (relative RMSPE)",
        g.pre_rmspe,
        Unit::Share,
        "/pre_rmspe",
    );
    stat("fit_limit", "the pre-period fit a synthetic control must reach", FIT, Unit::Share, "/pre_rmspe");
    stat(
        "conformal_p",
        "the conformal p-value (constant lift)",
        g.conformal_p_value,
        Unit::Probability,
        "/conformal_p_value",
    );
    let own = own_level(r);
    let conformal_interval =
        own.is_some_and(|o| (o - level).abs() < 1e-6) && g.conformal_ci_low.is_some() && g.conformal_ci_high.is_some();
    if conformal_interval {
        if let (Some(a), Some(b)) = (g.conformal_ci_low, g.conformal_ci_high) {
            stat("conformal_low", "the conformal interval's lower end", a, Unit::Share, "/conformal_ci_low");
            stat("conformal_high", "the conformal interval's upper end", b, Unit::Share, "/conformal_ci_high");
        }
    }
    let fit_ok = g.pre_rmspe <= FIT;
    let mut warnings = Vec::new();
    if g.noise_source == NoiseSource::Replays {
        warnings.push(
            "the noise comes from replays of the test on the history before it, which understate it when the markets were chosen on that same history: give the design's placebo_rmse and evaluation_windows"
                .to_string(),
        );
    }
    let t_sig = lo > 0.0 || hi < 0.0;
    let disagree = g.conformal_p_value.is_finite() && (g.conformal_p_value < 1.0 - level) != t_sig;
    if disagree {
        warnings.push(format!(
            "the conformal test (p = {:.3}) and the t interval disagree on whether the lift is clear of zero at this level",
            g.conformal_p_value
        ));
    }
    let evidence = vec![Evidence {
        id: READOUT.into(),
        method: READOUT.into(),
        estimator: "geo_readout".into(),
        grade: if fit_ok { Grade::B } else { Grade::C },
        reason: if fit_ok {
            "a geo test read against a synthetic control of the other markets, whose pre-period fit holds (the test markets were chosen, not randomised)".into()
        } else {
            format!(
                "the synthetic control misses the test markets' pre-period by {:.1}% (the fit needs {:.0}% or less): the gap after the start may be its drift",
                g.pre_rmspe * 100.0,
                FIT * 100.0
            )
        },
        checks: vec![Check {
            name: "pre-period fit".into(),
            value: Some(g.pre_rmspe),
            rule: format!("pre-period RMSPE <= {:.0}% of the test markets' level", FIT * 100.0),
            passed: Some(fit_ok),
        }],
        assumptions: vec![
            "without the test, the test markets would have kept tracking their synthetic control".into(),
            "nothing else changed in the test markets alone during the test".into(),
            "the test did not move the control markets".into(),
        ],
        warnings,
    }];
    let markets: Vec<String> = g.markets.iter().map(|m| literal(m)).collect();
    Ok(FactSheet {
        facts: with_bounds(facts),
        evidence,
        entities: Entities {
            platforms: ctx.platforms.clone(),
            campaigns: Vec::new(),
            // a geo test changes spend in its markets
            metrics: std::iter::once("spend".to_string()).chain(ctx.outcome.iter().cloned()).collect(),
            outcome: ctx.outcome.clone(),
            groups: markets.clone(),
        },
        confidence_level: level,
        design: None,
        readout: Some(Drafting {
            markets: Some(markets).filter(|m| !m.is_empty() && m.iter().all(|n| n.chars().any(char::is_alphabetic))),
            noise_source: g.noise_source,
            step: r.time_axis.as_ref().map(|t| t.step.clone()),
            conformal_interval,
            disagree,
        }),
    })
}

/// The periods' word ("weeks") for `n` periods, from the panel's step.
fn periods_word(n: f64, step: Option<&str>) -> String {
    super::design::periods_word(n, step)
}

/// The template sentences of a readout (executive: the lift, its interval, its noise or the
/// conformal test when it disagrees, the next step; analyst: everything).
pub fn drafts(sheet: &FactSheet, audience: Audience) -> Vec<String> {
    let Some(d) = &sheet.readout else { return Vec::new() };
    let Some(effect) = sheet.get("readout.effect") else { return Vec::new() };
    let analyst = audience == Audience::Analyst;
    let has = |id: &str| sheet.get(id).is_some();
    let outcome = sheet.entities.outcome.clone().unwrap_or_else(|| "the outcome".into());
    let grade = sheet.evidence.first().map(|e| e.grade).unwrap_or(Grade::C);
    let significant = effect.significant == Some(true);
    let duration = sheet.get("readout.duration").map_or(0.0, |f| f.value);
    let span = format!("{{{{fact:readout.duration}}}} {}", periods_word(duration, d.step.as_deref()));
    let per = periods_word(1.0, d.step.as_deref());
    let markets = match &d.markets {
        Some(names) => super::design::and_list(names),
        None => "the {{fact:readout.markets}} test markets".into(),
    };
    let up = effect.value > 0.0;
    let mut out = Vec::new();
    out.push(match (significant, grade.allows_causal_words() && !d.disagree) {
        (true, true) => format!(
            "The test {} {outcome} in {markets} by {{{{abs:readout.effect}}}} over its {span} ({{{{abs:readout.lift_absolute}}}} per {per} across those markets), against their synthetic control.",
            if up { "increased" } else { "decreased" }
        ),
        (true, false) => format!(
            "Over the test's {span}, {outcome} in {markets} ran {{{{abs:readout.effect}}}} {} their synthetic control ({{{{abs:readout.lift_absolute}}}} per {per}); {}",
            if up { "higher than" } else { "lower than" },
            if grade == Grade::C {
                "with the pre-period fit failed, that gap may be the control's drift, not the test's effect."
            } else {
                "the t interval excludes zero but the conformal test does not, so the two readings of its noise disagree."
            }
        ),
        (false, _) => format!(
            "Over the test's {span}, {outcome} in {markets} came out {{{{abs:readout.effect}}}} {} their synthetic control ({{{{abs:readout.lift_absolute}}}} per {per}), not distinguishable from zero at the {{{{level}}}} level.",
            if up { "above" } else { "below" }
        ),
    });
    out.push(
        "Its {{level}} interval runs from {{lo:readout.effect}} to {{hi:readout.effect}} (p = {{p:readout.effect}})."
            .into(),
    );
    let noise = if d.noise_source == NoiseSource::Design {
        "Its noise ({{fact:readout.std_error}}) is the design's, measured on {{fact:readout.windows}} past windows the markets were not chosen on.".to_string()
    } else {
        "Its noise ({{fact:readout.std_error}}) comes from {{fact:readout.windows}} replays of the test on the history before it, which understate it if the markets were chosen on that same history: give the readout the design's noise.".to_string()
    };
    let conformal = if d.conformal_interval {
        "Conformal inference, which does not rest on that noise estimate, gives a p-value of {{fact:readout.conformal_p}} and an interval from {{fact:readout.conformal_low}} to {{fact:readout.conformal_high}}."
    } else {
        "Conformal inference, which does not rest on that noise estimate, gives a p-value of {{fact:readout.conformal_p}}."
    };
    let fit = if grade == Grade::C {
        "Before the test, the synthetic control missed the test markets by {{fact:readout.pre_rmspe}} (the check needs {{fact:readout.fit_limit}} or less)."
    } else {
        "Before the test, the synthetic control tracked the test markets within {{fact:readout.pre_rmspe}} (the check needs {{fact:readout.fit_limit}} or less)."
    };
    if analyst {
        out.push(noise);
        if has("readout.conformal_p") {
            out.push(conformal.into());
        }
        out.push(fit.into());
        let e = &sheet.evidence[0];
        out.push(format!(
            "The estimate rests on these assumptions: {}.{{{{cite:readout.effect}}}}",
            e.assumptions.join("; ")
        ));
    } else if grade == Grade::C {
        out.push(fit.into());
    } else if d.disagree && has("readout.conformal_p") {
        out.push(conformal.into());
    } else {
        out.push(noise);
    }
    out.push(match (significant, grade.allows_causal_words() && !d.disagree) {
        (true, true) => format!(
            "Next step: set the {{{{abs:readout.lift_absolute}}}} per {per} against what the change in spend cost per {per} in those markets, to judge whether it pays before rolling it out."
        ),
        (true, false) if grade == Grade::C => "Next step: re-run the test in markets the synthetic control fits before the test (the design endpoint ranks them), before acting on this gap.{{cite:readout.pre_rmspe}}".into(),
        (true, false) => "Next step: read the test again with the design's noise, or run it longer, before acting on this gap.{{cite:readout.std_error}}".into(),
        (false, _) => "Next step: the test could not tell its effect from zero: run it longer or in more markets (the design endpoint gives the effect each length can detect) before acting on it.{{cite:readout.effect}}".into(),
    });
    out
}
