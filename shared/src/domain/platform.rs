use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

use super::error::ValidationError;

/// The advertising platform a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Meta,
    GoogleAds,
    Tiktok,
    Linkedin,
    Snapchat,
    Other,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::Meta,
        Platform::GoogleAds,
        Platform::Tiktok,
        Platform::Linkedin,
        Platform::Snapchat,
        Platform::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Meta => "meta",
            Platform::GoogleAds => "google_ads",
            Platform::Tiktok => "tiktok",
            Platform::Linkedin => "linkedin",
            Platform::Snapchat => "snapchat",
            Platform::Other => "other",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            ValidationError::new(
                "platform",
                format!("unknown platform {s:?}; expected one of meta, google_ads, tiktok, linkedin, snapchat, other"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.as_str()));
        }
        assert_eq!("myspace".parse::<Platform>().unwrap_err().field(), "platform");
    }
}
