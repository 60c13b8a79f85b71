//! Validation errors that name the field at fault.

/// One problem with one field: the estimators' error of a bad setting is the same type.
pub use liftos_estimators::FieldError;

/// Every problem found in a value, in the order found. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ValidationError {
    pub errors: Vec<FieldError>,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { errors: vec![FieldError::new(field, message)] }
    }

    /// The same errors, their fields inside `prefix` (`analysis.request` + `methods[0].outcome`).
    /// A `confidence_level` error stays as it is: it names the caller's own field.
    pub fn within(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            if e.field == "confidence_level" {
                continue;
            }
            e.field = if e.field.is_empty() { prefix.to_string() } else { format!("{prefix}.{}", e.field) };
        }
        self
    }

    /// The first field at fault (what an API error's `field` shows).
    pub fn field(&self) -> &str {
        self.errors.first().map(|e| e.field.as_str()).unwrap_or("")
    }

    pub fn summary(&self) -> String {
        match self.errors.as_slice() {
            [] => "invalid value".to_string(),
            [one] => format!("{}: {}", one.field, one.message),
            [first, rest @ ..] => {
                format!("{}: {} (and {} more problem(s))", first.field, first.message, rest.len())
            }
        }
    }

    /// Prefix every field path, e.g. with `records[2]`.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.field = if prefix.is_empty() {
                std::mem::take(&mut e.field)
            } else if e.field.is_empty() {
                prefix.to_string()
            } else if e.field.starts_with('[') {
                format!("{prefix}{}", e.field)
            } else {
                format!("{prefix}.{}", e.field)
            };
        }
        self
    }
}

/// Collects field errors while a value is checked.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.push(field, message);
        }
    }

    pub fn non_empty(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(field, "must not be empty");
        }
    }

    /// A finite number that is zero or more.
    pub fn non_negative(&mut self, field: &str, value: f64) {
        if !value.is_finite() {
            self.push(field, "must be a finite number");
        } else if value < 0.0 {
            self.push(field, format!("must not be negative (got {value})"));
        }
    }

    /// A finite number in 0..=1.
    pub fn unit_interval(&mut self, field: &str, value: f64) {
        if !value.is_finite() {
            self.push(field, "must be a finite number");
        } else if !(0.0..=1.0).contains(&value) {
            self.push(field, format!("must be between 0 and 1 (got {value})"));
        }
    }

    pub fn finite(&mut self, field: &str, value: f64) {
        if !value.is_finite() {
            self.push(field, "must be a finite number");
        }
    }

    /// Merge the errors of a nested value under `prefix`.
    pub fn nested(&mut self, prefix: &str, result: Result<(), ValidationError>) {
        if let Err(e) = result {
            self.errors.extend(e.prefixed(prefix).errors);
        }
    }

    pub fn finish(self) -> Result<(), ValidationError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { errors: self.errors })
        }
    }
}

/// Parse JSON into `T`, naming the path of the field that failed (`records[0].platform`).
pub fn from_json_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ValidationError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        let message = clean_serde_message(&inner.to_string());
        ValidationError::new(field, message)
    })
}

/// Parse a `serde_json::Value` into `T`, naming the failing path.
pub fn from_json_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = clean_serde_message(&e.into_inner().to_string());
        ValidationError::new(field, message)
    })
}

/// serde_json appends " at line L column C"; keep it only where the body is not JSON at all.
fn clean_serde_message(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains("column") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_compose() {
        let e = ValidationError::new("metrics.spend", "must not be negative").prefixed("records[2]");
        assert_eq!(e.field(), "records[2].metrics.spend");
        let e = ValidationError::new("[0]", "bad").prefixed("records");
        assert_eq!(e.field(), "records[0]");
    }

    #[test]
    fn json_errors_name_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            n: u32,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            items: Vec<Inner>,
        }
        let err = from_json_str::<Outer>(r#"{"items":[{"n":1},{"n":"x"}]}"#).unwrap_err();
        assert_eq!(err.field(), "items[1].n");
        assert!(err.summary().contains("invalid type"), "{}", err.summary());
    }
}
