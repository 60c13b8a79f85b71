//! The grounding validator, run on every narrative (template or model): every number matches a
//! fact the sentence cites, at the precision written (units, %, pp, k/M/bn, "<0.001"); direction
//! words agree with the sign of the effect cited; "significant" and its kin only on a
//! significant result, causal words only where the evidence grade allows them; a result that is
//! not significant carries its hedge; the confidence level stated is the one asked for; every
//! channel and metric named exists; every sentence cites a fact.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::facts::{Fact, FactKind, FactSheet};
use super::format::Unit;
use super::narrate::Sentence;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Violation {
    /// The sentence's index (0 is the headline).
    pub sentence: usize,
    /// numbers, direction, significance, causality, hedge, level, entities, citation
    pub rule: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Grounding {
    pub passed: bool,
    pub numbers_checked: usize,
    pub numbers_matched: usize,
    /// The numbers that match no fact their sentence cites.
    pub unmatched: Vec<String>,
    pub claims_checked: usize,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TokenKind {
    Plain,
    Percent,
    Points,
    /// "<0.001"
    Below,
    Date,
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    /// The written digits without separators or sign: "1234.5".
    digits: String,
    decimals: usize,
    significant: usize,
    negative: bool,
    signed: bool,
    scale: f64,
    kind: TokenKind,
    /// Where it ends in the sentence (chars).
    end: usize,
}

impl Token {
    fn value(&self) -> f64 {
        let v: f64 = self.digits.parse().unwrap_or(f64::NAN);
        if self.negative {
            -v
        } else {
            v
        }
    }
}

/// The numbers written in `text`. Digits inside words ("2SLS", "CR1") are not numbers.
fn numbers(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let n = c.len();
    let mut out = Vec::new();
    let mut i = 0;
    let is_word = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < n {
        let sign = matches!(c[i], '-' | '−' | '+') && i + 1 < n && c[i + 1].is_ascii_digit();
        if !(c[i].is_ascii_digit() || sign) {
            i += 1;
            continue;
        }
        if i > 0 && (is_word(c[i - 1]) || c[i - 1] == '.') {
            // Part of a word or an identifier: skip the run.
            while i < n && (is_word(c[i]) || c[i] == '.') {
                i += 1;
            }
            continue;
        }
        let start = i;
        let (negative, signed) = if sign {
            i += 1;
            (c[start] != '+', true)
        } else {
            (false, false)
        };
        let mut digits = String::new();
        let mut decimals = 0;
        let mut seen_dot = false;
        while i < n {
            if c[i].is_ascii_digit() {
                digits.push(c[i]);
                if seen_dot {
                    decimals += 1;
                }
                i += 1;
            } else if c[i] == ','
                && !seen_dot
                && (1..=3).all(|k| i + k < n && c[i + k].is_ascii_digit())
                && !(i + 4 < n && c[i + 4].is_ascii_digit())
            {
                i += 1;
            } else if c[i] == '.' && !seen_dot && i + 1 < n && c[i + 1].is_ascii_digit() {
                seen_dot = true;
                digits.push('.');
                i += 1;
            } else {
                break;
            }
        }
        // A date: 2026-09-15.
        if !seen_dot && digits.len() == 4 && i + 5 < n && c[i] == '-' && c[i + 1].is_ascii_digit() {
            let mut j = i;
            while j < n && (c[j].is_ascii_digit() || c[j] == '-') {
                j += 1;
            }
            out.push(Token {
                text: c[start..j].iter().collect(),
                digits: String::new(),
                decimals: 0,
                significant: 0,
                negative: false,
                signed: false,
                scale: 1.0,
                kind: TokenKind::Date,
                end: j,
            });
            i = j;
            continue;
        }
        let mut kind = TokenKind::Plain;
        let mut scale = 1.0;
        let mut end = i;
        let rest: String = c[i..n.min(i + 4)].iter().collect();
        if rest.starts_with('%') {
            kind = TokenKind::Percent;
            end = i + 1;
        } else if rest.starts_with(" pp") && !c.get(i + 3).is_some_and(|ch| is_word(*ch))
            || rest.starts_with("pp") && !c.get(i + 2).is_some_and(|ch| is_word(*ch))
        {
            kind = TokenKind::Points;
            end = i + if rest.starts_with(' ') { 3 } else { 2 };
        } else if rest.starts_with("bn") && !c.get(i + 2).is_some_and(|ch| is_word(*ch)) {
            scale = 1e9;
            end = i + 2;
        } else if (rest.starts_with('k') || rest.starts_with('K')) && !c.get(i + 1).is_some_and(|ch| is_word(*ch)) {
            scale = 1e3;
            end = i + 1;
        } else if rest.starts_with('M') && !c.get(i + 1).is_some_and(|ch| is_word(*ch)) {
            scale = 1e6;
            end = i + 1;
        } else if c.get(i).is_some_and(|ch| is_word(*ch)) {
            // "2SLS", "3rd": a word, not a number.
            while i < n && is_word(c[i]) {
                i += 1;
            }
            continue;
        }
        // "<0.001" / "< 0.001"
        let before: String = c[start.saturating_sub(2)..start].iter().collect();
        if kind == TokenKind::Plain && before.trim_end().ends_with('<') {
            kind = TokenKind::Below;
        }
        let significant = digits.trim_start_matches(['0', '.']).chars().filter(|d| d.is_ascii_digit()).count();
        out.push(Token {
            text: c[start..end].iter().collect(),
            digits,
            decimals,
            significant,
            negative,
            signed,
            scale,
            kind,
            end,
        });
        i = end.max(i);
    }
    out
}

/// A number a cited fact offers.
#[derive(Debug, Clone, Copy)]
struct Slot {
    value: f64,
    unit: Unit,
}

/// A cited fact offers its value only: interval bounds and p-values are facts of their own.
fn slots(f: &Fact) -> Vec<Slot> {
    vec![Slot { value: f.value, unit: f.unit }]
}

fn same_at_precision(value: f64, unit: Unit, t: &Token) -> bool {
    let scaled = value.abs() / t.scale;
    let written = format!("{:.*}", t.decimals, scaled);
    let token = format!("{:.*}", t.decimals, t.digits.parse::<f64>().unwrap_or(f64::NAN));
    if written != token {
        return false;
    }
    if t.signed && value != 0.0 && (value < 0.0) != t.negative {
        return false;
    }
    // One significant digit is too coarse to tie to anything but a count ("about 0", "~1%"),
    // except an exact zero written as "0".
    t.significant >= 2 || unit == Unit::Count || (value == 0.0 && t.digits.chars().all(|c| c == '0' || c == '.'))
}

fn matches(slot: &Slot, t: &Token) -> bool {
    match t.kind {
        TokenKind::Date => false,
        TokenKind::Below => slot.unit == Unit::Probability && slot.value < t.value(),
        TokenKind::Percent => {
            matches!(slot.unit, Unit::Share | Unit::Level) && same_at_precision(slot.value * 100.0, slot.unit, t)
        }
        TokenKind::Points => slot.unit == Unit::PercentagePoints && same_at_precision(slot.value * 100.0, slot.unit, t),
        TokenKind::Plain => {
            matches!(slot.unit, Unit::Outcome | Unit::Statistic | Unit::Count | Unit::Probability)
                && same_at_precision(slot.value, slot.unit, t)
        }
    }
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches(['-', '\'']).to_string())
        .collect()
}

const UP: &[&str] = &[
    "increase",
    "increased",
    "increases",
    "increasing",
    "raise",
    "raised",
    "raises",
    "raising",
    "lift",
    "lifted",
    "lifts",
    "grew",
    "grow",
    "grows",
    "growth",
    "higher",
    "boost",
    "boosted",
    "boosts",
    "gain",
    "gained",
    "gains",
    "rose",
    "rise",
    "rises",
];
const DOWN: &[&str] = &[
    "decrease",
    "decreased",
    "decreases",
    "decreasing",
    "drop",
    "dropped",
    "drops",
    "reduce",
    "reduced",
    "reduces",
    "reduction",
    "lower",
    "lowered",
    "fell",
    "fall",
    "falls",
    "decline",
    "declined",
    "declines",
    "hurt",
    "hurts",
    "loss",
    "lost",
    "cut",
    "cuts",
];
const SIGNIFICANCE: &[&str] =
    &["significant", "significantly", "conclusive", "conclusively", "confident", "confidently", "clearly"];
const SIGNIFICANCE_PHRASES: &[&str] = &["clear evidence", "strong evidence", "robust evidence"];
const CAUSAL: &[&str] = &["caused", "causes", "cause", "causing", "drove", "drives", "driven", "driving"];
const CAUSAL_PHRASES: &[&str] =
    &["led to", "leads to", "resulted in", "results in", "because of", "thanks to", "due to", "responsible for"];
const CAUSAL_SUBJECTS: &[&str] = &["the treatment", "the campaign", "the intervention", "the change"];
const ABSOLUTE: &[&str] = &[
    "prove",
    "proves",
    "proved",
    "proven",
    "guarantee",
    "guarantees",
    "guaranteed",
    "definitely",
    "certainly",
    "undoubtedly",
];
const NEGATIONS: &[&str] = &["not", "no", "isn't", "wasn't", "cannot", "can't", "without", "never", "nor"];
const HEDGES: &[&str] = &[
    "not distinguishable from zero",
    "not statistically significant",
    "could be zero",
    "inconclusive",
    "consistent with no effect",
    "not known whether",
    "uncertainty is unknown",
];
const PLATFORM_WORDS: &[(&str, &str)] = &[
    ("meta", "meta"),
    ("facebook", "meta"),
    ("instagram", "meta"),
    ("google", "google_ads"),
    ("youtube", "google_ads"),
    ("tiktok", "tiktok"),
    ("linkedin", "linkedin"),
    ("snapchat", "snapchat"),
    ("pinterest", "other"),
    ("twitter", "other"),
    ("reddit", "other"),
    ("bing", "other"),
    ("amazon", "other"),
];
const METRIC_WORDS: &[&str] = &[
    "revenue",
    "conversions",
    "sales",
    "orders",
    "signups",
    "sign-ups",
    "clicks",
    "impressions",
    "installs",
    "leads",
    "roas",
    "cpa",
    "ctr",
    "spend",
];

/// The channels (as `Platform` names) that words of `text` stand for: "Meta search" names meta.
pub fn platforms_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words(text) {
        if let Some((_, p)) = PLATFORM_WORDS.iter().find(|(n, _)| *n == w) {
            if !out.iter().any(|x| x == p) {
                out.push(p.to_string());
            }
        }
    }
    out
}

/// `text` with the names of the data that hold digits ("TV 2", "Black Friday 2025"), and a
/// design's markets and arms, blanked out char for char: their digits are the data's names, not
/// numbers to ground. (A name without a letter is never blanked: it would blank numbers.)
fn mask_names(text: &str, sheet: &FactSheet) -> String {
    let e = &sheet.entities;
    let mut names: Vec<&String> = e
        .platforms
        .iter()
        .chain(&e.campaigns)
        .chain(&e.metrics)
        .chain(e.outcome.iter())
        .filter(|n| n.chars().any(|c| c.is_ascii_digit()))
        // a design's markets and arms ("Sales North", "Meta holdout") are names, not claims
        // about a metric or a channel
        .chain(&e.groups)
        .filter(|n| n.chars().any(char::is_alphabetic))
        .collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = text.to_string();
    for n in names {
        out = out.replace(n.as_str(), &" ".repeat(n.chars().count()));
    }
    out
}

fn negated(ws: &[String], i: usize) -> bool {
    ws[i.saturating_sub(4)..i].iter().any(|w| NEGATIONS.contains(&w.as_str()))
}

impl Grounding {
    /// One claim checked: a violation of `rule` unless `ok`.
    fn claim(&mut self, sentence: usize, ok: bool, rule: &str, detail: impl FnOnce() -> String) {
        self.claims_checked += 1;
        if !ok {
            self.violations.push(Violation { sentence, rule: rule.into(), detail: detail() });
        }
    }
}

/// Check `sentences` against `sheet`.
pub fn grounding(sentences: &[Sentence], sheet: &FactSheet) -> Grounding {
    let mut g = Grounding {
        passed: true,
        numbers_checked: 0,
        numbers_matched: 0,
        unmatched: Vec::new(),
        claims_checked: 0,
        violations: Vec::new(),
    };
    let level = sheet.confidence_level;
    for (si, s) in sentences.iter().enumerate() {
        let mut v =
            |rule: &str, detail: String| g.violations.push(Violation { sentence: si, rule: rule.into(), detail });
        // Citations.
        if s.fact_ids.is_empty() {
            v("citation", "the sentence cites no fact".into());
        }
        let cited: Vec<&Fact> = s
            .fact_ids
            .iter()
            .filter_map(|id| {
                let f = sheet.get(id);
                if f.is_none() {
                    g.violations.push(Violation {
                        sentence: si,
                        rule: "citation".into(),
                        detail: format!("unknown fact {id:?}"),
                    });
                }
                f
            })
            .collect();
        // Numbers: each against an unused slot of a cited fact.
        let mut pool: Vec<(usize, Slot, bool)> = Vec::new();
        for (k, f) in cited.iter().enumerate() {
            for sl in slots(f) {
                pool.push((k, sl, false));
            }
        }
        let masked = mask_names(&s.text, sheet);
        let tokens = numbers(&masked);
        let mut primary_value_stated = false;
        let primary = cited.iter().position(|f| matches!(f.kind, FactKind::Effect | FactKind::Derived));
        let lower = s.text.to_lowercase();
        for t in &tokens {
            g.numbers_checked += 1;
            let hit = pool.iter().position(|(_, sl, used)| !*used && matches(sl, t));
            match hit {
                Some(h) => {
                    pool[h].2 = true;
                    g.numbers_matched += 1;
                    if Some(pool[h].0) == primary {
                        primary_value_stated = true;
                    }
                }
                None => {
                    g.unmatched.push(t.text.clone());
                    g.violations.push(Violation {
                        sentence: si,
                        rule: "numbers".into(),
                        detail: format!("{} matches no fact the sentence cites", t.text),
                    });
                }
            }
            // Level: a percentage that qualifies a confidence, interval or level.
            if t.kind == TokenKind::Percent {
                let after: String = lower.chars().skip(t.end).take(24).collect();
                let qualifies = ["confidence", "interval", "level", "credible"].iter().any(|w| {
                    after.split_whitespace().take(2).any(|x| x.trim_matches(|c: char| !c.is_alphanumeric()) == *w)
                });
                if qualifies {
                    g.claim(si, (t.value() / 100.0 - level).abs() <= 1e-9, "level", || {
                        format!(
                            "{} stated; the level asked for is {}",
                            t.text,
                            super::format::display(level, Unit::Level)
                        )
                    });
                }
            }
        }
        let ws = words(&s.text);
        let grade_of =
            |f: &Fact| sheet.evidence.iter().find(|e| f.id.starts_with(&format!("{}.", e.id))).map(|e| e.grade);
        // The effect the sentence is about: the first effect (or derived number) it cites, else
        // the effect whose interval bound or p-value it cites.
        let effect = primary.map(|k| cited[k]).or_else(|| {
            cited
                .iter()
                .filter(|f| f.kind == FactKind::Bound)
                .find_map(|f| f.derived_from.first().and_then(|p| sheet.get(p)))
        });
        // Direction.
        if let Some(f) = effect {
            for (i, w) in ws.iter().enumerate() {
                let up = UP.contains(&w.as_str());
                let down = DOWN.contains(&w.as_str());
                if !(up || down) || negated(&ws, i) {
                    continue;
                }
                g.claim(si, !((up && f.value <= 0.0) || (down && f.value >= 0.0)), "direction", || {
                    format!("{w:?} but {} is {}", f.id, f.display)
                });
            }
        }
        let significant = effect.and_then(|f| f.significant) == Some(true);
        // Significance.
        for (i, w) in ws.iter().enumerate() {
            if SIGNIFICANCE.contains(&w.as_str()) && !negated(&ws, i) {
                g.claim(si, significant, "significance", || {
                    format!("{w:?} on a result that is not significant at the level asked for")
                });
            }
            if ABSOLUTE.contains(&w.as_str()) {
                g.claims_checked += 1;
                g.violations.push(Violation {
                    sentence: si,
                    rule: "significance".into(),
                    detail: format!("{w:?}: no estimate proves or guarantees"),
                });
            }
        }
        for p in SIGNIFICANCE_PHRASES {
            if let Some(at) = lower.find(p) {
                g.claims_checked += 1;
                let before = words(&lower[..at]);
                let neg = before.iter().rev().take(4).any(|w| NEGATIONS.contains(&w.as_str()));
                if !significant && !neg {
                    g.violations.push(Violation {
                        sentence: si,
                        rule: "significance".into(),
                        detail: format!("{p:?} on a result that is not significant"),
                    });
                }
            }
        }
        // Causality.
        let causal_ok = significant && effect.and_then(grade_of).is_some_and(|gr| gr.allows_causal_words());
        let mut causal_hits: Vec<String> = ws
            .iter()
            .enumerate()
            .filter(|(i, w)| CAUSAL.contains(&w.as_str()) && !negated(&ws, *i))
            .map(|(_, w)| w.clone())
            .collect();
        for p in CAUSAL_PHRASES {
            if let Some(at) = lower.find(p) {
                let before = words(&lower[..at]);
                if !before.iter().rev().take(4).any(|w| NEGATIONS.contains(&w.as_str())) {
                    causal_hits.push(p.to_string());
                }
            }
        }
        for subj in CAUSAL_SUBJECTS {
            let mut from = 0;
            while let Some(at) = lower[from..].find(subj) {
                let after = words(&lower[from + at + subj.len()..]);
                if let Some(verb) = after.first() {
                    if UP.contains(&verb.as_str()) || DOWN.contains(&verb.as_str()) {
                        causal_hits.push(format!("{subj} {verb}"));
                    }
                }
                from += at + subj.len();
            }
        }
        for h in causal_hits {
            g.claim(si, causal_ok, "causality", || {
                format!("{h:?}: causal words need a significant result graded A or B")
            });
        }
        // Hedge: the value of an effect that is not significant is stated with its hedge.
        if let Some(f) = effect {
            if primary_value_stated && f.significant != Some(true) {
                g.claim(si, HEDGES.iter().any(|h| lower.contains(h)), "hedge", || {
                    format!("{} is not significant at the level asked for; the sentence must say so", f.id)
                });
            }
        }
        // Entities (the data's own names aside).
        for w in &words(&masked) {
            if let Some((_, p)) = PLATFORM_WORDS.iter().find(|(n, _)| n == w) {
                g.claim(si, sheet.entities.platforms.iter().any(|x| x == p), "entities", || {
                    format!("{w:?}: no such channel in the data")
                });
            }
            if METRIC_WORDS.contains(&w.as_str()) {
                g.claims_checked += 1;
                let known = sheet.entities.metrics.iter().chain(sheet.entities.outcome.iter()).any(|m| {
                    let m = m.to_lowercase();
                    m == *w || m.split(|c: char| !c.is_alphanumeric()).any(|part| part == w.as_str())
                });
                if !known {
                    g.violations.push(Violation {
                        sentence: si,
                        rule: "entities".into(),
                        detail: format!("{w:?}: no such metric in the data"),
                    });
                }
            }
        }
    }
    g.passed = g.violations.is_empty();
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_written() {
        let t = numbers(
            "an increase of 1,234.5 (90% interval -3.1 to 4.2k; p <0.001) by 2SLS with CR1 over 8.20 pp on 2026-09-15",
        );
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["1,234.5", "90%", "-3.1", "4.2k", "0.001", "8.20 pp", "2026-09-15"]);
        assert_eq!(t[0].digits, "1234.5");
        assert!(t[2].negative && t[2].signed);
        assert_eq!(t[3].scale, 1e3);
        assert_eq!(t[4].kind, TokenKind::Below);
        assert_eq!(t[5].kind, TokenKind::Points);
        assert_eq!(t[6].kind, TokenKind::Date);
    }
}
