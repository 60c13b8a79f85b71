//! The marketing ontology (`ontology.json`, versioned and reviewed like code) and the mapping of
//! free marketing text onto it: the longest synonym phrase wins at each position, words compared
//! after a light plural stemming ("clicks" = "click", "sales" = "sale").

use std::collections::HashMap;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

crate::names! {
    /// What a concept is in the causal framework.
    pub enum Role {
        Treatment = "treatment",
        Mediator = "mediator",
        Outcome = "outcome",
        Confounder = "confounder",
        Instrument = "instrument",
        Moderator = "moderator",
        Metric = "metric",
        Method = "method",
        Assumption = "assumption",
        Check = "check",
    }
    expected "treatment, mediator, outcome, confounder, instrument, moderator, metric, method, assumption or check"
}

crate::names! {
    /// What kind of thing a concept names.
    pub enum ConceptKind {
        Channel = "channel",
        Variable = "variable",
        Metric = "metric",
        Intervention = "intervention",
        Confounder = "confounder",
        Method = "method",
        Design = "design",
        Assumption = "assumption",
        Check = "check",
        Concept = "concept",
    }
    expected "channel, variable, metric, intervention, confounder, method, design, assumption, check or concept"
}

/// One concept of the ontology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Concept {
    pub id: String,
    pub label: String,
    pub kind: ConceptKind,
    pub role: Role,
    /// The words marketers use for it (the id and the label count too).
    pub synonyms: Vec<String>,
    /// Named members (a holiday of `seasonality`): a mention of one stands for the concept, and
    /// for the graph's nodes that name it, not for every node of the concept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    pub description: String,
    /// The platform a channel concept stands for (`meta`, `google_ads`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The record metric a variable concept stands for (`spend`, `conversions`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// The detected intervention an intervention concept stands for (`budget_decrease`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention: Option<String>,
    /// Discovery tier (funnel order): a variable of a later tier never causes one of an earlier tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// The methods (LiftOS names) suited to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// The checks those methods must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// How explanations name an estimate of this method: `{method}` or `{method}/{estimator}`
    /// (the names results carry) -> the noun phrase ("the difference-in-differences").
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub narrative: std::collections::BTreeMap<String, String>,
    /// What one unit of the method's effect is, in explanations ("per treated unit and period").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect_scale: Option<String>,
}

/// The ontology file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ontology {
    pub version: String,
    pub about: String,
    pub concepts: Vec<Concept>,
    /// Words -> (concept, whether the phrase is one of its instances).
    #[serde(skip)]
    phrases: HashMap<Vec<String>, (usize, bool)>,
    #[serde(skip)]
    longest: usize,
}

/// The ontology file as shipped.
pub const ONTOLOGY_JSON: &str = include_str!("ontology.json");

/// One stretch of the text mapped to a concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mention {
    pub concept: String,
    /// The words of the text that matched, as written.
    pub text: String,
    /// Byte offsets of the match in the text.
    pub start: usize,
    pub end: usize,
    /// The words name one of the concept's instances ("labor day" of `seasonality`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub instance: bool,
}

impl Ontology {
    /// Parses and checks an ontology: unique ids, every synonym phrase naming one concept, tiers
    /// only on variables.
    pub fn parse(json: &str) -> Result<Self, String> {
        let mut o: Ontology = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut ids = HashMap::new();
        for (i, c) in o.concepts.iter().enumerate() {
            if ids.insert(c.id.clone(), i).is_some() {
                return Err(format!("concept {} appears twice", c.id));
            }
            if c.tier.is_some() && c.variable.is_none() {
                return Err(format!("concept {}: a tier needs a variable", c.id));
            }
            if c.narrative.values().any(|n| n.trim().is_empty()) {
                return Err(format!("concept {}: an empty narrative name", c.id));
            }
        }
        let mut named = HashMap::new();
        for c in &o.concepts {
            for k in c.narrative.keys() {
                if let Some(other) = named.insert(k.clone(), c.id.clone()) {
                    return Err(format!("the estimate {k} is named by both {other} and {}", c.id));
                }
            }
        }
        let mut phrases: HashMap<Vec<String>, (usize, bool)> = HashMap::new();
        for (i, c) in o.concepts.iter().enumerate() {
            let id_words = c.id.replace('_', " ");
            let named = c.synonyms.iter().map(|s| (s.as_str(), false));
            let instances = c.instances.iter().map(|s| (s.as_str(), true));
            let own = [(c.label.as_str(), false), (id_words.as_str(), false)];
            for (s, instance) in named.chain(instances).chain(own) {
                let key: Vec<String> = words(s).into_iter().map(|(w, _, _)| w).collect();
                if key.is_empty() {
                    return Err(format!("concept {}: an empty synonym", c.id));
                }
                match phrases.get(&key) {
                    Some(&(j, _)) if j != i => {
                        return Err(format!(
                            "{s:?} names both {} and {}: a phrase may name one concept",
                            o.concepts[j].id, c.id
                        ))
                    }
                    _ => {
                        phrases.entry(key).or_insert((i, instance));
                    }
                }
            }
        }
        o.longest = phrases.keys().map(Vec::len).max().unwrap_or(1);
        o.phrases = phrases;
        Ok(o)
    }

    /// The shipped ontology (checked by the tests, so parsing it cannot fail in a build that passed them).
    pub fn shipped() -> &'static Ontology {
        static O: OnceLock<Ontology> = OnceLock::new();
        O.get_or_init(|| {
            Ontology::parse(ONTOLOGY_JSON).unwrap_or_else(|e| {
                tracing::error!(error = %e, "the shipped ontology does not parse");
                Ontology {
                    version: "invalid".into(),
                    about: e,
                    concepts: Vec::new(),
                    phrases: HashMap::new(),
                    longest: 1,
                }
            })
        })
    }

    /// The same concepts known only by their ids and labels: the lexical baseline the synonyms
    /// are measured against.
    pub fn without_synonyms(&self) -> Result<Ontology, String> {
        let mut bare = self.clone();
        for c in &mut bare.concepts {
            c.synonyms.clear();
            c.instances.clear();
        }
        let json = serde_json::to_string(&bare).map_err(|e| e.to_string())?;
        Ontology::parse(&json)
    }

    /// How explanations name an estimate of `method` by `estimator` (the estimator's own entry,
    /// else the method's), and what one unit of its effect is.
    pub fn estimate_name(&self, method: &str, estimator: &str) -> Option<(&str, Option<&str>)> {
        let find = |key: &str| {
            self.concepts.iter().find_map(|c| c.narrative.get(key).map(|n| (n.as_str(), c.effect_scale.as_deref())))
        };
        find(&format!("{method}/{estimator}")).or_else(|| find(method))
    }

    pub fn concept(&self, id: &str) -> Option<&Concept> {
        self.concepts.iter().find(|c| c.id == id)
    }

    /// The concept of a record metric (`conversions`), of a platform (`meta`) or of an intervention.
    pub fn for_variable(&self, variable: &str) -> Option<&Concept> {
        self.concepts.iter().find(|c| c.variable.as_deref() == Some(variable))
    }
    pub fn for_platform(&self, platform: &str) -> Option<&Concept> {
        self.concepts.iter().find(|c| c.platform.as_deref() == Some(platform))
    }
    pub fn for_intervention(&self, intervention: &str) -> Option<&Concept> {
        self.concepts.iter().find(|c| c.intervention.as_deref() == Some(intervention))
    }

    /// The discovery tiers of the record metrics (`spend` 0 ... `revenue` 4).
    pub fn tiers(&self) -> Vec<(String, i64)> {
        let mut t: Vec<(String, i64)> =
            self.concepts.iter().filter_map(|c| Some((c.variable.clone()?, c.tier?))).collect();
        t.sort_by_key(|(_, tier)| *tier);
        t
    }

    /// The concepts the text mentions, in order: at each word the longest phrase that names a
    /// concept.
    pub fn mentions(&self, text: &str) -> Vec<Mention> {
        let w = words(text);
        let mut out = Vec::new();
        let mut i = 0;
        while i < w.len() {
            let mut hit = None;
            for n in (1..=self.longest.min(w.len() - i)).rev() {
                let key: Vec<String> = w[i..i + n].iter().map(|(s, _, _)| s.clone()).collect();
                if let Some(&(c, instance)) = self.phrases.get(&key) {
                    // A common word ("did") names a concept only when written as an acronym ("DiD").
                    let written = &text[w[i].1..w[i].2];
                    let acronym = written.chars().skip(1).any(char::is_uppercase);
                    if n == 1 && STOP.contains(&key[0].as_str()) && !acronym {
                        continue;
                    }
                    hit = Some((c, n, instance));
                    break;
                }
            }
            match hit {
                Some((c, n, instance)) => {
                    let (start, end) = (w[i].1, w[i + n - 1].2);
                    out.push(Mention {
                        concept: self.concepts[c].id.clone(),
                        text: text[start..end].to_string(),
                        start,
                        end,
                        instance,
                    });
                    i += n;
                }
                None => i += 1,
            }
        }
        out
    }

    /// The words of the text no concept claimed (stop words left out).
    pub fn unmatched(&self, text: &str) -> Vec<String> {
        unmatched_by(text, &self.mentions(text))
    }
}

/// The words of the text none of `m` covers (stop words left out).
pub fn unmatched_by(text: &str, m: &[Mention]) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|(w, s, _)| !STOP.contains(&w.as_str()) && !m.iter().any(|x| x.start <= *s && *s < x.end))
        .map(|(_, s, e)| text[s..e].to_string())
        .collect()
}

/// Words too common to mean anything on their own.
pub const STOP: &[&str] = &[
    "a", "an", "the", "of", "on", "in", "to", "for", "and", "or", "our", "we", "my", "is", "are", "was", "were", "be",
    "been", "did", "do", "doe", "does", "what", "which", "how", "why", "when", "much", "many", "it", "its", "this",
    "that", "by", "from", "with", "at", "as", "than", "there", "any", "all", "us", "me", "i", "you", "your", "has",
    "have", "had", "not", "no", "yes", "if", "so", "more", "less", "most", "last", "next", "about", "between", "vs",
    "versus", "really", "actually", "get", "got", "can", "could", "should", "would", "will", "after", "before",
    "during", "over", "into", "out", "up", "down", "new", "old",
];

/// Lower-cased, lightly stemmed words with their byte offsets; `.` is kept inside numbers ("14.5").
pub fn words(text: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, ch)) in chars.iter().enumerate() {
        let inner_dot = ch == '.'
            && k > 0
            && chars[k - 1].1.is_ascii_digit()
            && chars.get(k + 1).is_some_and(|(_, c)| c.is_ascii_digit());
        let part = ch.is_alphanumeric() || ch == '\'' || inner_dot;
        match (part, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                push_word(&mut out, text, s, i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        push_word(&mut out, text, s, text.len());
    }
    out
}

fn push_word(out: &mut Vec<(String, usize, usize)>, text: &str, s: usize, e: usize) {
    let raw = text[s..e].trim_matches('\'');
    if raw.is_empty() {
        return;
    }
    let off = s + text[s..e].find(raw).unwrap_or(0);
    out.push((stem(&raw.to_lowercase()), off, off + raw.len()));
}

/// Plural and possessive endings off: "clicks" → "click", "campaign's" → "campaign",
/// "companies" → "company"; short words ("ads", "roas", "ios") are left alone.
pub fn stem(w: &str) -> String {
    let w = w.strip_suffix("'s").unwrap_or(w);
    let n = w.chars().count();
    if n > 4 {
        if let Some(b) = w.strip_suffix("ies") {
            return format!("{b}y");
        }
        if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
            return w[..w.len() - 1].to_string();
        }
    }
    w.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_ontology_parses_and_each_phrase_names_one_concept() {
        let o = Ontology::parse(ONTOLOGY_JSON).unwrap();
        assert!(o.concepts.len() >= 40);
        assert_eq!(Ontology::shipped().version, o.version);
        let tiers = o.tiers();
        let names: Vec<&str> = tiers.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(names, ["spend", "impressions", "clicks", "conversions", "revenue"]);
        // The issue's examples.
        for (text, id) in [
            ("facebook", "meta"),
            ("Instagram", "meta"),
            ("sales", "revenue"),
            ("incrementality", "effect_on_treated"),
            ("lift", "effect_on_treated"),
            ("carry-over", "adstock"),
            ("diminishing returns", "saturation"),
        ] {
            let m = o.mentions(text);
            assert_eq!(m.len(), 1, "{text}: {m:?}");
            assert_eq!(m[0].concept, id, "{text}");
        }
    }

    #[test]
    fn a_phrase_naming_two_concepts_is_refused() {
        let bad = r#"{"version": "x", "about": "", "concepts": [
            {"id": "a", "label": "A", "kind": "concept", "role": "metric", "synonyms": ["lift"], "description": ""},
            {"id": "b", "label": "B", "kind": "concept", "role": "metric", "synonyms": ["Lifts"], "description": ""}]}"#;
        assert!(Ontology::parse(bad).unwrap_err().contains("names both a and b"));
    }

    #[test]
    fn the_longest_phrase_wins_and_offsets_point_into_the_text() {
        let o = Ontology::shipped();
        let text = "Did the TikTok budget cut hurt sign-ups after iOS 14.5?";
        let m = o.mentions(text);
        let ids: Vec<&str> = m.iter().map(|x| x.concept.as_str()).collect();
        assert_eq!(ids, ["tiktok", "budget_decrease", "effect_on_treated", "conversions", "ios_14_5"], "{m:?}");
        assert_eq!(m[1].text, "budget cut");
        assert_eq!(&text[m[3].start..m[3].end], "sign-ups");
        assert!(o.unmatched(text).is_empty(), "{:?}", o.unmatched(text));
        // "did" is a word; "DiD" the method.
        assert_eq!(o.mentions("Was the DiD right?")[0].concept, "did");
    }

    /// The narrator names every method's estimate from the ontology; an estimator without its own
    /// name takes its method's; a name given by two concepts, or an empty one, is refused.
    #[test]
    fn explanations_name_each_method_in_the_ontology_s_words() {
        let o = Ontology::shipped();
        for (method, estimator, name, scale) in [
            ("did", "twfe", "the difference-in-differences", "per treated unit and period"),
            (
                "did",
                "callaway_santanna",
                "the Callaway-Sant'Anna difference-in-differences",
                "per treated unit and period",
            ),
            ("did", "sun_abraham", "the Sun-Abraham event-study", "per treated unit and period"),
            ("did", "imputation", "the imputation difference-in-differences", "per treated unit and period"),
            ("iv", "2sls", "the instrumental-variables", "per unit of the instrumented variable"),
            ("rdd", "local_linear", "the regression-discontinuity", "at the cutoff"),
            ("synth", "abadie", "the synthetic-control", "per treated unit and period"),
            ("sdid", "arkhangelsky", "the synthetic difference-in-differences", "per treated unit and period"),
            ("impact", "bsts", "the time-series counterfactual", "per period after the intervention"),
            ("effect", "ols", "the covariate-adjusted", "on average per unit"),
        ] {
            assert_eq!(o.estimate_name(method, estimator), Some((name, Some(scale))), "{method}/{estimator}");
        }
        assert_eq!(o.estimate_name("unknown", "x"), None);
        let twice = ONTOLOGY_JSON.replacen(
            r#""narrative": {"rdd": "the regression-discontinuity"}"#,
            r#""narrative": {"rdd": "the regression-discontinuity", "iv": "again"}"#,
            1,
        );
        assert!(Ontology::parse(&twice).unwrap_err().contains("the estimate iv is named by both"));
        let empty = ONTOLOGY_JSON.replacen(r#""rdd": "the regression-discontinuity""#, r#""rdd": " ""#, 1);
        assert!(Ontology::parse(&empty).unwrap_err().contains("an empty narrative name"));
    }

    #[test]
    fn stemming_is_light() {
        assert_eq!(stem("clicks"), "click");
        assert_eq!(stem("companies"), "company");
        assert_eq!(stem("ads"), "ads");
        assert_eq!(stem("roas"), "roas");
        assert_eq!(stem("business"), "business");
        assert_eq!(
            words("A/B test, 14.5.").iter().map(|w| w.0.as_str()).collect::<Vec<_>>(),
            ["a", "b", "test", "14.5"]
        );
    }
}
