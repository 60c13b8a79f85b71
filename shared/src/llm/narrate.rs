//! The deterministic narrator: per-method templates over the fact sheet. Templates write
//! placeholders (`{{fact:ID}}`, `{{abs:ID}}`, `{{lo:ID}}`, `{{hi:ID}}`, `{{p:ID}}`, `{{level}}`)
//! and [`render`] replaces them with the formatter's strings, recording the facts each sentence
//! cites. A language model (when one is configured) rephrases the same placeholders; it never
//! writes a digit.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::facts::{Evidence, Fact, FactSheet, WEAK_FIRST_STAGE, WEAK_INSTRUMENTS};
use crate::api::causal::Check;
use crate::kse::ontology::Ontology;

/// Who reads the explanation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Three to five sentences: the answer, how sure, whether to trust it, what to do next.
    #[default]
    Executive,
    /// Everything: each method, each check, what would change the conclusion.
    Analyst,
}

/// One sentence and the facts it states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sentence {
    pub text: String,
    pub fact_ids: Vec<String>,
}

/// An explanation of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Explanation {
    /// The first sentence.
    pub headline: String,
    pub sentences: Vec<Sentence>,
    /// The estimators' own warnings.
    pub caveats: Vec<String>,
    /// What the conclusion rests on, per method.
    pub assumptions: Vec<String>,
    /// The validity checks, as the analysis reported them.
    pub checks: Vec<Check>,
}

/// A sentence with placeholders, before rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Draft {
    pub text: String,
}

/// A name from the data (a channel, a market, an arm) as a template may hold it: braces become
/// parentheses, so no name can write a placeholder (`{{fact:level}}`) into a sentence.
pub fn literal(name: &str) -> String {
    name.replace('{', "(").replace('}', ")")
}

/// Replace the placeholders of `draft` with the facts' strings; the ids cited, in order. An
/// unknown placeholder is an error naming it.
pub fn render(draft: &str, sheet: &FactSheet) -> Result<Sentence, String> {
    let mut out = String::new();
    let mut ids: Vec<String> = Vec::new();
    let mut rest = draft;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or_else(|| format!("unclosed placeholder in {draft:?}"))?;
        let ph = &after[..j];
        let (what, id) = ph.split_once(':').unwrap_or((ph, "level"));
        let fact = sheet.get(id).ok_or_else(|| format!("unknown fact {id:?}"))?;
        let text = match what {
            "fact" | "level" => fact.display.clone(),
            // Cites the fact without stating it.
            "cite" => String::new(),
            "abs" => super::format::display(fact.value.abs(), fact.unit),
            "lo" | "hi" => {
                let ci = fact.ci_display.as_ref().ok_or_else(|| format!("{id} has no interval"))?;
                if what == "lo" {
                    ci[0].clone()
                } else {
                    ci[1].clone()
                }
            }
            "p" => fact.p_display.clone().ok_or_else(|| format!("{id} has no p-value"))?,
            other => return Err(format!("unknown placeholder {other:?}")),
        };
        out.push_str(&text);
        ids.push(match what {
            "lo" => format!("{id}.ci_low"),
            "hi" => format!("{id}.ci_high"),
            "p" => format!("{id}.p_value"),
            _ => id.to_string(),
        });
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    // "p = <0.001" reads "p < 0.001".
    let out = out.replace("= <", "< ");
    Ok(Sentence { text: out, fact_ids: ids })
}

fn outcome_words(sheet: &FactSheet) -> String {
    sheet.entities.outcome.clone().unwrap_or_else(|| "the outcome".into())
}

/// The method's name at the start of a sentence ("The difference-in-differences"), in the
/// marketing ontology's words (its `narrative`), the same file that reads the marketers' questions.
fn method_name(e: &Evidence) -> String {
    match Ontology::shipped().estimate_name(&e.method, &e.estimator) {
        Some((name, _)) => {
            let mut c = name.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        }
        None => "The".into(),
    }
}

/// What one unit of each method's effect is (the ontology's `effect_scale`): DiD and the
/// synthetic controls average over treated units and periods, the 2SLS coefficient is per unit
/// of the instrumented variable, the RDD's is the jump at the cutoff, the time-series
/// counterfactual's an average over the post-period.
fn effect_scale(e: &Evidence) -> &'static str {
    Ontology::shipped()
        .estimate_name(&e.method, &e.estimator)
        .and_then(|(_, s)| s)
        .unwrap_or("per treated unit and period")
}

/// `words` with a capital first letter, to open a sentence.
fn capitalised(words: &str) -> String {
    let mut c = words.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The templates' sentences for one method's effect (headline, interval, derived, checks,
/// what would change it, next step), as drafts with placeholders.
fn effect_drafts(
    sheet: &FactSheet,
    e: &Evidence,
    effect: &Fact,
    audience: Audience,
    first: bool,
    single: bool,
) -> Vec<String> {
    let id = &e.id;
    let eid = &effect.id;
    let outcome = outcome_words(sheet);
    let name = method_name(e);
    let sig = effect.significant;
    // One treated cluster under cluster-robust errors: an interval that cannot be relied on.
    let lone = format!("{id}.treated_clusters");
    let one_cluster = sig.is_none() && sheet.get(&lone).is_some_and(|f| f.value == 1.0);
    let clusters = format!("{id}.clusters");
    let few_clusters = few_clusters_withheld(sheet, e, effect);
    // Weak instruments, or a fuzzy RDD's weak first stage: the effect's interval and p-value are
    // the Anderson-Rubin test's.
    let weak_f = format!("{id}.weak_first_stage_f");
    let weak_first_stage = matches!(e.method.as_str(), "iv" | "rdd") && sheet.get(&weak_f).is_some();
    let (weak, however) = if e.method == "rdd" {
        (WEAK_FIRST_STAGE, "however weak it is")
    } else {
        (WEAK_INSTRUMENTS, "however weak they are")
    };
    let weak_cap = capitalised(weak);
    let up = effect.value > 0.0;
    let (word, noun) = if up { ("increased", "an increase") } else { ("reduced", "a decrease") };
    let mut d = Vec::new();
    // Headline.
    let zero = effect.value == 0.0;
    d.push(match (sig, e.grade.allows_causal_words(), zero) {
        (Some(true), true, false) => format!(
            "{name} estimate is that the treatment {word} {outcome} by {{{{abs:{eid}}}}} {}, a statistically significant effect at the {{{{level}}}} level.",
            effect_scale(e)
        ),
        (Some(true), false, false) => format!(
            "{name} estimate is {noun} of {{{{abs:{eid}}}}} in {outcome}, statistically significant at the {{{{level}}}} level, but {}: read it as an association, not as the treatment's effect.",
            e.reason
        ),
        (Some(false), _, _) | (_, _, true) => format!(
            "{name} estimate of the effect on {outcome} is {{{{fact:{eid}}}}}, not distinguishable from zero at the {{{{level}}}} level."
        ),
        (None, _, _) if one_cluster => format!(
            "{name} estimate of the effect on {outcome} is {{{{fact:{eid}}}}}, but with {{{{fact:{lone}}}}} treated cluster no standard error measures that cluster's own variation, so it is not known whether it could be zero."
        ),
        (None, _, _) if few_clusters => format!(
            "{name} estimate of the effect on {outcome} is {{{{fact:{eid}}}}}; its interval excludes zero, but with {{{{fact:{clusters}}}}} clusters, {{{{fact:{lone}}}}} of them treated, cluster-robust intervals are too narrow, so it is not known whether it could be zero."
        ),
        (None, _, _) if weak_first_stage => format!(
            "{name} estimate of the effect on {outcome} is {{{{fact:{eid}}}}}, but {weak} (first-stage F of {{{{fact:{weak_f}}}}}) and the Anderson-Rubin set, which stays valid {however}, is not an interval, so neither the effect's size nor its direction is established."
        ),
        (None, _, _) => format!(
            "{name} estimate of the effect on {outcome} is {{{{fact:{eid}}}}}; no test was run, so it is not known whether it could be zero."
        ),
    });
    // How sure.
    if one_cluster && effect.ci.is_some() {
        let p = if effect.p_display.is_some() { format!(" (p = {{{{p:{eid}}}}})") } else { String::new() };
        d.push(format!(
            "Its {{{{level}}}} interval, {{{{lo:{eid}}}}} to {{{{hi:{eid}}}}}{p}, comes from the other clusters' variation alone and is too narrow to rely on: more treated units, a randomised test or a placebo test over the units would say whether it could be zero."
        ));
    } else if few_clusters {
        let p = if effect.p_display.is_some() { format!(" (p = {{{{p:{eid}}}}})") } else { String::new() };
        d.push(format!(
            "Its {{{{level}}}} interval, {{{{lo:{eid}}}}} to {{{{hi:{eid}}}}}{p}, is cluster-robust (CR1) and too narrow with so few clusters: the two-way fixed effects estimate with CR2 errors (se cr2), or with the wild cluster bootstrap (se wild, without the event study), would say whether it could be zero."
        ));
    } else if weak_first_stage {
        let p = if effect.p_display.is_some() { format!(" (p = {{{{p:{eid}}}}})") } else { String::new() };
        if effect.ci.is_some() {
            d.push(format!(
                "{weak_cap} (first-stage F of {{{{fact:{weak_f}}}}}), so the interval is the Anderson-Rubin set, valid {however}: at the {{{{level}}}} level it runs from {{{{lo:{eid}}}}} to {{{{hi:{eid}}}}}{p}."
            ));
        } else if sig.is_some() {
            d.push(format!(
                "{weak_cap} (first-stage F of {{{{fact:{weak_f}}}}}): the Anderson-Rubin set, valid {however}, does not bound the effect at the {{{{level}}}} level{p}."
            ));
        } else if effect.p_display.is_some() {
            d.push(format!("The Anderson-Rubin test's p-value of no effect is {{{{p:{eid}}}}}."));
        }
    } else if effect.ci.is_some() {
        let p = if effect.p_display.is_some() { format!(" (p = {{{{p:{eid}}}}})") } else { String::new() };
        d.push(format!("The {{{{level}}}} confidence interval runs from {{{{lo:{eid}}}}} to {{{{hi:{eid}}}}}{p}."));
    } else if effect.p_display.is_some() && e.method == "did" {
        // Few clusters: the wild bootstrap's interval by test inversion can be unbounded.
        d.push(format!(
            "With so few clusters the wild cluster bootstrap cannot bound the effect at the {{{{level}}}} level (its interval is unbounded); its p-value is {{{{p:{eid}}}}}."
        ));
    } else if effect.p_display.is_some() && e.method == "sdid" && sheet.get(&format!("{id}.assignments")).is_some() {
        // Few controls: the randomization test's interval by test inversion can be unbounded.
        d.push(format!(
            "With so few controls the randomization test over {{{{fact:{id}.assignments}}}} assignments of the treated units cannot bound the effect at the {{{{level}}}} level (its interval is unbounded); its p-value is {{{{p:{eid}}}}}."
        ));
    } else if effect.p_display.is_some() {
        let placebos = format!("{id}.placebos");
        if sheet.get(&placebos).is_some() {
            d.push(format!(
                "A synthetic control has no sampling interval; against {{{{fact:{placebos}}}}} placebo units the permutation p-value is {{{{p:{eid}}}}}."
            ));
        } else {
            d.push(format!(
                "A synthetic control has no sampling interval; the permutation p-value is {{{{p:{eid}}}}}."
            ));
        }
    } else {
        d.push(format!(
            "This estimate of {{{{fact:{eid}}}}} comes without an interval or a placebo test, so its uncertainty is unknown."
        ));
    }
    // Derived: cumulative and relative (synthetic control).
    let (cum, rel, post) = (format!("{id}.cumulative"), format!("{id}.relative"), format!("{id}.post_periods"));
    if sheet.get(&cum).is_some() && sheet.get(&post).is_some() && (audience == Audience::Analyst || (first && single)) {
        let rel_part = if sheet.get(&rel).is_some() {
            format!(", or {{{{fact:{rel}}}}} of the synthetic control's level")
        } else {
            String::new()
        };
        let hedge = match sig {
            Some(true) => "",
            Some(false) => ", not distinguishable from zero at the {{level}} level",
            None => ", and it is not known whether it could be zero",
        };
        d.push(format!(
            "Summed over the {{{{fact:{post}}}}} post-treatment periods the gap is {{{{fact:{cum}}}}}{rel_part}{hedge}."
        ));
    }
    // Checks.
    let validity: Vec<&Check> = e.checks.iter().filter(|c| !c.name.contains("placebo-in-space")).collect();
    if audience == Audience::Analyst {
        for c in &validity {
            let cid = super::facts::check_id(id, &c.name);
            let power = format!("{id}.pretrend_power");
            d.push(match (c.passed, sheet.get(&cid).is_some()) {
                // A pre-test that does not reject is not evidence of parallel trends (Roth 2022).
                (Some(true), true) if c.name == "pre-trends" && sheet.get(&format!("{id}.breakdown_mbar")).is_some() => {
                    let bd = format!("{id}.breakdown_mbar");
                    let sd = format!("{id}.breakdown_m");
                    let smooth = if sheet.get(&sd).is_some() {
                        format!(", or if the violation's slope changes by up to {{{{fact:{sd}}}}} per period")
                    } else {
                        String::new()
                    };
                    format!(
                        "The pre-trend test finds no evidence against parallel trends ({{{{fact:{cid}}}}}), which is not evidence for them; the interval still excludes zero if the post-treatment violation is up to {{{{fact:{bd}}}}} times the largest pre-treatment one{smooth} (HonestDiD)."
                    )
                }
                // The joint test could not run (as many leads as clusters): the linear one did.
                (Some(true), true) if c.name == "pre-trends" && sheet.get(&format!("{id}.pretrend_leads")).is_some() => {
                    let leads = format!("{id}.pretrend_leads");
                    let power_words = match sheet.get(&power) {
                        Some(_) => format!(
                            "its power against a trend that would bias the estimate by its own size is {{{{fact:{power}}}}}"
                        ),
                        None => "its power is unknown".into(),
                    };
                    format!(
                        "Too few clusters for a joint pre-trend test; a test for a linear trend over the {{{{fact:{leads}}}}} pre-treatment periods finds none ({{{{fact:{cid}}}}}), which is not evidence for parallel trends and says nothing of other shapes: {power_words}."
                    )
                }
                (Some(true), true) if c.name == "pre-trends" => match sheet.get(&power) {
                    Some(_) => format!(
                        "The pre-trend test finds no evidence against parallel trends ({{{{fact:{cid}}}}}), which is not evidence for them: its power against a linear trend that would bias the estimate by its own size is {{{{fact:{power}}}}}."
                    ),
                    None => format!(
                        "The pre-trend test finds no evidence against parallel trends ({{{{fact:{cid}}}}}), which is not evidence for them; its power is unknown."
                    ),
                },
                (Some(true), true) => format!("The {} check passed ({{{{fact:{cid}}}}}).", c.name),
                (Some(false), true) => {
                    format!("The {} check failed ({{{{fact:{cid}}}}}), so this estimate may be biased.", c.name)
                }
                _ => match not_run_reason(c) {
                    Some(why) => format!("The {} check could not run for this estimate: {why}.{{{{cite:{eid}}}}}", c.name),
                    None => format!("The {} check was not run for this estimate.{{{{cite:{eid}}}}}", c.name),
                },
            });
        }
        if !e.assumptions.is_empty() {
            d.push(format!("The estimate rests on these assumptions: {}.{{{{cite:{eid}}}}}", e.assumptions.join("; ")));
        }
        d.push(match e.method.as_str() {
            "did" => format!("Evidence of diverging trends before the treatment would change this reading.{{{{cite:{eid}}}}}"),
            "iv" => format!("A weak instrument, or one that affects the outcome by another route, would change this reading.{{{{cite:{eid}}}}}"),
            "rdd" => format!("Units sorting themselves around the cutoff would change this reading.{{{{cite:{eid}}}}}"),
            "synth" => format!("A poor pre-treatment fit, or a donor touched by the treatment, would change this reading.{{{{cite:{eid}}}}}"),
            "impact" => format!("Control series touched by the treatment, or a relation between them and the outcome that changed at the treatment date, would change this reading.{{{{cite:{eid}}}}}"),
            "sdid" => format!("Treated units whose untreated path is not parallel to any mix of the controls, or a control touched by the treatment, would change this reading.{{{{cite:{eid}}}}}"),
            _ => match sheet.get("effect.e_value") {
                Some(_) => format!(
                    "An unmeasured confounder associated with both treatment and outcome by a risk ratio of {{{{fact:effect.e_value}}}} could explain the estimate away.{{{{cite:{eid}}}}}"
                ),
                None => format!("An unmeasured confounder could explain the estimate away.{{{{cite:{eid}}}}}"),
            },
        });
    } else if first {
        let failed: Vec<&str> = validity.iter().filter(|c| c.passed == Some(false)).map(|c| c.name.as_str()).collect();
        let missing: Vec<&str> = validity.iter().filter(|c| c.passed.is_none()).map(|c| c.name.as_str()).collect();
        let not_run = validity.iter().copied().find(|c| c.passed.is_none());
        let cited: Vec<String> = validity
            .iter()
            .map(|c| super::facts::check_id(id, &c.name))
            .filter(|cid| sheet.get(cid).is_some())
            .map(|cid| {
                let name = sheet.get(&cid).map(|f| f.label.clone()).unwrap_or_default();
                format!("{name}: {{{{fact:{cid}}}}}")
            })
            .collect();
        d.push(if !failed.is_empty() {
            format!("The {} check failed ({}), so the estimate may be biased.", failed.join(" and "), cited.join(", "))
        } else if let (Some(why), [name]) = (not_run.and_then(not_run_reason), &missing[..]) {
            format!(
                "The {name} check could not run ({why}), so the estimate cannot be fully trusted.{{{{cite:{eid}}}}}"
            )
        } else if !missing.is_empty() {
            format!(
                "The {} check was not run, so the estimate cannot be fully trusted.{{{{cite:{eid}}}}}",
                missing.join(" and ")
            )
        } else if validity.is_empty() {
            format!("No validity check applies to this estimate.{{{{cite:{eid}}}}}")
        } else {
            format!("The validity checks passed ({}).", cited.join(", "))
        });
    }
    d
}

/// Why a check did not run, in words that carry no number, where its rule says so: the DiD's
/// joint test of the leads with at least as many leads as clusters (`(34 leads, 3 clusters)`),
/// one treated cluster, whose own variation no cluster-robust variance sees, and a check the
/// request did not ask for (an event study, placebos).
fn not_run_reason(c: &Check) -> Option<&'static str> {
    // a check the request did not ask for (the rule says what runs it)
    if c.rule.contains("(run with event_study") {
        return Some("the analysis ran without an event study, which the check needs");
    }
    if c.rule.contains("(run with placebo)") {
        return Some("the analysis ran without placebos, which the check needs");
    }
    let rule = c.rule.strip_prefix("not run")?;
    let count = |word: &str| {
        let at = rule.find(word)?;
        rule[..at].trim_end().rsplit([' ', '(']).next()?.parse::<usize>().ok()
    };
    let few = matches!((count(" leads"), count(" clusters")), (Some(l), Some(g)) if l >= g);
    let one = rule.contains("one treated cluster");
    match (few, one) {
        (true, true) => Some(
            "too few clusters for a joint test of the pre-treatment periods, and with one treated cluster no test of a linear pre-trend sees that cluster's own variation",
        ),
        (true, false) => Some("too few clusters for a joint test of the pre-treatment periods"),
        (false, true) => Some("with one treated cluster no test of the pre-treatment periods sees that cluster's own variation"),
        (false, false) => None,
    }
}

/// Few clusters (more than one treated) under cluster-robust CR1 errors: an interval that
/// excludes zero but is too narrow to say so (the facts withhold its significance).
fn few_clusters_withheld(sheet: &FactSheet, e: &Evidence, effect: &Fact) -> bool {
    let treated = sheet.get(&format!("{}.treated_clusters", e.id));
    effect.significant.is_none()
        && effect.ci.is_some()
        && treated.is_some_and(|f| f.value > 1.0)
        && sheet.get(&format!("{}.clusters", e.id)).is_some()
}

fn next_step(sheet: &FactSheet, e: &Evidence, effect: &Fact) -> String {
    let eid = &effect.id;
    if few_clusters_withheld(sheet, e, effect) {
        return format!(
            "Next step: run the two-way fixed effects estimate with CR2 errors (se cr2), or test over more treated units, before moving budget on this estimate.{{{{cite:{eid}}}}}"
        );
    }
    match (effect.significant, e.grade.allows_causal_words()) {
        (Some(true), true) => format!(
            "Next step: use this estimate in budget decisions, and test again when conditions change.{{{{cite:{eid}}}}}"
        ),
        // no check open: the grade is the design's (adjustment for observed covariates only)
        (Some(true), false) if e.checks.iter().all(|c| c.passed == Some(true)) => format!(
            "Next step: run a randomised test before moving budget on this estimate.{{{{cite:{eid}}}}}"
        ),
        (Some(true), false) => format!(
            "Next step: resolve the open check or run a randomised test before moving budget on this estimate.{{{{cite:{eid}}}}}"
        ),
        _ => format!(
            "Next step: run a longer or larger test before moving budget on this estimate.{{{{cite:{eid}}}}}"
        ),
    }
}

/// The hedge of an effect that is not significant ("" when it is).
fn hedge(f: &Fact) -> &'static str {
    match f.significant {
        Some(true) => "",
        _ => ", not distinguishable from zero at the {{level}} level",
    }
}

/// A media mix model's plan: the gain with its interval, the channels' moves with their
/// returns, what the weakest evidence calls for, and what the numbers are (a model's, grade C).
fn budget_drafts(sheet: &FactSheet, audience: Audience) -> Vec<String> {
    let mut d = Vec::new();
    let Some(gain) = sheet.get("mmm.gain") else { return d };
    let kpi = outcome_words(sheet);
    let budget = if sheet.get("mmm.budget").is_some() { " (a budget of {{fact:mmm.budget}} per period)" } else { "" };
    // The channels, largest move first (an executive reads the largest only).
    let mut channels: Vec<(String, f64)> = Vec::new();
    for k in 1.. {
        let p = format!("mmm.ch{k}");
        let (Some(from), Some(to)) = (sheet.get(&format!("{p}.spend_from")), sheet.get(&format!("{p}.spend_to")))
        else {
            break;
        };
        channels.push((p, (to.value - from.value).abs()));
    }
    channels.sort_by(|a, b| b.1.total_cmp(&a.1));
    // A plan that moves no channel changes nothing: no gain to state, and no interval around it.
    let still = !channels.is_empty() && channels.iter().all(|(_, moved)| *moved == 0.0) && gain.value == 0.0;
    d.push(match (gain.significant, gain.value > 0.0) {
        _ if still => format!(
            "The media mix model's plan{budget} keeps the history's average allocation: it moves no channel's spend, so it changes nothing in {kpi}.{{{{cite:mmm.gain}}}}"
        ),
        (Some(true), true) => format!(
            "The media mix model's plan{budget} is expected to gain {{{{fact:mmm.gain}}}} in {kpi} per period against the history's average allocation, in steady state."
        ),
        (Some(true), false) => format!(
            "The media mix model's plan{budget} is expected to reduce {kpi} by {{{{abs:mmm.gain}}}} per period against the history's average allocation, in steady state."
        ),
        _ => format!(
            "The media mix model's plan{budget} changes {kpi} by {{{{fact:mmm.gain}}}} per period against the history's average allocation, not distinguishable from zero at the {{{{level}}}} level."
        ),
    });
    let refits = if sheet.get("mmm.draws").is_some() { " {{fact:mmm.draws}}" } else { "" };
    if !still {
        d.push(if sheet.get("mmm.gain_positive_share").is_some() {
            format!(
                "The {{{{level}}}} interval of that change runs from {{{{lo:mmm.gain}}}} to {{{{hi:mmm.gain}}}}; the plan comes out ahead in {{{{fact:mmm.gain_positive_share}}}} of the model's{refits} re-fits."
            )
        } else {
            "The {{level}} interval of that change runs from {{lo:mmm.gain}} to {{hi:mmm.gain}}.".into()
        });
    }
    let name_of = |p: &str| {
        let k: usize = p.trim_start_matches("mmm.ch").parse().unwrap_or(0);
        sheet.entities.campaigns.get(k.wrapping_sub(1)).cloned().unwrap_or_else(|| "this channel".into())
    };
    let take = if audience == Audience::Executive { 1 } else { channels.len() };
    for (p, moved) in channels.iter().take(take) {
        let name = name_of(p);
        let roi = sheet.get(&format!("{p}.roi"));
        let ret = match roi {
            Some(f) => format!(
                "; its return on spend over the history is {{{{fact:{p}.roi}}}} ({{{{lo:{p}.roi}}}} to {{{{hi:{p}.roi}}}}){}",
                hedge(f)
            ),
            None => format!("{{{{cite:{p}.spend_to}}}}"),
        };
        d.push(if *moved == 0.0 {
            format!("The plan keeps {name}'s spend at {{{{fact:{p}.spend_from}}}} per period{ret}.")
        } else {
            format!(
                "The plan moves {name}'s spend from {{{{fact:{p}.spend_from}}}} to {{{{fact:{p}.spend_to}}}} per period{ret}."
            )
        });
        if audience == Audience::Analyst {
            if let Some(f) = sheet.get(&format!("{p}.marginal_roi")) {
                d.push(format!(
                    "At today's spend, an extra unit of spend on {name} returns {{{{fact:{p}.marginal_roi}}}} in {kpi} ({{{{lo:{p}.marginal_roi}}}} to {{{{hi:{p}.marginal_roi}}}}){}.",
                    hedge(f)
                ));
            }
            if sheet.get(&format!("{p}.positive_share")).is_some() {
                let test = if sheet.get(&format!("{p}.no_effect_p_value")).is_some() {
                    format!(", and the test of no effect, calibrated on histories simulated without it, gives a p-value of {{{{fact:{p}.no_effect_p_value}}}}")
                } else {
                    String::new()
                };
                d.push(format!(
                    "The return on spend of {name} is positive in {{{{fact:{p}.positive_share}}}} of the re-fits{test}{}.",
                    if roi.is_some() { format!("{{{{cite:{p}.roi}}}}") } else { String::new() }
                ));
            }
        }
    }
    if audience == Audience::Analyst {
        if sheet.get("mmm.fit.cv_mape").is_some() {
            d.push("The model explains the KPI with an in-sample R-squared of {{fact:mmm.fit.r_squared}} over {{fact:mmm.fit.periods}} periods, and predicts held-out periods with a mean absolute percentage error of {{fact:mmm.fit.cv_mape}}.".into());
        } else if sheet.get("mmm.fit.r_squared").is_some() {
            d.push("The model explains the KPI with an in-sample R-squared of {{fact:mmm.fit.r_squared}} over {{fact:mmm.fit.periods}} periods; it was not cross-validated.".into());
        }
        let e = sheet.evidence.iter().find(|e| e.id == super::facts::MMM);
        if let Some(e) = e.filter(|e| !e.assumptions.is_empty()) {
            d.push(format!(
                "The estimates rest on these assumptions: {}.{{{{cite:mmm.gain}}}}",
                e.assumptions.join("; ")
            ));
        }
    }
    // The weakest evidence: of the channels without evidence (positive in fewer than 99% of the
    // re-fits, or no effect not rejected at 5% by its test), the one positive in the fewest.
    let weakest = channels
        .iter()
        .filter_map(|(p, _)| {
            let q = sheet.get(&format!("{p}.no_effect_p_value")).map(|f| f.value);
            sheet.get(&format!("{p}.positive_share")).map(|f| (p, f.value, q))
        })
        .filter(|(_, share, q)| *share < 0.99 || q.is_none_or(|q| q > 0.05))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    d.push(match weakest {
        Some((p, share, _)) if share < 0.99 => format!(
            "Next step: test {} before moving budget on it, since its return on spend is positive in only {{{{fact:{p}.positive_share}}}} of the re-fits.",
            name_of(p)
        ),
        Some((p, _, Some(_))) => format!(
            "Next step: test {} before moving budget on it: its return on spend is positive in {{{{fact:{p}.positive_share}}}} of the re-fits, but a test calibrated on histories simulated without it does not rule out that it has no effect (p-value {{{{fact:{p}.no_effect_p_value}}}}).",
            name_of(p)
        ),
        Some((p, _, None)) => format!(
            "Next step: test {} before moving budget on it: its return on spend is positive in {{{{fact:{p}.positive_share}}}} of the re-fits, but the test of no effect could not be run.",
            name_of(p)
        ),
        _ => "Next step: make the largest move in steps and measure it with a holdout test, since these are a model's estimates.{{cite:mmm.gain}}".into(),
    });
    let grade = sheet.evidence.iter().find(|e| e.id == super::facts::MMM).map(|e| e.reason.clone()).unwrap_or_default();
    d.push(format!(
        "These numbers come from {grade}: read them as estimates that a randomised test should confirm, not as measured effects.{{{{cite:mmm.gain}}}}"
    ));
    d
}

/// The explanation of a fact sheet for `audience`. Every sentence is rendered from facts.
pub fn explain(sheet: &FactSheet, audience: Audience) -> Result<Explanation, String> {
    from_drafts(&drafts(sheet, audience), sheet)
}

/// The template sentences for `audience`, with their placeholders (what a model rephrases).
pub fn drafts(sheet: &FactSheet, audience: Audience) -> Vec<String> {
    if sheet.readout.is_some() {
        return super::readout::drafts(sheet, audience);
    }
    let mut drafts: Vec<String> = Vec::new();
    let effects: Vec<(&Evidence, &Fact)> =
        sheet.evidence.iter().filter_map(|e| sheet.get(&format!("{}.effect", e.id)).map(|f| (e, f))).collect();
    if let Some(&(e0, f0)) = effects.first() {
        for (i, (e, f)) in effects.iter().enumerate() {
            if i > 0 && audience == Audience::Executive {
                break;
            }
            drafts.extend(effect_drafts(sheet, e, f, audience, i == 0, effects.len() == 1));
        }
        if effects.len() > 1 {
            if let Some(c) = sheet.get("comparison.methods") {
                // Overlap needs two intervals: a synthetic control has none (its placebo p-value).
                let intervals = effects.iter().filter(|(_, f)| f.ci.is_some()).count();
                drafts.push(if c.passed == Some(true) && intervals >= 2 {
                    "The {{fact:comparison.methods}} methods agree in sign and their intervals overlap.".to_string()
                } else if c.passed == Some(true) {
                    "The {{fact:comparison.methods}} methods agree in sign; fewer than two of them give an interval, so their sizes are not compared."
                        .to_string()
                } else {
                    "The {{fact:comparison.methods}} methods do not agree: weigh the ones whose checks passed."
                        .to_string()
                });
                // An agreement is only as good as the methods that agree: where a second method
                // failed a check, the same sentence says it counts for little (the first's checks
                // were told above).
                if c.passed == Some(true) {
                    let failed: Vec<String> = effects[1..]
                        .iter()
                        .flat_map(|(e, _)| {
                            let name = method_name(e);
                            let name = name.strip_prefix("The ").map_or(name.clone(), |n| format!("the {n}"));
                            e.checks
                                .iter()
                                .filter(|ch| ch.passed == Some(false) && !ch.name.contains("placebo-in-space"))
                                .map(move |ch| (super::facts::check_id(&e.id, &ch.name), ch.name.clone(), name.clone()))
                                .filter(|(cid, _, _)| sheet.get(cid).is_some())
                                .map(|(cid, check, name)| {
                                    format!("the {check} check of {name} estimate failed ({{{{fact:{cid}}}}})")
                                })
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    if let (false, Some(last)) = (failed.is_empty(), drafts.last_mut()) {
                        let sentence = last.trim_end_matches('.').to_string();
                        *last =
                            format!("{sentence}; but {}, so that agreement counts for little.", failed.join(" and "));
                    }
                }
            }
        }
        drafts.push(next_step(sheet, e0, f0));
    } else if sheet.get("mmm.gain").is_some() {
        drafts.extend(budget_drafts(sheet, audience));
    } else if super::design::is_design(sheet) {
        drafts.extend(super::design::drafts(sheet, audience));
    } else if sheet.get("discovery.edges").is_some() {
        drafts.push(
            "The causal discovery found {{fact:discovery.edges}} edges among {{fact:discovery.variables}} variables, {{fact:discovery.directed}} of them with a direction.".into(),
        );
        if audience == Audience::Analyst {
            for f in sheet.facts.iter().filter(|f| f.id.starts_with("discovery.coef.")) {
                drafts.push(format!("The fitted model gives {} a coefficient of {{{{fact:{}}}}}.", f.label, f.id));
            }
        }
        drafts.push(
            "These {{fact:discovery.edges}} edges are model-based: they assume no hidden common causes and are hypotheses to test, not measured effects.".into(),
        );
        drafts.push("Next step: test the edges that matter for budget with an experiment before acting on them.{{cite:discovery.edges}}".into());
    }
    drafts
}

/// An explanation from sentences with placeholders: each rendered from the facts, with the
/// evidence's caveats, assumptions and checks.
pub fn from_drafts(drafts: &[String], sheet: &FactSheet) -> Result<Explanation, String> {
    let mut sentences = Vec::new();
    for d in drafts {
        sentences.push(render(d, sheet)?);
    }
    let headline = sentences.first().map(|s| s.text.clone()).unwrap_or_default();
    let mut caveats = Vec::new();
    let mut assumptions = Vec::new();
    let mut checks = Vec::new();
    for e in &sheet.evidence {
        caveats.extend(e.warnings.iter().map(|w| format!("{}: {w}", e.method)));
        assumptions.extend(e.assumptions.iter().map(|a| format!("{}: {a}", e.method)));
        checks.extend(e.checks.iter().cloned());
    }
    Ok(Explanation { headline, sentences, caveats, assumptions, checks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_run(rule: &str) -> Option<&'static str> {
        not_run_reason(&Check { name: "pre-trends".into(), value: None, rule: rule.into(), passed: None })
    }

    /// The reason is given only where the rule's counts bear it out: as many leads as clusters or
    /// more (a covariance singular for another reason is not blamed on the clusters), and a
    /// check that ran has none.
    #[test]
    fn a_check_that_could_not_run_says_why_only_where_its_rule_shows_it() {
        let few = "not run: the pre-trend covariance is singular (34 leads, 3 clusters); no joint test of the leads";
        assert_eq!(not_run(few), Some("too few clusters for a joint test of the pre-treatment periods"));
        let one = format!("{few}; nor the 1-df linear pre-trend test, with one treated cluster (no cluster-robust variance sees its variation)");
        assert!(not_run(&one).is_some_and(|w| w.contains("and with one treated cluster")));
        assert_eq!(
            not_run("not run: the pre-trend covariance is singular (3 leads, 30 clusters); no joint test"),
            None
        );
        assert!(not_run("not run: the pre-trend covariance is singular (10 leads, 10 clusters)").is_some());
        assert_eq!(not_run("no pre-trend in the leads (34 leads, 3 clusters)"), None);
        assert_eq!(not_run("not run: the pre-treatment covariance is singular; no pre-trend test"), None);
        // a check the request did not ask for
        let asked = "joint test of the leads, p >= 0.05: no evidence against parallel trends, which is not evidence for them (run with event_study; its power is not computed here)";
        assert_eq!(not_run(asked), Some("the analysis ran without an event study, which the check needs"));
    }
}
