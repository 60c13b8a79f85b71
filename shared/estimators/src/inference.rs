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
