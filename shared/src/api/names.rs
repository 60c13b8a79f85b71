//! Closed sets of names (a method, a kernel, a control group) as Rust enums: parsed from the name
//! or an alias with an error that lists the choices, written as the name, and described in the
//! API document as a string enum. Parsing happens once, at the edge (HTTP body, query, CLI flag).

/// `names! { /// doc  pub enum KernelName { Triangular = "triangular" | "tri", ... } expected "..." }`;
/// a last line `into Kernel` adds `From<KernelName> for Kernel`, variant by variant (the same
/// variant names).
#[macro_export]
macro_rules! names {
    (
        $(#[$m:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vm:meta])* $var:ident = $s:literal $(| $alias:literal)*),+ $(,)?
        }
        expected $expected:literal
        into $target:ident
    ) => {
        $crate::names! {
            $(#[$m])*
            $vis enum $name {
                $($(#[$vm])* $var = $s $(| $alias)*),+
            }
            expected $expected
        }

        impl From<$name> for $target {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$var => $target::$var),+
                }
            }
        }
    };
    (
        $(#[$m:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vm:meta])* $var:ident = $s:literal $(| $alias:literal)*),+ $(,)?
        }
        expected $expected:literal
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vm])* $var),+
        }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The canonical name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s $(| $alias)* => Ok($name::$var),)+
                    other => Err(format!("{other:?}: expected {}", $expected)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": [$($s),+] })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    names! {
        /// A test set.
        pub enum Colour { Red = "red" | "r", Dark = "dark-blue" }
        expected "red or dark-blue"
    }

    /// The type a set of names stands for, with the same variants.
    #[derive(Debug, PartialEq)]
    enum Paint {
        Red,
        Dark,
    }

    names! {
        /// A set that converts into the type it names.
        pub enum PaintName { Red = "red", Dark = "dark" }
        expected "red or dark"
        into Paint
    }

    #[test]
    fn a_set_with_into_converts_variant_by_variant() {
        assert_eq!(Paint::from(PaintName::Red), Paint::Red);
        assert_eq!(Paint::from("dark".parse::<PaintName>().unwrap()), Paint::Dark);
    }

    #[test]
    fn parse_print_and_refuse_naming_the_choices() {
        assert_eq!("r".parse::<Colour>(), Ok(Colour::Red));
        assert_eq!(Colour::Dark.to_string(), "dark-blue");
        assert_eq!("x".parse::<Colour>().unwrap_err(), "\"x\": expected red or dark-blue");
        assert_eq!(serde_json::to_string(&Colour::Dark).unwrap(), "\"dark-blue\"");
        let e = serde_json::from_str::<Colour>("\"blue\"").unwrap_err().to_string();
        assert!(e.starts_with("\"blue\": expected red or dark-blue"), "{e}");
        let schema = schemars::schema_for!(Colour);
        assert_eq!(schema.as_value()["enum"], serde_json::json!(["red", "dark-blue"]));
    }
}
