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

/// Advertising platforms without a platform of their own here, whose exports are read by their
/// column names under `other` (a person naming one gets that said, not a list).
const READ_AS_OTHER: [&str; 9] =
    ["microsoft", "microsoftadvertising", "bing", "bingads", "amazon", "amazonads", "pinterest", "reddit", "twitter"];

impl Platform {
    /// A platform as a person writes it on a command line: any case, with or without spaces,
    /// hyphens or underscores, and the names people use for it (`Meta`, `facebook`,
    /// `Google Ads`, `google`, `adwords`, `LinkedIn`, `TikTok`, `Snap`). [`FromStr`] stays strict
    /// for the API's JSON and query strings, whose values are a contract.
    pub fn from_name(s: &str) -> Result<Self, ValidationError> {
        let key: String =
            s.chars().filter(|c| !matches!(c, ' ' | '-' | '_' | '.')).flat_map(char::to_lowercase).collect();
        let key = key.strip_suffix("ads").filter(|k| !k.is_empty()).unwrap_or(&key);
        let found = match key {
            "meta" | "facebook" | "fb" | "instagram" => Some(Platform::Meta),
            "google" | "googleads" | "adwords" | "googleadwords" => Some(Platform::GoogleAds),
            "tiktok" => Some(Platform::Tiktok),
            "linkedin" => Some(Platform::Linkedin),
            "snapchat" | "snap" => Some(Platform::Snapchat),
            "other" => Some(Platform::Other),
            _ => None,
        };
        found.ok_or_else(|| {
            let hint = if READ_AS_OTHER.contains(&key) {
                format!("{s:?} has no platform of its own here: its export is read as other (--platform other)")
            } else {
                format!("unknown platform {s:?}; expected one of meta, google_ads, tiktok, linkedin, snapchat, other")
            };
            ValidationError::new("platform", hint)
        })
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
        assert!("Meta".parse::<Platform>().is_err(), "the API's values stay strict");
    }

    #[test]
    fn names_as_people_write_them() {
        for p in Platform::ALL {
            assert_eq!(Platform::from_name(p.as_str()).unwrap(), p);
            assert_eq!(Platform::from_name(&p.as_str().to_uppercase()).unwrap(), p);
        }
        let cases = [
            ("Meta", Platform::Meta),
            ("Facebook Ads", Platform::Meta),
            ("meta-ads", Platform::Meta),
            ("Google Ads", Platform::GoogleAds),
            ("google", Platform::GoogleAds),
            ("google-ads", Platform::GoogleAds),
            ("AdWords", Platform::GoogleAds),
            ("LinkedIn", Platform::Linkedin),
            ("TikTok Ads", Platform::Tiktok),
            ("Snap", Platform::Snapchat),
        ];
        for (name, p) in cases {
            assert_eq!(Platform::from_name(name).unwrap(), p, "{name}");
        }
        for name in ["Microsoft Advertising", "bing ads", "Pinterest", "amazon-ads"] {
            let e = Platform::from_name(name).unwrap_err();
            assert_eq!(e.field(), "platform");
            assert!(e.to_string().contains("read as other (--platform other)"), "{name}: {e}");
        }
        for name in ["myspace", "", "ads", "metaverse"] {
            assert!(Platform::from_name(name).unwrap_err().to_string().contains("expected one of meta"), "{name}");
        }
    }
}
