//! The configuration reference: every key the loader (`sections.rs`)
//! accepts, with its type, default and meaning, in one table. The
//! reference page `docs/CONFIGURATION.md` is rendered from it
//! ([`markdown`]); tests hold it to the loader: every key the loader looks
//! up is here and nothing else, and every default written here is the one
//! the loader applies.

mod keys;

use std::fmt::Write as _;

pub use keys::SECTIONS;

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    /// humantime: "500ms", "90s", "5m", "12h", "1h 30m".
    Duration,
    Integer,
    Boolean,
    /// A list of strings (from the environment: comma-separated).
    Strings,
    Url,
    /// Relative to the configuration file's directory.
    Path,
    /// A table of names to strings.
    Map,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Duration => "duration",
            Kind::Integer => "integer",
            Kind::Boolean => "boolean",
            Kind::Strings => "list of strings",
            Kind::Url => "URL",
            Kind::Path => "path",
            Kind::Map => "table",
        }
    }
}

/// What applies when a key is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// This value, written as in TOML.
    Value(&'static str),
    /// Nothing: the feature the key turns on is off, or another source is used.
    Unset,
    /// The configuration is refused without it.
    Required,
    /// Worked out from other keys, as said.
    Derived(&'static str),
}

/// Which platform a key is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Both,
    /// `platform.kind = "simple"` only (an unknown key for Genesys Cloud, or ignored).
    Simple,
    /// `platform.kind = "genesys-cloud"` only (an unknown key otherwise).
    Genesys,
}

#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Default,
    pub platform: Platform,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// Dotted; `targets.NAME` stands for each target's table.
    pub path: &'static str,
    pub doc: &'static str,
    pub keys: &'static [Key],
}

impl Section {
    /// Each key's full dotted name.
    pub fn paths(&self) -> impl Iterator<Item = (String, &Key)> + '_ {
        self.keys
            .iter()
            .map(move |k| (format!("{}.{}", self.path, k.name), k))
    }
}

/// Every key of every section, by full dotted name.
pub fn all_keys() -> Vec<(String, &'static Key)> {
    SECTIONS.iter().flat_map(Section::paths).collect()
}

const PREAMBLE: &str = "\
# Configuration reference

<!-- Generated from src/config/reference/keys.rs by `cargo test --lib config::reference` \
with WFM_BLESS=1; edit that file, not this one. -->

One TOML file, `--config FILE` (default `/etc/wfm-publisher/config.toml`).
Every key can be overridden from the environment as
`WFM_PUBLISHER__SECTION__KEY` (e.g. `WFM_PUBLISHER__WORKERS__CONCURRENCY=4`,
`WFM_PUBLISHER__TARGETS__CHICAGO__CRON=\"0 7 * * 4\"`); a list is then
comma-separated. Durations use humantime: `\"500ms\"`, `\"90s\"`, `\"5m\"`,
`\"12h\"`, `\"1h 30m\"`. Relative paths are relative to the file's directory.
Loading never stops at the first mistake: every problem is reported at once,
one line each, naming the file (or variable) and the key; an unknown key is
a problem too, with the known key it most resembles.

Examples: `config/wfm-publisher.toml` (the simple contract, installed as
`/etc/wfm-publisher/config.toml` by the package), `config/genesys-cloud.toml`
(Genesys Cloud). `SIGHUP` re-reads the file; `admin.listen` and `store.*`
take effect only at the next start.

Secrets never sit in a log line or an error. The client secret is taken from,
first found: `platform.client_secret_file`, the variable
`WFM_PUBLISHER__PLATFORM__CLIENT_SECRET`, `platform.client_secret`, the systemd
credential `client_secret` (`$CREDENTIALS_DIRECTORY/client_secret`). The admin
token: `admin.token_file`, else the credential `admin_token`. The PostgreSQL
password: `store.password_file`, `WFM_PUBLISHER__STORE__PASSWORD`, the
credential `store_password`. A configured file that cannot be read gives way
to the credential of that name, with a warning.
";

/// The reference page, `docs/CONFIGURATION.md`.
pub fn markdown() -> String {
    let mut out = String::from(PREAMBLE);
    for section in SECTIONS {
        let _ = write!(out, "\n## `[{}]`\n\n{}\n", section.path, section.doc);
        if section.keys.is_empty() {
            continue;
        }
        out.push_str("\n| key | type | default | |\n| --- | --- | --- | --- |\n");
        for key in section.keys {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {}{} |",
                key.name,
                key.kind.name(),
                default_text(key.default),
                platform_text(key.platform),
                key.doc.replace('\n', " ").replace('|', "\\|"),
            );
        }
    }
    out
}

fn default_text(default: Default) -> String {
    match default {
        Default::Value(v) => format!("`{}`", v.replace('|', "\\|")),
        Default::Unset => "unset".into(),
        Default::Required => "**required**".into(),
        Default::Derived(how) => how.replace('|', "\\|"),
    }
}

fn platform_text(platform: Platform) -> &'static str {
    match platform {
        Platform::Both => "",
        Platform::Simple => "*Simple contract only.* ",
        Platform::Genesys => "*Genesys Cloud only.* ",
    }
}

#[cfg(test)]
mod tests;
