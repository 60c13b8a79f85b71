//! The inference block every effect estimate shares: the estimate with its standard error,
//! interval and p-value, the number of observations, and how the uncertainty was computed. Each
//! result embeds it (`#[serde(flatten)]`), so its JSON keys sit at the top of the result as they
//! always have: `estimate`, `std_error`, `ci_low`, `ci_high`, `p_value`, `n_obs`, `inference`.
//!
//! What a method cannot give is `None` (and absent from the JSON): a synthetic control has no
//! sampling standard error, only a permutation p-value when placebos were run.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Inference {
    /// The point estimate of the effect.
    pub estimate: f64,
    /// Its standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_error: Option<f64>,
    /// The interval at the requested level (1 - alpha).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// The p-value of the test of no effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// Observations (rows) the estimate used.
    pub n_obs: usize,
    /// How the standard error, interval and p-value were computed, in words.
    pub inference: String,
}

impl Inference {
    /// An estimate with a standard error and a symmetric interval `estimate ± critical × se`.
    pub fn with_interval(
        estimate: f64,
        std_error: f64,
        critical: f64,
        p_value: f64,
        n_obs: usize,
        inference: String,
    ) -> Self {
        Self {
            estimate,
            std_error: Some(std_error),
            ci_low: Some(estimate - critical * std_error),
            ci_high: Some(estimate + critical * std_error),
            p_value: Some(p_value),
            n_obs,
            inference,
        }
    }

    /// The interval, when the method gives one.
    pub fn interval(&self) -> Option<(f64, f64)> {
        self.ci_low.zip(self.ci_high)
    }
}

/// A fitted result that carries an effect estimate.
pub trait Estimate {
    /// `did`, `iv`, `rdd`, `synth`, `effect`.
    fn method(&self) -> &str;
    /// The estimator within the method (`twfe`, `callaway_santanna`, `2sls`, ...).
    fn estimator(&self) -> &str;
    fn inference(&self) -> &Inference;
}

/// `impl Estimate` for result structs with `method`, `estimator` and `inference` fields.
#[macro_export]
macro_rules! impl_estimate {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::inference::Estimate for $t {
            fn method(&self) -> &str {
                &self.method
            }
            fn estimator(&self) -> &str {
                &self.estimator
            }
            fn inference(&self) -> &$crate::inference::Inference {
                &self.inference
            }
        }
    )+};
}

/// Reads a flattened optional part of a result (`#[serde(flatten, deserialize_with = ...)]`)
/// strictly. serde's `flatten` of an `Option` reads `None` when the part does not parse, so a
/// result sent back to the API with `ar_statistic: {}` was taken as having no Anderson-Rubin test
/// and answered 200. Here the part is its keys that start with `prefix`: none of them, `None`;
/// otherwise they must parse as the part, or the whole result is refused.
pub fn strict_part<'de, D, T>(d: D, prefix: &str) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    use serde::Deserialize;
    let all = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    let part: serde_json::Map<String, serde_json::Value> =
        all.into_iter().filter(|(k, _)| k.starts_with(prefix)).collect();
    if part.is_empty() {
        return Ok(None);
    }
    T::deserialize(serde_json::Value::Object(part)).map(Some).map_err(D::Error::custom)
}

/// [`strict_part`] for the Anderson-Rubin keys (`ar_*`).
pub fn strict_ar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<crate::iv::weak::ArResult>, D::Error> {
    strict_part(d, "ar_")
}

/// [`strict_part`] for the tF keys (`tf_*`).
pub fn strict_tf<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<crate::iv::weak::TfResult>, D::Error> {
    strict_part(d, "tf_")
}

/// [`strict_part`] for the conditional likelihood-ratio keys (`clr_*`).
pub fn strict_clr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<crate::iv::weak::ClrResult>, D::Error> {
    strict_part(d, "clr_")
}

/// [`strict_part`] for the wild bootstrap's keys (`wild_bootstrap_*`).
pub fn strict_wild<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<crate::did::wild::WildResult>, D::Error> {
    strict_part(d, "wild_bootstrap_")
}
