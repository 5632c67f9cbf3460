//! One way to write an enum as the text it is stored and shown as, and
//! to read it back: `as_str`, `Display` and `FromStr` from one list.

/// `text_enum!(Kind { A => "a", B => "b" })`.
macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($s => Ok(Self::$v),)* other => Err(format!("unknown value {other:?}")) }
            }
        }
    };
}
