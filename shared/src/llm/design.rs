//! A test design explained (`POST /api/v1/llm/causal/insights` with `analysis.design` or
//! `analysis.design_result`, `liftos explain --kind design`): the design endpoint's answer as a
//! fact sheet (the recommended geo test, each duration's best, the power analysis, the
//! randomisation's balance) and the template sentences over it. A design measures nothing: its
//! grade is D and no sentence may use causal words; what it states is what the test could
//! detect, from replays of the history or from the power formulae.

use super::facts::{fmt_level, level_fact, Context, Entities, Evidence, Fact, FactKind, FactSheet, Grade};
use super::format::Unit;
use super::narrate::{literal, Audience};
use crate::api::causal::Check;
use crate::api::surfacing::DesignResponse;
use crate::domain::ValidationError;
use liftos_estimators::design::geo::{Candidate, GeoDesign, TestKind};
use liftos_estimators::design::power::{Alternative, PowerResult};
use liftos_estimators::design::randomize::RandomizeResult;

/// The method of every design's evidence (its `id` is the section: `geo`, `power`, `randomization`).
pub const DESIGN: &str = "design";

/// The usual threshold of a balanced covariate's standardised mean difference.
const SMD_THRESHOLD: f64 = 0.1;

/// The level the design was computed at: 1 - alpha of its geo section, else of its power
/// section (whose sentences state its own alpha besides); None with neither.
pub fn own_level(d: &DesignResponse) -> Option<f64> {
    d.geo.as_ref().map(|g| 1.0 - g.alpha).or_else(|| d.power.as_ref().map(|p| 1.0 - p.alpha))
}

/// The fact sheet of a design at `level`, which must be the design's own (its intervals and
/// detectable lifts hold at that level only).
pub fn sheet(d: &DesignResponse, level: f64, ctx: &Context) -> Result<FactSheet, ValidationError> {
    super::facts::check_level(level)?;
    if d.geo.is_none() && d.power.is_none() && d.randomization.is_none() {
        return Err(ValidationError::new("analysis.design_result", "holds none of geo, power or randomization"));
    }
    if let Some(own) = own_level(d) {
        if (own - level).abs() > 1e-9 {
            return Err(ValidationError::new(
                "confidence_level",
                format!(
                    "the design was computed at alpha = {} (a {}% level) and what it can detect holds at that level only: \
                     ask for confidence_level = {own}, or run the design with alpha = {}",
                    round9(1.0 - own),
                    fmt_level(own),
                    round9(1.0 - level)
                ),
            ));
        }
    }
    let mut s =
        Sheet { facts: vec![level_fact(level)], evidence: Vec::new(), groups: Vec::new(), covariates: Vec::new() };
    if let Some(g) = &d.geo {
        s.geo(g);
    }
    if let Some(p) = &d.power {
        s.power(p);
    }
    if let Some(r) = &d.randomization {
        s.randomization(r);
    }
    // a geo test raises or cuts spend in its markets
    let mut metrics = if d.geo.is_some() { vec!["spend".to_string()] } else { Vec::new() };
    metrics.extend(s.covariates.iter().cloned());
    if let Some(o) = &ctx.outcome {
        metrics.push(o.clone());
    }
    Ok(FactSheet {
        facts: s.facts,
        evidence: s.evidence,
        entities: Entities {
            platforms: ctx.platforms.clone(),
            campaigns: Vec::new(),
            metrics,
            outcome: ctx.outcome.clone(),
            groups: s.groups,
        },
        confidence_level: level,
        design: Some(Drafting::of(d)),
        readout: None,
    })
}

/// 0.1 rather than 0.09999999999999998.
fn round9(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

struct Sheet {
    facts: Vec<Fact>,
    evidence: Vec<Evidence>,
    groups: Vec<String>,
    /// The randomisation's covariates (columns of the data: metrics a sentence may name).
    covariates: Vec<String>,
}

impl Sheet {
    fn push(&mut self, id: String, label: String, value: f64, unit: Unit, source: String) {
        if value.is_finite() {
            let mut f = Fact::new(id, label, FactKind::Statistic, value, unit, source);
            f.method = Some(DESIGN.into());
            self.facts.push(f);
        }
    }

    fn name(&mut self, n: &str) {
        let n = literal(n);
        if !self.groups.contains(&n) {
            self.groups.push(n);
        }
    }

    fn candidate(&mut self, p: &str, c: &Candidate, src: &str) {
        self.push(
            format!("{p}.duration"),
            "the test's length in periods".into(),
            c.duration as f64,
            Unit::Count,
            format!("{src}/duration"),
        );
        self.push(
            format!("{p}.markets"),
            "the test markets".into(),
            c.markets.len() as f64,
            Unit::Count,
            format!("{src}/markets"),
        );
        self.push(
            format!("{p}.mde"),
            "the smallest lift (relative) the test detects at the design's power".into(),
            c.mde,
            Unit::Share,
            format!("{src}/mde"),
        );
        for m in &c.markets {
            self.name(m);
        }
    }

    fn geo(&mut self, g: &GeoDesign) {
        let mut checks = Vec::new();
        let mut warnings = Vec::new();
        self.push(
            "geo.candidates".into(),
            "the candidate designs replayed".into(),
            g.candidates_evaluated as f64,
            Unit::Count,
            "/geo/candidates_evaluated".into(),
        );
        self.push(
            "geo.power".into(),
            "the power the design asks for".into(),
            g.power,
            Unit::Share,
            "/geo/power".into(),
        );
        if let Some(r) = &g.recommended {
            self.candidate("geo", r, "/geo/recommended");
            let src = "/geo/recommended";
            self.push(
                "geo.mde_absolute".into(),
                "the same in outcome units per period across the test markets".into(),
                r.mde_absolute,
                Unit::Outcome,
                format!("{src}/mde_absolute"),
            );
            if let Some(p) = r.power {
                self.push(
                    "geo.power_at_effect".into(),
                    "the power against the lift given".into(),
                    p,
                    Unit::Share,
                    format!("{src}/power"),
                );
            }
            self.push(
                "geo.placebo_rmse".into(),
                "the root mean square of the placebo effects on the evaluation windows (the estimate's noise)".into(),
                r.placebo_rmse,
                Unit::Share,
                format!("{src}/placebo_rmse"),
            );
            self.push(
                "geo.placebo_bias".into(),
                "the mean placebo effect on the evaluation windows".into(),
                r.placebo_bias,
                Unit::Share,
                format!("{src}/placebo_bias"),
            );
            self.push(
                "geo.evaluation_windows".into(),
                "the past windows the noise is measured on".into(),
                r.evaluation_windows as f64,
                Unit::Count,
                format!("{src}/evaluation_windows"),
            );
            self.push(
                "geo.selection_rmse".into(),
                "the placebo effects' root mean square on the windows that chose the design".into(),
                r.selection_rmse,
                Unit::Share,
                format!("{src}/selection_rmse"),
            );
            self.push(
                "geo.pre_rmspe".into(),
                "the replays' pre-period fit (relative RMSPE)".into(),
                r.pre_rmspe,
                Unit::Share,
                format!("{src}/pre_rmspe"),
            );
            self.push(
                "geo.share_of_outcome".into(),
                "the test markets' share of the total outcome".into(),
                r.share_of_outcome,
                Unit::Share,
                format!("{src}/share_of_outcome"),
            );
            if let (Some(share), Some(steady)) = (r.realized_share, r.mde_steady_state) {
                self.push(
                    "geo.realized_share".into(),
                    "the share of the steady-state lift the test's window realises under carry-over".into(),
                    share,
                    Unit::Share,
                    format!("{src}/realized_share"),
                );
                self.push(
                    "geo.mde_steady_state".into(),
                    "the smallest steady-state lift the test detects".into(),
                    steady,
                    Unit::Share,
                    format!("{src}/mde_steady_state"),
                );
            }
            if let Some(c) = r.cost {
                self.push("geo.cost".into(), "the test's cost".into(), c, Unit::Statistic, format!("{src}/cost"));
            }
            checks.push(Check {
                name: "placebo bias".into(),
                value: Some(r.placebo_bias),
                rule: "the replays' mean placebo effect within half their root mean square".into(),
                passed: Some(r.placebo_bias.abs() <= 0.5 * r.placebo_rmse),
            });
            if r.placebo_bias.abs() > 0.5 * r.placebo_rmse {
                warnings.push(format!(
                    "the replays' placebo effects average {:+.2}% where nothing happened, against a noise of {:.2}%: the synthetic control drifts on these markets, and a readout would carry that bias",
                    r.placebo_bias * 100.0,
                    r.placebo_rmse * 100.0
                ));
            }
            if r.evaluation_windows < 4 {
                warnings.push(format!(
                    "the noise is measured on {} past windows only: the detectable lift is itself uncertain (a longer history, or more windows, measures it better)",
                    r.evaluation_windows
                ));
            }
        }
        for (k, list) in g.by_duration.iter().enumerate() {
            if let Some(c) = list.first() {
                self.candidate(&format!("geo.d{}", k + 1), c, &format!("/geo/by_duration/{k}/0"));
            }
        }
        for (k, m) in g.multi_cell.iter().enumerate() {
            let p = format!("geo.mc{}", k + 1);
            let src = format!("/geo/multi_cell/{k}");
            self.push(
                format!("{p}.duration"),
                "the multi-cell test's length in periods".into(),
                m.duration as f64,
                Unit::Count,
                format!("{src}/duration"),
            );
            self.push(
                format!("{p}.cells"),
                "the multi-cell test's arms".into(),
                m.cells.len() as f64,
                Unit::Count,
                format!("{src}/cells"),
            );
            self.push(
                format!("{p}.mde"),
                "the weakest arm's smallest detectable lift".into(),
                m.mde,
                Unit::Share,
                format!("{src}/mde"),
            );
        }
        let kind = match g.kind {
            TestKind::Increase => "a geo test that raises spend in the test markets",
            TestKind::Holdout => "a geo holdout that cuts spend in the test markets",
        };
        self.evidence.push(Evidence {
            id: "geo".into(),
            method: DESIGN.into(),
            estimator: "geo_design".into(),
            grade: Grade::D,
            reason: format!("a design for {kind}: it measures nothing yet; what it can detect comes from replaying the test on the markets' history"),
            checks,
            assumptions: vec![
                "the test markets and their controls keep moving together as they did in the replayed history".into(),
                "nothing else changes in the test markets alone while the test runs".into(),
            ],
            warnings,
        });
    }

    fn power(&mut self, p: &PowerResult) {
        let proportion = p.method.contains("proportion");
        self.push(
            "power.n_control".into(),
            "control units needed".into(),
            p.n_control_ceil as f64,
            Unit::Count,
            "/power/n_control_ceil".into(),
        );
        self.push(
            "power.n_treatment".into(),
            "treated units needed".into(),
            p.n_treatment_ceil as f64,
            Unit::Count,
            "/power/n_treatment_ceil".into(),
        );
        self.push(
            "power.n_total".into(),
            "units in both arms".into(),
            p.n_control_ceil as f64 + p.n_treatment_ceil as f64,
            Unit::Count,
            "/power/n_control_ceil".into(),
        );
        self.push(
            "power.difference".into(),
            if proportion { "the difference in the rate" } else { "the difference in means" }.into(),
            p.effect,
            if proportion { Unit::PercentagePoints } else { Unit::Outcome },
            "/power/effect".into(),
        );
        self.push("power.power".into(), "the power".into(), p.power, Unit::Share, "/power/power".into());
        self.push(
            "power.alpha".into(),
            "the test's false-positive rate (alpha)".into(),
            p.alpha,
            Unit::Share,
            "/power/alpha".into(),
        );
        if p.design_effect > 1.0 {
            self.push(
                "power.design_effect".into(),
                "the design effect of cluster randomisation".into(),
                p.design_effect,
                Unit::Statistic,
                "/power/design_effect".into(),
            );
        }
        if p.variance_reduction > 0.0 {
            self.push(
                "power.variance_reduction".into(),
                "the outcome variance removed by the pre-period covariate (CUPED)".into(),
                p.variance_reduction,
                Unit::Share,
                "/power/variance_reduction".into(),
            );
        }
        let sided = match p.alternative {
            Alternative::TwoSided => "two-sided",
            Alternative::Larger | Alternative::Smaller => "one-sided",
        };
        self.evidence.push(Evidence {
            id: "power".into(),
            method: DESIGN.into(),
            estimator: "power_analysis".into(),
            grade: Grade::D,
            reason: format!(
                "a power analysis ({}, {sided}, alpha {}): it measures nothing yet",
                p.method,
                round9(p.alpha)
            ),
            checks: Vec::new(),
            assumptions: vec![
                "the outcome's spread (or the baseline rate) given is the one the test will see".into(),
                "units are assigned at random and do not affect one another".into(),
            ],
            warnings: Vec::new(),
        });
    }

    fn randomization(&mut self, r: &RandomizeResult) {
        self.push(
            "randomization.units".into(),
            "units assigned".into(),
            r.assignments.len() as f64,
            Unit::Count,
            "/randomization/assignments".into(),
        );
        for (k, (arm, n)) in r.counts.iter().enumerate() {
            let name = arm_name(arm);
            self.push(
                format!("randomization.arm{}", k + 1),
                format!("units in {name}"),
                *n as f64,
                Unit::Count,
                format!("/randomization/counts/{arm}"),
            );
            self.name(&name);
        }
        if !r.strata.is_empty() {
            self.push(
                "randomization.strata".into(),
                "strata".into(),
                r.strata.len() as f64,
                Unit::Count,
                "/randomization/strata".into(),
            );
        }
        let mut covariates: Vec<&str> = r.balance.iter().map(|b| b.covariate.as_str()).collect();
        covariates.dedup();
        for c in &covariates {
            self.covariates.push(literal(c));
        }
        let mut checks = Vec::new();
        if !covariates.is_empty() {
            self.push(
                "randomization.covariates".into(),
                "covariates compared".into(),
                covariates.len() as f64,
                Unit::Count,
                "/randomization/balance".into(),
            );
            self.push(
                "randomization.max_abs_smd".into(),
                "the largest standardised mean difference between arms".into(),
                r.max_abs_smd,
                Unit::Statistic,
                "/randomization/max_abs_smd".into(),
            );
            self.push(
                "randomization.threshold".into(),
                "the usual threshold of balance".into(),
                SMD_THRESHOLD,
                Unit::Statistic,
                "/randomization/balanced".into(),
            );
            checks.push(Check {
                name: "covariate balance".into(),
                value: Some(r.max_abs_smd),
                rule: format!("every |SMD| below {SMD_THRESHOLD}"),
                passed: Some(r.balanced),
            });
        }
        if let Some(a) = r.attempts {
            self.push(
                "randomization.attempts".into(),
                "the random draws made".into(),
                a as f64,
                Unit::Count,
                "/randomization/attempts".into(),
            );
        }
        self.evidence.push(Evidence {
            id: "randomization".into(),
            method: DESIGN.into(),
            estimator: "randomization".into(),
            grade: Grade::D,
            reason: "a random assignment: it measures nothing yet".into(),
            checks,
            assumptions: vec!["the arms are run as assigned, and no unit's arm is changed afterwards".into()],
            warnings: Vec::new(),
        });
    }
}

/// An arm as sentences name it: its name, or "arm 2" for a name without a letter (which could
/// not be told from a number).
fn arm_name(a: &str) -> String {
    if a.chars().any(char::is_alphabetic) {
        literal(a)
    } else {
        format!("arm {a}")
    }
}

/// Whether `sheet` is a design's.
pub fn is_design(sheet: &FactSheet) -> bool {
    !sheet.evidence.is_empty() && sheet.evidence.iter().all(|e| e.method == DESIGN)
}

/// A list of names as a sentence writes it: "Chicago, Denver and Austin", or with semicolons
/// when a name holds a comma: "Austin; New York, NY; and Phoenix".
pub(super) fn and_list(names: &[String]) -> String {
    let semi = names.iter().any(|n| n.contains(','));
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] if semi => format!("{a}; and {b}"),
        [init @ .., last] if semi => format!("{}; and {last}", init.join("; ")),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The periods' word ("weeks") for a count fact, from the panel's step.
pub(super) fn periods_word(n: f64, step: Option<&str>) -> String {
    let one = n == 1.0;
    match step {
        Some(s @ ("day" | "week" | "month" | "quarter")) if one => s.to_string(),
        Some(s @ ("day" | "week" | "month" | "quarter")) => format!("{s}s"),
        _ if one => "period".into(),
        _ => "periods".into(),
    }
}

/// The template sentences of a design (placeholders over the sheet and its [`Drafting`]): per
/// section its main sentences and its others, most useful first; an analyst reads them all, an
/// executive the main ones and the first others up to three, then what the numbers are and the
/// next step (three to five sentences).
pub fn drafts(sheet: &FactSheet, audience: Audience) -> Vec<String> {
    let Some(d) = &sheet.design else { return Vec::new() };
    let analyst = audience == Audience::Analyst;
    let sections =
        [geo_drafts(sheet, d, analyst), power_drafts(sheet, d, analyst), randomization_drafts(sheet, d, analyst)];
    let mut out: Vec<String> = Vec::new();
    if analyst {
        for (main, extra) in sections {
            out.extend(main);
            out.extend(extra);
        }
    } else {
        const BODY: usize = 3;
        let mut extras = Vec::new();
        for (main, extra) in sections {
            out.extend(main);
            extras.extend(extra);
        }
        out.truncate(BODY);
        let room = BODY.saturating_sub(out.len());
        out.extend(extras.into_iter().take(room));
    }
    out.extend(closing(sheet, d));
    out
}

/// The geo section's main sentences (the recommended test and what it detects) and its others.
fn geo_drafts(sheet: &FactSheet, d: &Drafting, analyst: bool) -> (Vec<String>, Vec<String>) {
    let (mut main, mut extra) = (Vec::new(), Vec::new());
    let has = |id: &str| sheet.get(id).is_some();
    if !has("geo.candidates") {
        return (main, extra);
    }
    let outcome = outcome_of(sheet);
    let word = |id: &str| periods_word(sheet.get(id).map_or(0.0, |f| f.value), d.step.as_deref());
    let size = if d.holdout { "a loss" } else { "a lift" };
    let biased = sheet
        .get("geo.placebo_bias")
        .is_some_and(|b| sheet.get("geo.placebo_rmse").is_some_and(|r| b.value.abs() > 0.5 * r.value));
    if has("geo.mde") {
        let markets = match &d.markets {
            Some(names) => and_list(names),
            None => "the {{fact:geo.markets}} markets listed in the design".into(),
        };
        let what = if d.holdout { "cuts spend" } else { "raises spend" };
        main.push(format!(
            "The recommended test {what} in {markets} for {{{{fact:geo.duration}}}} {}; these markets hold {{{{fact:geo.share_of_outcome}}}} of {outcome}.",
            word("geo.duration")
        ));
        let unit = periods_word(1.0, d.step.as_deref());
        main.push(format!(
            "It can detect {size} of {{{{abs:geo.mde}}}} or more ({{{{abs:geo.mde_absolute}}}} in {outcome} per {unit} across those markets): if the true effect is that large, the test's {{{{level}}}} interval excludes zero in {{{{fact:geo.power}}}} of runs."
        ));
        // a drifting synthetic control is part of the answer, not a detail
        if biased || analyst {
            (if biased { &mut main } else { &mut extra }).push(format!(
                "Replayed on {{{{fact:geo.evaluation_windows}}}} past windows where nothing happened (not the windows that chose it), the test's estimate missed zero by {{{{fact:geo.placebo_rmse}}}} on average (root mean square), and by {{{{fact:geo.placebo_bias}}}} in the mean{}.",
                if biased { ": a bias a readout of these markets would carry" } else { "" }
            ));
        }
        if has("geo.mde_steady_state") {
            extra.push(format!(
                "The channel's effect builds up over time (its carry-over), so a test this long realises {{{{fact:geo.realized_share}}}} of the steady-state effect: the steady-state {} it detects is {{{{abs:geo.mde_steady_state}}}}.",
                if d.holdout { "loss" } else { "lift" }
            ));
        }
    } else {
        main.push("None of the {{fact:geo.candidates}} candidate designs fits the settings (the markets allowed, the durations, the budget), so there is no recommended test.".into());
    }
    // Each duration's best, when there is more than one duration.
    let durations: Vec<String> = (1..).map(|k| format!("geo.d{k}")).take_while(|p| has(&format!("{p}.mde"))).collect();
    if durations.len() > 1 {
        let parts: Vec<String> = durations
            .iter()
            .map(|p| format!("{{{{abs:{p}.mde}}}} in {{{{fact:{p}.duration}}}} {}", word(&format!("{p}.duration"))))
            .collect();
        extra.push(format!("The best design of each length detects {size} of {}.", and_list(&parts)));
    }
    if has("geo.power_at_effect") {
        extra.push("Against the effect given, the test's power is {{fact:geo.power_at_effect}}.".into());
    }
    if analyst {
        if has("geo.selection_rmse") {
            extra.push("On the windows that chose it the miss was {{fact:geo.selection_rmse}}, smaller as the best of {{fact:geo.candidates}} candidates is expected to look there; the synthetic control fits the test markets' pre-periods within {{fact:geo.pre_rmspe}}.".into());
        }
        if has("geo.cost") {
            extra.push("The test costs {{fact:geo.cost}}.".into());
        }
        for k in 1.. {
            let p = format!("geo.mc{k}");
            if !has(&format!("{p}.mde")) {
                break;
            }
            extra.push(format!(
                "Run as {{{{fact:{p}.cells}}}} arms for {{{{fact:{p}.duration}}}} {} against one control pool, the weakest arm detects {{{{abs:{p}.mde}}}}.",
                word(&format!("{p}.duration"))
            ));
        }
    }
    (main, extra)
}

fn outcome_of(sheet: &FactSheet) -> String {
    sheet.entities.outcome.clone().unwrap_or_else(|| "the outcome".into())
}

/// The power analysis: the sample sizes, the effect or the power solved for, and its others.
fn power_drafts(sheet: &FactSheet, d: &Drafting, analyst: bool) -> (Vec<String>, Vec<String>) {
    let (mut main, mut extra) = (Vec::new(), Vec::new());
    let has = |id: &str| sheet.get(id).is_some();
    if !has("power.power") {
        return (main, extra);
    }
    let outcome = outcome_of(sheet);
    let sided = if d.one_sided { "a one-sided test" } else { "a two-sided test" };
    let diff = if d.proportion {
        "a difference in the rate of {{abs:power.difference}}".to_string()
    } else {
        format!("a difference in means of {{{{abs:power.difference}}}} in {outcome}")
    };
    let test = format!("{sided} with a {{{{fact:power.alpha}}}} false-positive rate (alpha)");
    main.push(match d.solved_for.as_str() {
        "effect" => format!(
            "With {{{{fact:power.n_treatment}}}} treated and {{{{fact:power.n_control}}}} control units, the smallest effect {test} detects with {{{{fact:power.power}}}} power is {diff}."
        ),
        "power" => format!(
            "With {{{{fact:power.n_treatment}}}} treated and {{{{fact:power.n_control}}}} control units, {test} has {{{{fact:power.power}}}} power against {diff}."
        ),
        _ => format!(
            "To detect {diff} with {{{{fact:power.power}}}} power in {test}, the test needs {{{{fact:power.n_treatment}}}} treated and {{{{fact:power.n_control}}}} control units ({{{{fact:power.n_total}}}} in all)."
        ),
    });
    if has("power.variance_reduction") {
        extra.push("Adjusting for the pre-period covariate removes {{fact:power.variance_reduction}} of the outcome's variance, which these numbers count on: analyse the test with that adjustment.".into());
    }
    if analyst && has("power.design_effect") {
        extra.push("Randomising clusters instead of units multiplies the units needed by the design effect, {{fact:power.design_effect}}.".into());
    }
    (main, extra)
}

/// The randomisation: the arms' sizes, the covariates' balance and the draws it took.
fn randomization_drafts(sheet: &FactSheet, d: &Drafting, analyst: bool) -> (Vec<String>, Vec<String>) {
    let (mut main, mut extra) = (Vec::new(), Vec::new());
    let has = |id: &str| sheet.get(id).is_some();
    if !has("randomization.units") {
        return (main, extra);
    }
    let arms: Vec<String> = d
        .arms
        .iter()
        .enumerate()
        .map(|(k, name)| format!("{{{{fact:randomization.arm{}}}}} in {name}", k + 1))
        .collect();
    let strata = if has("randomization.strata") { " within each of {{fact:randomization.strata}} strata" } else { "" };
    main.push(format!(
        "The assignment puts the {{{{fact:randomization.units}}}} units into arms at random{strata}: {}.",
        and_list(&arms)
    ));
    if has("randomization.max_abs_smd") {
        let verdict = if d.balanced {
            "below the usual threshold of {{fact:randomization.threshold}}: the arms start out alike"
        } else {
            "above the usual threshold of {{fact:randomization.threshold}}: adjust for the imbalance in the analysis (a regression on the covariates), or draw again with a balance limit"
        };
        extra.push(match d.covariates.as_slice() {
            [one] => format!(
                "On {one}, the standardised mean difference between arms is {{{{fact:randomization.max_abs_smd}}}}, {verdict}.{{{{cite:randomization.covariates}}}}"
            ),
            many => format!(
                "Across the {{{{fact:randomization.covariates}}}} covariates ({}), the largest standardised mean difference between arms is {{{{fact:randomization.max_abs_smd}}}}, {verdict}.",
                and_list(many)
            ),
        });
    }
    if analyst && has("randomization.attempts") {
        extra.push("It took {{fact:randomization.attempts}} random draws to meet the balance limit asked for: analyse the test with a randomisation test that redraws under the same rule, or with the usual standard error, which is then conservative.".into());
    }
    (main, extra)
}

/// What the numbers are (a plan), and the next step.
fn closing(sheet: &FactSheet, d: &Drafting) -> [String; 2] {
    let has = |id: &str| sheet.get(id).is_some();
    let word = |id: &str| periods_word(sheet.get(id).map_or(0.0, |f| f.value), d.step.as_deref());
    let cite =
        sheet.facts.iter().find(|f| f.id != "level").map(|f| format!("{{{{cite:{}}}}}", f.id)).unwrap_or_default();
    let what = if has("geo.candidates") && !has("geo.mde") {
        format!("Without a recommended test there is nothing to run yet; the numbers above describe the candidates replayed.{cite}")
    } else if has("geo.candidates") {
        format!("This is a plan, not a result: it measures no effect yet, and what it says the test can detect assumes the markets behave as they did in the history.{cite}")
    } else if has("power.power") {
        format!("This is a plan, not a result: it measures no effect yet, and what it says the test can detect assumes the outcome varies as the spread (or the baseline rate) given says.{cite}")
    } else {
        format!("This is a plan, not a result: it measures no effect yet.{cite}")
    };
    let next = if has("geo.mde") {
        let act = if d.holdout { "cut spend" } else { "raise spend" };
        let markets = match &d.markets {
            Some(names) => and_list(names),
            None => "the recommended markets".into(),
        };
        format!(
            "Next step: {act} in {markets} for {{{{fact:geo.duration}}}} {}, keep every other market as it is, and read the test out with the geo readout given this design's noise ({{{{fact:geo.placebo_rmse}}}} over {{{{fact:geo.evaluation_windows}}}} windows).",
            word("geo.duration")
        )
    } else if has("randomization.units") {
        "Next step: run the arms as assigned and keep the assignment with the plan, so the test is analysed on the arms it was drawn with.{{cite:randomization.units}}".into()
    } else if has("power.power") {
        match d.solved_for.as_str() {
            "power" if sheet.get("power.power").is_some_and(|p| p.value < 0.8) => {
                "Next step: at this power the test is likely to miss an effect of that size: add units, or plan for a larger effect, before running it.{{cite:power.power}}".into()
            }
            "power" | "effect" => {
                "Next step: check that an effect of that size is worth acting on before running the test; if a smaller one matters, add units.{{cite:power.difference}}".into()
            }
            _ => "Next step: recruit the units the analysis asks for before the test starts, and fix its length and its analysis in advance.{{cite:power.n_total}}".into(),
        }
    } else {
        format!("Next step: widen the markets allowed, the durations or the budget and design again.{cite}")
    };
    [what, next]
}

/// What a design's sentences need beyond the facts: names and kinds. `markets`: the
/// recommended markets (None when a name holds no letter, "501": they are then written as their
/// count, since such a name cannot be told from a number); `step`: the panel's spacing
/// (`time_axis.step`, for "8 weeks").
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Drafting {
    pub markets: Option<Vec<String>>,
    pub holdout: bool,
    pub step: Option<String>,
    pub proportion: bool,
    pub one_sided: bool,
    pub solved_for: String,
    pub arms: Vec<String>,
    pub covariates: Vec<String>,
    pub balanced: bool,
}

impl Drafting {
    pub fn of(d: &DesignResponse) -> Self {
        let markets = d
            .geo
            .as_ref()
            .and_then(|g| g.recommended.as_ref())
            .map(|r| r.markets.iter().map(|m| literal(m)).collect::<Vec<_>>());
        Drafting {
            // names without a letter ("501") cannot be told from numbers: written as a count
            markets: markets.filter(|m| !m.is_empty() && m.iter().all(|n| n.chars().any(char::is_alphabetic))),
            holdout: d.geo.as_ref().is_some_and(|g| g.kind == TestKind::Holdout),
            step: d.time_axis.as_ref().map(|t| t.step.clone()),
            proportion: d.power.as_ref().is_some_and(|p| p.method.contains("proportion")),
            one_sided: d.power.as_ref().is_some_and(|p| p.alternative != Alternative::TwoSided),
            solved_for: d.power.as_ref().map(|p| p.solved_for.as_str().to_string()).unwrap_or_default(),
            arms: d.randomization.as_ref().map(|r| r.counts.keys().map(|a| arm_name(a)).collect()).unwrap_or_default(),
            covariates: d
                .randomization
                .as_ref()
                .map(|r| {
                    let mut c: Vec<String> = r.balance.iter().map(|b| literal(&b.covariate)).collect();
                    c.dedup();
                    c
                })
                .unwrap_or_default(),
            balanced: d.randomization.as_ref().is_some_and(|r| r.balanced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_periods_read_as_written() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(and_list(&names(&["Chicago"])), "Chicago");
        assert_eq!(and_list(&names(&["Chicago", "Denver"])), "Chicago and Denver");
        assert_eq!(and_list(&names(&["Chicago", "Denver", "Austin"])), "Chicago, Denver and Austin");
        assert_eq!(and_list(&names(&["New York, NY", "Austin"])), "New York, NY; and Austin");
        assert_eq!(and_list(&names(&["Austin", "New York, NY", "Phoenix"])), "Austin; New York, NY; and Phoenix");
        assert_eq!(periods_word(1.0, Some("week")), "week");
        assert_eq!(periods_word(8.0, Some("week")), "weeks");
        assert_eq!(periods_word(3.0, Some("2 days")), "periods");
        assert_eq!(periods_word(1.0, None), "period");
        assert_eq!(arm_name("treatment"), "treatment");
        assert_eq!(arm_name("2"), "arm 2");
    }
}
