//! The fact sheet: every number a narrative may state, taken from a typed analysis result, with
//! an id, a label, a unit, the string the formatter writes, the interval at the requested
//! confidence level and where it came from (a JSON pointer into the result). Derived numbers
//! (cumulative effect, relative lift) are computed here, never by a model. Each result also gets
//! an evidence grade, which decides whether causal words are allowed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::format::{display, Unit};
use crate::api::causal::{AnalysisOutput, Check, DataInfo, MethodResult};
use crate::api::estimate::{DidOutput, DiscoveryOutput, EffectOutput, MethodOutput};
use crate::domain::ValidationError;
use liftos_estimators::did::twfe::Headline;
use liftos_estimators::dist;
use liftos_estimators::inference::{Estimate, Inference};
use liftos_estimators::iv::weak::{ArResult, ArSet};

/// What a fact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// A method's effect estimate (signed; direction words must agree with it).
    Effect,
    /// A number computed from other facts (cumulative effect, relative lift).
    Derived,
    /// A validity check's statistic.
    Check,
    /// A bound of an effect's interval, or its p-value (`did.effect.ci_low`, `.ci_high`,
    /// `.p_value`): each a fact of its own, so a sentence cites exactly the numbers it states.
    Bound,
    /// Any other number of the result (counts, statistics).
    Statistic,
    /// The confidence level asked for.
    Level,
}

/// One number a narrative may state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Fact {
    pub id: String,
    pub label: String,
    pub kind: FactKind,
    pub value: f64,
    pub unit: Unit,
    /// The value as narratives write it.
    pub display: String,
    /// The interval at `level`, when the method gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_display: Option<[String; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_display: Option<String>,
    /// For effects: the interval (or the permutation p-value) excludes no effect at `level`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub significant: Option<bool>,
    /// For checks: whether it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// The method (`did`, `synth`, ...) whose result it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A JSON pointer into the analysis result (for derived facts: into the facts it is computed from).
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<String>,
}

impl Fact {
    pub(super) fn new(
        id: String,
        label: impl Into<String>,
        kind: FactKind,
        value: f64,
        unit: Unit,
        source: String,
    ) -> Self {
        Fact {
            id,
            label: label.into(),
            kind,
            value,
            unit,
            display: display(value, unit),
            ci: None,
            ci_display: None,
            level: None,
            p_value: None,
            p_display: None,
            significant: None,
            passed: None,
            method: None,
            source,
            derived_from: Vec::new(),
        }
    }

    pub(super) fn with_ci(mut self, lo: f64, hi: f64, level: f64) -> Self {
        self.ci = Some([lo, hi]);
        self.ci_display = Some([display(lo, self.unit), display(hi, self.unit)]);
        self.level = Some(level);
        self
    }

    pub(super) fn with_p(mut self, p: Option<f64>) -> Self {
        if let Some(p) = p.filter(|p| p.is_finite()) {
            self.p_value = Some(p);
            self.p_display = Some(display(p, Unit::Probability));
        }
        self
    }
}

/// How much a result can bear: A, a randomised experiment whose checks passed; B, a
/// quasi-experiment whose checks passed; C, a check failed or was not run, or the result is
/// model-based (discovered edges, adjustment for observed confounders only); D, a domain prior,
/// or a test design, which measures nothing.
/// Causal words ("caused", "drove", "the treatment increased") only for A and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum Grade {
    A,
    B,
    C,
    D,
}

impl Grade {
    pub fn allows_causal_words(self) -> bool {
        matches!(self, Grade::A | Grade::B)
    }
}

/// The grade of one method's result, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// The prefix of this result's fact ids (`did`, `synth`, `did_2`, ...).
    pub id: String,
    pub method: String,
    pub estimator: String,
    pub grade: Grade,
    pub reason: String,
    /// The result's own validity checks (as analyze/advanced reports them).
    #[serde(default)]
    pub checks: Vec<Check>,
    #[serde(default)]
    pub assumptions: Vec<String>,
    /// The estimator's warnings, as it wrote them.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The names a narrative may use: channels, campaigns, metrics and columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Entities {
    pub platforms: Vec<String>,
    pub campaigns: Vec<String>,
    /// The outcome (when known) and the data's columns.
    pub metrics: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The markets, arms and strata a test design names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Every number of a result a narrative may state, and the grades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FactSheet {
    pub facts: Vec<Fact>,
    pub evidence: Vec<Evidence>,
    pub entities: Entities,
    pub confidence_level: f64,
    /// A test design's names and kinds, which its sentences need beside the numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design: Option<super::design::Drafting>,
    /// A geo readout's names and kinds, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout: Option<super::readout::Drafting>,
}

impl FactSheet {
    pub fn get(&self, id: &str) -> Option<&Fact> {
        self.facts.iter().find(|f| f.id == id)
    }
}

/// The levels a narrative may be asked for.
pub const MIN_LEVEL: f64 = 0.5;
pub const MAX_LEVEL: f64 = 0.999;

pub fn check_level(level: f64) -> Result<(), ValidationError> {
    if !(level.is_finite() && (MIN_LEVEL..=MAX_LEVEL).contains(&level)) {
        return Err(ValidationError::new(
            "confidence_level",
            format!("{level}: must be between {MIN_LEVEL} and {MAX_LEVEL} (0.9 for a 90% interval)"),
        ));
    }
    Ok(())
}

/// What the analysis was about, when the caller knows it (the request's outcome column, the
/// platforms of the records).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub outcome: Option<String>,
    pub platforms: Vec<String>,
    pub campaigns: Vec<String>,
}

/// The fact sheet of an analysis at `level`; a level the result cannot honour is a 400 naming
/// `confidence_level`.
pub fn sheet(output: &AnalysisOutput, level: f64, ctx: &Context) -> Result<FactSheet, ValidationError> {
    check_level(level)?;
    let mut b = Builder { facts: vec![level_fact(level)], evidence: Vec::new(), level };
    let data = output.data();
    match output {
        AnalysisOutput::Advanced(a) => {
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            for (i, r) in a.result.results.iter().enumerate() {
                let n = seen.entry(r.method.clone()).or_default();
                *n += 1;
                let id = if *n == 1 { r.method.clone() } else { format!("{}_{}", r.method, n) };
                b.method_result(&id, &format!("/results/{i}"), r, data)?;
            }
            if a.result.results.len() > 1 {
                let c = &a.result.comparison;
                let mut f = Fact::new(
                    "comparison.methods".into(),
                    "methods compared",
                    FactKind::Statistic,
                    c.methods as f64,
                    Unit::Count,
                    "/comparison/methods".into(),
                );
                f.passed = Some(c.signs_agree && c.intervals_overlap);
                b.facts.push(f);
            }
        }
        AnalysisOutput::Effect(e) => b.effect(&e.result, data)?,
        AnalysisOutput::Discover(d) => b.discovery(&d.result)?,
    }
    let mut metrics: Vec<String> = data.columns.clone();
    if let Some(o) = &ctx.outcome {
        if !metrics.contains(o) {
            metrics.push(o.clone());
        }
    }
    let mut platforms = ctx.platforms.clone();
    if data.source == "records" {
        // Stored records carry their platform in the data's own columns.
        for p in crate::domain::Platform::ALL {
            let name = p.as_str().to_string();
            if data.columns.iter().any(|c| c == &name) && !platforms.contains(&name) {
                platforms.push(name);
            }
        }
    }
    let mut facts = with_bounds(b.facts);
    // Stored spend or revenue: the amounts are written in the org's currency (`USD 1,620`).
    if let Some(currency) = ctx.outcome.as_deref().and_then(|o| data.money_of(o)) {
        for f in facts.iter_mut().filter(|f| f.unit == Unit::Outcome) {
            let amount = |d: &mut String| {
                if d != "not available" {
                    *d = format!("{currency} {d}");
                }
            };
            amount(&mut f.display);
            if let Some(ci) = f.ci_display.as_mut() {
                ci.iter_mut().for_each(amount);
            }
        }
    }
    Ok(FactSheet {
        facts,
        evidence: b.evidence,
        entities: Entities {
            platforms,
            campaigns: ctx.campaigns.clone(),
            metrics,
            outcome: ctx.outcome.clone(),
            groups: Vec::new(),
        },
        confidence_level: level,
        design: None,
        readout: None,
    })
}

/// `facts`, each followed by its interval bounds and p-value as facts of their own.
pub(super) fn with_bounds(facts: Vec<Fact>) -> Vec<Fact> {
    let mut all = Vec::with_capacity(facts.len() * 2);
    for f in facts {
        let b = bounds(&f);
        all.push(f);
        all.extend(b);
    }
    all
}

/// The interval bounds and p-value of a fact as facts of their own.
fn bounds(f: &Fact) -> Vec<Fact> {
    let mut out = Vec::new();
    let mut sub = |suffix: &str, label: &str, value: f64, unit: Unit| {
        let mut b = Fact::new(
            format!("{}.{suffix}", f.id),
            format!("{} ({label})", f.label),
            FactKind::Bound,
            value,
            unit,
            f.source.clone(),
        );
        b.method = f.method.clone();
        b.derived_from = vec![f.id.clone()];
        b.level = if suffix == "p_value" { None } else { f.level };
        out.push(b);
    };
    if let Some([lo, hi]) = f.ci {
        sub("ci_low", "lower bound", lo, f.unit);
        sub("ci_high", "upper bound", hi, f.unit);
    }
    if let Some(p) = f.p_value {
        sub("p_value", "p-value", p, Unit::Probability);
    }
    out
}

pub(super) fn level_fact(level: f64) -> Fact {
    Fact::new("level".into(), "confidence level", FactKind::Level, level, Unit::Level, "/confidence_level".into())
}

struct Builder {
    facts: Vec<Fact>,
    evidence: Vec<Evidence>,
    level: f64,
}

/// How a method's interval is widened or narrowed to another level.
enum Spread {
    /// estimate ± t(df) × se
    T(f64),
    /// estimate ± z × se
    Normal,
    /// The result's own interval and p-value (a bootstrap's, by test inversion), at its level only.
    Stored { level: f64, method: &'static str },
}

/// What is weak, in the words of the 400 refusing another level and of the narrative.
pub(crate) const WEAK_INSTRUMENTS: &str = "the instruments are weak";
pub(crate) const WEAK_FIRST_STAGE: &str = "the first stage (the jump in take-up at the cutoff) is weak";

/// What an effect read through the Anderson-Rubin set says of its weak first stage.
struct Weak {
    method: &'static str,
    /// [`WEAK_INSTRUMENTS`] or [`WEAK_FIRST_STAGE`]
    what: &'static str,
    f_label: &'static str,
    first_stage_f: f64,
    /// The result's interval is at the level asked (the set exists at that level only).
    own_level: bool,
}

fn cannot_honour(what: &str, why: &str) -> ValidationError {
    ValidationError::new("confidence_level", format!("{what}: {why}"))
}

impl Builder {
    fn alpha(&self) -> f64 {
        1.0 - self.level
    }

    /// An effect whose first stage is weak, read through the Anderson-Rubin test and set:
    /// its p-value; its set as the interval where the set is one, at the analysis's own level
    /// only (another level is refused); zero between two rays excluded in no one direction, and
    /// an empty set saying nothing of the effect's size or sign. Adds the first-stage F.
    fn weak_fact(
        &mut self,
        id: &str,
        label: &str,
        rs: &str,
        inference: &Inference,
        ar: &ArResult,
        weak: &Weak,
    ) -> Result<Fact, ValidationError> {
        if !weak.own_level {
            return Err(cannot_honour(
                id,
                &format!(
                    "{}, so the interval is the Anderson-Rubin set, which the analysis computed at its own level only: run the analysis at this level",
                    weak.what
                ),
            ));
        }
        let (lo, hi) = ar.interval().unwrap_or((None, None));
        let inf = Inference { p_value: Some(ar.ar_p_value), ci_low: lo, ci_high: hi, ..inference.clone() };
        let mut f = self.effect_fact(
            id,
            label,
            weak.method,
            rs,
            &inf,
            Spread::Stored { level: self.level, method: "Anderson-Rubin set" },
        )?;
        f.significant = match ar.ar_confidence_set {
            ArSet::TwoRays => match (ar.ar_ci_low, ar.ar_ci_high) {
                (Some(a), Some(b)) if a < 0.0 && 0.0 < b => None,
                _ => Some(false),
            },
            ArSet::Empty => None,
            _ => f.significant,
        };
        if weak.first_stage_f.is_finite() {
            self.stat(
                format!("{id}.weak_first_stage_f"),
                weak.f_label,
                weak.first_stage_f,
                Unit::Statistic,
                format!("{rs}/first_stage_f"),
                weak.method,
            );
        }
        Ok(f)
    }

    /// The effect fact of `inf` at the asked level.
    fn effect_fact(
        &self,
        id: &str,
        label: &str,
        method: &str,
        source: &str,
        inf: &Inference,
        spread: Spread,
    ) -> Result<Fact, ValidationError> {
        let mut f = Fact::new(
            format!("{id}.effect"),
            label,
            FactKind::Effect,
            inf.estimate,
            Unit::Outcome,
            format!("{source}/estimate"),
        )
        .with_p(inf.p_value);
        f.method = Some(method.to_string());
        if let Spread::Stored { level, method: how } = spread {
            if (level - self.level).abs() > 1e-9 {
                return Err(cannot_honour(
                    id,
                    &format!(
                        "the interval is the {how} at {}%; no interval at another level can be derived: run the analysis with that level",
                        fmt_level(level)
                    ),
                ));
            }
            if let (Some(lo), Some(hi)) = (inf.ci_low, inf.ci_high) {
                f = f.with_ci(lo, hi, self.level);
            }
            // An interval unbounded on a side excludes zero only if the bounded side does.
            f.significant = Some(inf.ci_low.is_some_and(|l| l > 0.0) || inf.ci_high.is_some_and(|h| h < 0.0));
            return Ok(f);
        }
        let se = inf.std_error.filter(|s| s.is_finite() && *s >= 0.0).ok_or_else(|| {
            cannot_honour(id, "the result has no standard error, so no interval at another level can be given")
        })?;
        let crit = match spread {
            Spread::T(df) if df.is_finite() && df > 0.0 => dist::t_critical(self.alpha(), df),
            Spread::T(_) => {
                return Err(cannot_honour(id, "the result does not say its degrees of freedom; run the analysis again"))
            }
            Spread::Normal | Spread::Stored { .. } => dist::normal_critical(self.alpha()),
        };
        let (lo, hi) = (inf.estimate - crit * se, inf.estimate + crit * se);
        f = f.with_ci(lo, hi, self.level);
        f.significant = Some(lo > 0.0 || hi < 0.0);
        Ok(f)
    }

    fn stat(&mut self, id: String, label: &str, value: f64, unit: Unit, source: String, method: &str) {
        if value.is_finite() {
            let mut f = Fact::new(id, label, FactKind::Statistic, value, unit, source);
            f.method = Some(method.into());
            self.facts.push(f);
        }
    }

    fn method_result(&mut self, id: &str, src: &str, r: &MethodResult, data: &DataInfo) -> Result<(), ValidationError> {
        let rs = format!("{src}/result");
        let (effect, warnings) = match &r.result {
            MethodOutput::Did(DidOutput::Twfe(d)) => {
                let f = self.effect_fact(
                    id,
                    match d.estimator.as_str() {
                        "sun_abraham" => "average effect on the treated (Sun-Abraham interaction-weighted event study)",
                        "imputation" => "average effect on the treated (imputation difference-in-differences, Borusyak-Jaravel-Spiess)",
                        _ => "average effect on the treated (two-way fixed effects difference-in-differences)",
                    },
                    "did",
                    &rs,
                    &d.inference,
                    match &d.wild {
                        Some(w) if d.headline == Headline::WildBootstrap => {
                            Spread::Stored { level: w.level, method: "wild cluster bootstrap, by test inversion" }
                        }
                        _ => Spread::T(d.df),
                    },
                )?;
                // One treated cluster: no cluster-robust standard error sees its variation, so
                // the t interval is too narrow (a 5% test rejects a true null most of the time)
                // and cannot say whether the effect could be zero. Few clusters under CR1 (the
                // estimator's rule, whose warning says to read the interval as too narrow): the
                // same. (The wild bootstrap is conservative there: its rejections stand; so do
                // CR2's, whose degrees of freedom are the small-sample correction.)
                let mut f = f;
                // (An interval too narrow that holds zero says, all the more, that it could be zero.)
                let few = d.cr1_with_few_clusters() && f.significant == Some(true);
                if d.headline != Headline::WildBootstrap && (d.treated_clusters == Some(1) || few) {
                    f.significant = None;
                }
                if let Some(g) = d.n_clusters {
                    self.stat(
                        format!("{id}.clusters"),
                        "clusters",
                        g as f64,
                        Unit::Count,
                        format!("{rs}/n_clusters"),
                        "did",
                    );
                }
                self.stat(
                    format!("{id}.treated_units"),
                    "treated units",
                    d.treated_units as f64,
                    Unit::Count,
                    format!("{rs}/treated_units"),
                    "did",
                );
                self.stat(
                    format!("{id}.units"),
                    "units",
                    d.n_units as f64,
                    Unit::Count,
                    format!("{rs}/n_units"),
                    "did",
                );
                if let Some(t) = d.treated_clusters {
                    self.stat(
                        format!("{id}.treated_clusters"),
                        "treated clusters",
                        t as f64,
                        Unit::Count,
                        format!("{rs}/treated_clusters"),
                        "did",
                    );
                }
                if let Some(m) = d.honest.as_ref().and_then(|h| h.breakdown_mbar).filter(|m| *m > 0.0) {
                    self.stat(
                        format!("{id}.breakdown_mbar"),
                        "the largest violation of parallel trends, relative to the pre-period ones, that keeps zero outside the interval (HonestDiD M-bar)",
                        m,
                        Unit::Statistic,
                        format!("{rs}/honest/breakdown_mbar"),
                        "did",
                    );
                }
                if let Some(m) = d.honest.as_ref().and_then(|h| h.breakdown_m).filter(|m| *m > 0.0) {
                    self.stat(
                        format!("{id}.breakdown_m"),
                        "the largest change per period in the slope of a violation of parallel trends that keeps zero outside the interval (HonestDiD smoothness M, the outcome's units)",
                        m,
                        Unit::Statistic,
                        format!("{rs}/honest/breakdown_m"),
                        "did",
                    );
                }
                if let Some(pw) = &d.pre_trend_power {
                    self.stat(
                        format!("{id}.pretrend_power"),
                        "power of the pre-trend test against a linear trend as large as the effect",
                        pw.power_against_effect_sized_trend,
                        Unit::Share,
                        format!("{rs}/pre_trend_power/power_against_effect_sized_trend"),
                        "did",
                    );
                }
                // Where the joint lead test could not run, the pre-trends check is the 1-df
                // linear pre-trend test (the service's rule, which with one treated cluster runs
                // neither): its leads and its power.
                let one_treated = d.treated_clusters == Some(1);
                if let (None, Some(s), false) = (d.pre_trend_p_value, &d.pre_trend_slope, one_treated) {
                    self.stat(
                        format!("{id}.pretrend_leads"),
                        "pre-treatment periods (event-study leads) in the linear pre-trend test",
                        s.leads as f64,
                        Unit::Count,
                        format!("{rs}/pre_trend_slope/leads"),
                        "did",
                    );
                    if s.power_against_effect_sized_trend.is_finite() {
                        self.stat(
                            format!("{id}.pretrend_power"),
                            "power of the linear pre-trend test against a trend as large as the effect",
                            s.power_against_effect_sized_trend,
                            Unit::Share,
                            format!("{rs}/pre_trend_slope/power_against_effect_sized_trend"),
                            "did",
                        );
                    }
                }
                (f, d.warnings.clone())
            }
            MethodOutput::Did(DidOutput::Staggered(c)) => {
                let f = self.effect_fact(
                    id,
                    "average effect on the treated over cohorts and periods (Callaway-Sant'Anna)",
                    "did",
                    &rs,
                    &c.inference,
                    Spread::Normal,
                )?;
                self.stat(
                    format!("{id}.units"),
                    "units",
                    c.n_units as f64,
                    Unit::Count,
                    format!("{rs}/n_units"),
                    "did",
                );
                (f, c.warnings.clone())
            }
            MethodOutput::Iv(v) => {
                let label = "effect of the treatment for units the instrument moves (two-stage least squares)";
                // Weak instruments (the estimator's warnings: a first-stage F under 10, or an
                // Anderson-Rubin set that is not an interval): the t interval is too narrow and
                // its test rejects too often; the Anderson-Rubin test and set, valid however weak
                // the instruments, say what the data support.
                let f = match v.anderson_rubin.as_ref().filter(|_| v.weak_instruments()) {
                    None => self.effect_fact(id, label, "iv", &rs, &v.inference, Spread::T(v.df))?,
                    Some(ar) => {
                        // The set is at the analysis's own level: the one of its t interval.
                        let own_level = match (v.inference.std_error, v.inference.ci_high) {
                            (Some(se), Some(hi)) if se > 0.0 && v.df > 0.0 => {
                                let want = dist::t_critical(self.alpha(), v.df) * se;
                                ((hi - v.inference.estimate) - want).abs() <= 1e-9 * want
                            }
                            _ => false,
                        };
                        let weak = Weak {
                            method: "iv",
                            what: WEAK_INSTRUMENTS,
                            f_label: "first-stage F (the instruments are weak)",
                            first_stage_f: v.first_stage_f,
                            own_level,
                        };
                        self.weak_fact(id, label, &rs, &v.inference, ar, &weak)?
                    }
                };
                (f, v.warnings.clone())
            }
            MethodOutput::Rdd(v) => {
                let crit = dist::normal_critical(self.alpha());
                let se = v.robust_std_error;
                if !(se.is_finite() && se >= 0.0) {
                    return Err(cannot_honour(id, "the result has no robust standard error"));
                }
                // A fuzzy design with a weak first stage (F under 10, or an Anderson-Rubin set
                // that is not an interval): the delta method's interval is too narrow; the
                // Anderson-Rubin test and set, valid however weak the first stage, say what the
                // data support.
                let f = match v.anderson_rubin.as_ref().filter(|_| v.weak_first_stage()) {
                    Some(ar) => {
                        // The set is at the analysis's own level: the one of its robust interval.
                        let want = crit * se;
                        let own_level =
                            ((v.robust_ci_high - v.estimate_bias_corrected) - want).abs() <= 1e-9 * want.max(1e-300);
                        let weak = Weak {
                            method: "rdd",
                            what: WEAK_FIRST_STAGE,
                            f_label: "first-stage F of the jump in take-up (the first stage is weak)",
                            first_stage_f: v.first_stage_f.unwrap_or(f64::NAN),
                            own_level,
                        };
                        // The headline standard error is the robust one; a result read back from
                        // JSON is held to the robust key checked above.
                        let inf = Inference { std_error: Some(se), ..v.inference.clone() };
                        self.weak_fact(id, "effect at the cutoff (regression discontinuity)", &rs, &inf, ar, &weak)?
                    }
                    None => {
                        // The conventional estimate with the robust bias-corrected interval and
                        // p-value (rdrobust's headline).
                        let (lo, hi) = (v.estimate_bias_corrected - crit * se, v.estimate_bias_corrected + crit * se);
                        let mut f = Fact::new(
                            format!("{id}.effect"),
                            "effect at the cutoff (regression discontinuity)",
                            FactKind::Effect,
                            v.inference.estimate,
                            Unit::Outcome,
                            format!("{rs}/estimate"),
                        )
                        .with_ci(lo, hi, self.level)
                        .with_p(Some(v.robust_p_value));
                        f.significant = Some(lo > 0.0 || hi < 0.0);
                        f.method = Some("rdd".into());
                        f
                    }
                };
                self.stat(
                    format!("{id}.n_effective"),
                    "observations within the bandwidth",
                    (v.n_effective_left + v.n_effective_right) as f64,
                    Unit::Count,
                    format!("{rs}/n_effective_left"),
                    "rdd",
                );
                (f, v.warnings.clone())
            }
            MethodOutput::Impact(v) => {
                let f = self.effect_fact(
                    id,
                    "average effect per post period against the time-series counterfactual (structural time-series forecast from the control series)",
                    "impact",
                    &rs,
                    &v.inference,
                    // Equal-tailed quantiles of the posterior predictive, at their own level only.
                    Spread::Stored { level: v.level, method: "posterior predictive quantiles" },
                )?;
                self.stat(
                    format!("{id}.post_periods"),
                    "post-treatment periods",
                    v.post_periods as f64,
                    Unit::Count,
                    format!("{rs}/post_periods"),
                    "impact",
                );
                (f, vec![])
            }
            MethodOutput::Sdid(v) => {
                let f = self.effect_fact(
                    id,
                    "average effect on the treated over the post-period (synthetic difference-in-differences)",
                    "sdid",
                    &rs,
                    &v.inference,
                    match &v.randomization {
                        // Few controls: the randomization test's interval, at its own level only.
                        Some(r) => Spread::Stored {
                            level: r.level,
                            method: "randomization test's interval over the treated units' assignments",
                        },
                        None => Spread::Normal,
                    },
                )?;
                if let Some(r) = &v.randomization {
                    self.stat(
                        format!("{id}.assignments"),
                        "assignments of the treated units the randomization test compares",
                        r.assignments as f64,
                        Unit::Count,
                        format!("{rs}/randomization/assignments"),
                        "sdid",
                    );
                }
                self.stat(
                    format!("{id}.treated_units"),
                    "treated units",
                    v.n_treated as f64,
                    Unit::Count,
                    format!("{rs}/n_treated"),
                    "sdid",
                );
                self.stat(
                    format!("{id}.post_periods"),
                    "post-treatment periods",
                    v.post_periods as f64,
                    Unit::Count,
                    format!("{rs}/post_periods"),
                    "sdid",
                );
                (f, v.warnings.clone())
            }
            MethodOutput::Synth(v) => {
                let label = "average post-treatment gap between the treated unit and its synthetic control";
                let f = match v.conformal_level {
                    // The conformal interval and p-value, at their own level only.
                    Some(level) => self.effect_fact(
                        id,
                        label,
                        "synth",
                        &rs,
                        &v.inference,
                        Spread::Stored { level, method: "conformal inference, by test inversion" },
                    )?,
                    // No sampling interval: the placebo permutation p-value, compared with 1 - level.
                    None => {
                        let mut f = Fact::new(
                            format!("{id}.effect"),
                            label,
                            FactKind::Effect,
                            v.inference.estimate,
                            Unit::Outcome,
                            format!("{rs}/estimate"),
                        )
                        .with_p(v.placebo_p_value);
                        f.significant = v.placebo_p_value.filter(|p| p.is_finite()).map(|p| p <= self.alpha());
                        f.method = Some("synth".into());
                        f
                    }
                };
                let post: Vec<&liftos_estimators::synth::Gap> =
                    v.gaps.iter().filter(|g| g.time >= v.treatment_time).collect();
                if !post.is_empty() {
                    let cum: f64 = post.iter().map(|g| g.gap).sum();
                    let synth_mean = post.iter().map(|g| g.synthetic).sum::<f64>() / post.len() as f64;
                    self.stat(
                        format!("{id}.post_periods"),
                        "post-treatment periods",
                        post.len() as f64,
                        Unit::Count,
                        format!("{rs}/gaps"),
                        "synth",
                    );
                    let mut c = Fact::new(
                        format!("{id}.cumulative"),
                        "cumulative gap over the post-treatment periods",
                        FactKind::Derived,
                        cum,
                        Unit::Outcome,
                        format!("{rs}/gaps"),
                    );
                    c.derived_from = vec![format!("{id}.effect"), format!("{id}.post_periods")];
                    c.method = Some("synth".into());
                    c.significant = f.significant;
                    self.facts.push(c);
                    if synth_mean.abs() > 0.0 && synth_mean.is_finite() {
                        let mut rel = Fact::new(
                            format!("{id}.relative"),
                            "average gap relative to the synthetic control",
                            FactKind::Derived,
                            v.inference.estimate / synth_mean,
                            Unit::Share,
                            format!("{rs}/gaps"),
                        );
                        rel.derived_from = vec![format!("{id}.effect")];
                        rel.method = Some("synth".into());
                        rel.significant = f.significant;
                        self.facts.push(rel);
                    }
                }
                self.stat(
                    format!("{id}.donors"),
                    "donors with weight",
                    v.weights.values().filter(|w| **w > 1e-6).count() as f64,
                    Unit::Count,
                    format!("{rs}/weights"),
                    "synth",
                );
                if let Some(pl) = &v.placebos {
                    self.stat(
                        format!("{id}.placebos"),
                        "placebo units",
                        pl.len() as f64,
                        Unit::Count,
                        format!("{rs}/placebos"),
                        "synth",
                    );
                }
                (f, v.warnings_list())
            }
        };
        self.facts.push(effect);
        for (k, c) in r.checks.iter().enumerate() {
            if let Some(v) = c.value.filter(|v| v.is_finite()) {
                let mut f = Fact::new(
                    check_id(id, &c.name),
                    c.name.clone(),
                    FactKind::Check,
                    v,
                    check_unit(&r.method, &c.name),
                    format!("{src}/checks/{k}/value"),
                );
                f.passed = c.passed;
                f.method = Some(r.method.clone());
                self.facts.push(f);
            }
        }
        let (grade, reason) = grade_checks(&r.checks, data);
        self.evidence.push(Evidence {
            id: id.to_string(),
            method: r.method.clone(),
            estimator: r.result.estimator().to_string(),
            grade,
            reason,
            checks: r.checks.clone(),
            assumptions: r.assumptions.clone(),
            warnings,
        });
        Ok(())
    }

    fn effect(&mut self, e: &EffectOutput, data: &DataInfo) -> Result<(), ValidationError> {
        let r = &e.result;
        let label = format!(
            "average effect of the treatment ({}, {})",
            r.estimator,
            match r.estimand {
                liftos_estimators::effects::Estimand::Ate => "average treatment effect",
                liftos_estimators::effects::Estimand::Att => "effect on the treated",
            }
        );
        let f = self.effect_fact("effect", &label, "effect", "", &r.inference, Spread::Normal)?;
        self.facts.push(f);
        if r.e_value.estimate.is_finite() {
            let mut ev = Fact::new(
                "effect.e_value".into(),
                "E-value (confounding strength that would explain the estimate away)",
                FactKind::Statistic,
                r.e_value.estimate,
                Unit::Statistic,
                "/e_value/estimate".into(),
            );
            ev.method = Some("effect".into());
            self.facts.push(ev);
        }
        let experiment = data.treatment.as_ref().and_then(|t| t.experiment_id.clone());
        let (grade, reason) = match experiment {
            Some(x) => (Grade::A, format!("treatment assigned by the registered experiment {x}")),
            None => (
                Grade::C,
                "adjustment for observed covariates only: an unmeasured confounder could explain the estimate"
                    .to_string(),
            ),
        };
        self.evidence.push(Evidence {
            id: "effect".into(),
            method: "effect".into(),
            estimator: r.estimator.clone(),
            grade,
            reason,
            checks: Vec::new(),
            assumptions: vec![
                "no unmeasured confounding given the covariates".into(),
                "overlap: every unit could have been treated or not".into(),
            ],
            warnings: r.warnings.clone(),
        });
        Ok(())
    }

    fn discovery(&mut self, d: &DiscoveryOutput) -> Result<(), ValidationError> {
        let (graph, estimator, alpha) = match d {
            DiscoveryOutput::Pc(r) => (&r.graph, r.estimator.clone(), Some(r.alpha)),
            DiscoveryOutput::Lingam(r) => (&r.graph, r.estimator.clone(), None),
        };
        if let Some(a) = alpha {
            if (a - self.alpha()).abs() > 1e-9 {
                return Err(cannot_honour(
                    "discovery",
                    &format!(
                        "the graph was found with independence tests at alpha = {a}; a level of {} needs alpha = {}: \
                         run the discovery again with that alpha",
                        self.level,
                        1.0 - self.level
                    ),
                ));
            }
        }
        let (edges, variables) = (graph.edges(), graph.variables());
        self.stat(
            "discovery.edges".into(),
            "edges found",
            edges.len() as f64,
            Unit::Count,
            "/graph/edges".into(),
            "discover",
        );
        self.stat(
            "discovery.variables".into(),
            "variables",
            variables.len() as f64,
            Unit::Count,
            "/graph/nodes".into(),
            "discover",
        );
        self.stat(
            "discovery.directed".into(),
            "directed edges",
            edges.iter().filter(|e| e.directed).count() as f64,
            Unit::Count,
            "/graph/edges".into(),
            "discover",
        );
        if let DiscoveryOutput::Lingam(r) = d {
            for (k, e) in r.effects.iter().enumerate() {
                let mut f = Fact::new(
                    format!("discovery.coef.{}.{}", e.from, e.to),
                    format!("direct effect of {} on {} (model-based)", e.from, e.to),
                    FactKind::Statistic,
                    e.coefficient,
                    Unit::Statistic,
                    format!("/effects/{k}/coefficient"),
                );
                f.method = Some("discover".into());
                self.facts.push(f);
            }
        }
        self.evidence.push(Evidence {
            id: "discovery".into(),
            method: "discover".into(),
            estimator,
            grade: Grade::C,
            reason: "edges found from the data's dependence structure: they assume no hidden common causes".into(),
            checks: Vec::new(),
            assumptions: vec![
                "no hidden common causes of the variables".into(),
                "the data come from one causal structure".into(),
            ],
            warnings: Vec::new(),
        });
        Ok(())
    }
}

/// The id of a check's fact: `did.check.pre_trends`.
pub fn check_id(method_id: &str, name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    format!("{method_id}.check.{slug}")
}

/// How a check's value reads: synth's pre-period fit and impact's calibration are shares, the
/// synthetic DiD's fit and synth's placebo-in-time are multiples of the series' noise, a
/// first stage's strength an F statistic, the rest p-values.
pub(crate) fn check_unit(method: &str, name: &str) -> Unit {
    let n = name.to_ascii_lowercase();
    if (n.contains("fit") && method == "synth") || n.contains("calibration") {
        Unit::Share
    } else if n.contains("fit") || n.contains("strength") || n.contains("placebo-in-time") {
        Unit::Statistic
    } else {
        Unit::Probability
    }
}

/// Checks that test a method's validity; the placebo p-value is about significance, not validity.
fn is_validity_check(c: &Check) -> bool {
    !c.name.contains("placebo-in-space")
}

fn grade_checks(checks: &[Check], data: &DataInfo) -> (Grade, String) {
    let validity: Vec<&Check> = checks.iter().filter(|c| is_validity_check(c)).collect();
    if let Some(c) = validity.iter().find(|c| c.passed == Some(false)) {
        return (Grade::C, format!("the {} check failed", c.name));
    }
    if let Some(c) = validity.iter().find(|c| c.passed.is_none()) {
        return (Grade::C, format!("the {} check was not run", c.name));
    }
    if validity.is_empty() {
        return (Grade::C, "no validity check was run".into());
    }
    match data.treatment.as_ref().and_then(|t| t.experiment_id.as_ref()) {
        Some(x) => (Grade::A, format!("the registered experiment {x}, and every validity check passed")),
        None => (Grade::B, "a quasi-experiment whose validity checks passed".into()),
    }
}

trait Warnings {
    fn warnings_list(&self) -> Vec<String>;
}

impl Warnings for liftos_estimators::synth::SynthResult {
    fn warnings_list(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A level as a percentage: 95, 90, 99.5.
pub(super) fn fmt_level(level: f64) -> String {
    let pct = (level * 1000.0).round() / 10.0;
    if pct.fract() == 0.0 {
        format!("{pct:.0}")
    } else {
        format!("{pct}")
    }
}

/// The evidence id (and fact-id prefix) of a media mix model's sheet.
pub const MMM: &str = "mmm";

/// The fact sheet of a media mix model's answer (`POST /api/v1/surfacing/optimize/causal` with
/// `kpi`): the plan's gain, and per channel its spend today and in the plan, ROI and marginal
/// ROI with their intervals, and the share of re-fits in which the ROI is positive. The model's
/// intervals are percentiles of its re-fits at its own level: another level is a 400 naming
/// `confidence_level`. A model fitted on observational data is graded C: no causal words.
pub fn budget_sheet(
    m: &liftos_estimators::mmm::MmmResult,
    level: f64,
    ctx: &Context,
) -> Result<FactSheet, ValidationError> {
    check_level(level)?;
    if (m.level - level).abs() > 1e-9 {
        return Err(cannot_honour(
            MMM,
            &format!(
                "the model's intervals are percentiles of its re-fits at {}%; no interval at another level can be derived: \
                 run it with kpi.level = {level}",
                fmt_level(m.level)
            ),
        ));
    }
    let mut facts = vec![level_fact(level)];
    let fact = |id: String, label: String, kind: FactKind, value: f64, unit: Unit, source: String| {
        let mut f = Fact::new(id, label, kind, value, unit, source);
        f.method = Some(MMM.into());
        f
    };
    let effect = |id: String, label: String, value: f64, lo: f64, hi: f64, source: String| {
        let mut f = fact(id, label, FactKind::Effect, value, Unit::Outcome, source).with_ci(lo, hi, level);
        f.significant = Some(lo > 0.0 || hi < 0.0);
        f
    };
    let kpi = ctx.outcome.clone().unwrap_or_else(|| "the KPI".into());
    let finite = |v: f64| v.is_finite();
    if finite(m.expected_gain) && finite(m.gain_ci_low) && finite(m.gain_ci_high) {
        facts.push(effect(
            format!("{MMM}.gain"),
            format!("the plan's expected change in {kpi} per period, in steady state, against the history's average allocation"),
            m.expected_gain,
            m.gain_ci_low,
            m.gain_ci_high,
            "/expected_gain".into(),
        ));
    }
    let stat = |facts: &mut Vec<Fact>, id: &str, label: String, value: f64, unit: Unit, source: &str| {
        if value.is_finite() {
            facts.push(fact(format!("{MMM}.{id}"), label, FactKind::Statistic, value, unit, source.into()));
        }
    };
    stat(
        &mut facts,
        "gain_positive_share",
        "the share of the model's re-fits in which the plan gains".into(),
        m.gain_positive_share,
        Unit::Share,
        "/gain_positive_share",
    );
    stat(&mut facts, "draws", "the model's re-fits".into(), m.draws as f64, Unit::Count, "/draws");
    stat(&mut facts, "budget", "the budget per period planned for".into(), m.budget, Unit::Statistic, "/budget");
    stat(
        &mut facts,
        "unallocated",
        "the budget per period the history cannot support".into(),
        m.unallocated,
        Unit::Statistic,
        "/unallocated",
    );
    stat(
        &mut facts,
        "margin",
        format!("{kpi} an extra unit of spend per period buys at the plan's margin"),
        m.margin,
        Unit::Statistic,
        "/margin",
    );
    stat(
        &mut facts,
        "fit.r_squared",
        "the in-sample R-squared".into(),
        m.fit.r_squared,
        Unit::Statistic,
        "/fit/r_squared",
    );
    if let Some(v) = m.fit.cv_mape {
        stat(
            &mut facts,
            "fit.cv_mape",
            "the out-of-sample mean absolute percentage error (rolling origin)".into(),
            v / 100.0,
            Unit::Share,
            "/fit/cv_mape",
        );
    }
    stat(
        &mut facts,
        "fit.periods",
        "the periods in the fit".into(),
        m.fit.observed as f64,
        Unit::Count,
        "/fit/observed",
    );
    for (i, c) in m.channels.iter().enumerate() {
        let p = format!("ch{}", i + 1);
        let src = format!("/channels/{i}");
        let name = &c.channel;
        if finite(c.roi) && finite(c.roi_ci_low) && finite(c.roi_ci_high) {
            facts.push(effect(
                format!("{MMM}.{p}.roi"),
                format!("{name}'s return on spend over the history ({kpi} per unit of spend)"),
                c.roi,
                c.roi_ci_low,
                c.roi_ci_high,
                format!("{src}/roi"),
            ));
        }
        if finite(c.marginal_roi) && finite(c.marginal_roi_ci_low) && finite(c.marginal_roi_ci_high) {
            facts.push(effect(
                format!("{MMM}.{p}.marginal_roi"),
                format!("{kpi} an extra unit of spend per period on {name} buys at today's spend"),
                c.marginal_roi,
                c.marginal_roi_ci_low,
                c.marginal_roi_ci_high,
                format!("{src}/marginal_roi"),
            ));
        }
        if finite(c.gain) && finite(c.gain_ci_low) && finite(c.gain_ci_high) {
            facts.push(effect(
                format!("{MMM}.{p}.gain"),
                format!("the change in {kpi} per period that the plan's move on {name} brings, in steady state"),
                c.gain,
                c.gain_ci_low,
                c.gain_ci_high,
                format!("{src}/gain"),
            ));
        }
        stat(
            &mut facts,
            &format!("{p}.spend_from"),
            format!("{name}'s average spend per period over the history"),
            c.spend_from,
            Unit::Statistic,
            &format!("{src}/spend_from"),
        );
        stat(
            &mut facts,
            &format!("{p}.spend_to"),
            format!("{name}'s spend per period in the plan"),
            c.spend_to,
            Unit::Statistic,
            &format!("{src}/spend_to"),
        );
        stat(
            &mut facts,
            &format!("{p}.positive_share"),
            format!("the share of re-fits in which {name}'s return on spend is positive"),
            c.positive_share,
            Unit::Share,
            &format!("{src}/positive_share"),
        );
        if let Some(q) = c.no_effect_p_value {
            stat(
                &mut facts,
                &format!("{p}.no_effect_p_value"),
                format!("the p-value of the test that {name} has no effect on {kpi}"),
                q,
                Unit::Probability,
                &format!("{src}/no_effect_p_value"),
            );
        }
    }
    let mut reason = "a media mix model fitted on observational data: its estimates rest on the model's assumptions, not on a randomised test".to_string();
    if !m.lifts.is_empty() {
        reason.push_str(", though calibrated by lift tests");
    }
    if !m.incremental {
        reason = "a media mix model on a platform-attributed KPI: its returns are not incremental effects".into();
    }
    let evidence = vec![Evidence {
        id: MMM.into(),
        method: MMM.into(),
        estimator: "media_mix_model".into(),
        grade: Grade::C,
        reason,
        checks: Vec::new(),
        assumptions: vec![
            "each channel's effect follows its fitted carry-over (geometric adstock) and saturation (Hill) curves"
                .into(),
            "the trend, seasonality and controls in the model account for what moves both spend and the KPI".into(),
            "the plan stays within the spend the history has seen, where the curves are fitted".into(),
        ],
        warnings: m.warnings.clone(),
    }];
    // as the sentences write them
    let names: Vec<String> = m.channels.iter().map(|c| super::narrate::literal(&c.channel)).collect();
    let mut platforms: Vec<String> = ctx.platforms.clone();
    for n in &names {
        for p in super::validate::platforms_in(n) {
            if !platforms.contains(&p) {
                platforms.push(p);
            }
        }
    }
    let mut metrics: Vec<String> = vec!["spend".into()];
    metrics.extend(names.iter().cloned());
    metrics.extend(m.controls.iter().cloned());
    if let Some(o) = &ctx.outcome {
        metrics.push(o.clone());
    }
    Ok(FactSheet {
        facts: with_bounds(facts),
        evidence,
        entities: Entities { platforms, campaigns: names, metrics, outcome: ctx.outcome.clone(), groups: Vec::new() },
        confidence_level: level,
        design: None,
        readout: None,
    })
}
