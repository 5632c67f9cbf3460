//! The reference held to the loader.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::{all_keys, markdown, Default, Platform, SECTIONS};
use crate::config::loader::layered_tree;
use crate::config::reader::{Reader, Table};
use crate::config::{sections, Settings};

// Minimal configurations of each platform. tests/it/config_errors.rs has
// its own on purpose: a unit test here cannot share the integration
// tests' fixtures, and each set is shaped for what its tests break.
const SIMPLE: &str = r#"
[platform]
auth_base_url = "https://login.example.com"
api_base_url = "https://api.example.com"
client_id = "id"
client_secret = "secret"

[targets.chicago]
schedule_id = "chi-{week_start}"
time_zone = "America/Chicago"
cron = "0 6 * * 4"
source = "inbox/{week_start}.csv"
"#;

const GENESYS: &str = r#"
[platform]
kind = "genesys-cloud"
client_id = "id"
client_secret = "secret"

[targets.chicago]
business_unit = "Chicago Support"
time_zone = "America/Chicago"
cron = "0 6 * * 4"
source = "inbox/{week_start}.csv"
"#;

/// `targets.chicago.cron` as the reference names it: `targets.NAME.cron`.
fn generic(key: &str) -> String {
    match key.strip_prefix("targets.chicago") {
        Some(rest) => format!("targets.NAME{rest}"),
        None => key.to_owned(),
    }
}

/// Every key the loader looks up reading `text`, whatever the file holds.
fn consulted(text: &str) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let tree = layered_tree(&path, &HashMap::new()).unwrap();
    let mut reader = Reader::new(&path, HashMap::new());
    let mut root = Table::root(tree);
    let settings = sections::settings(&mut root, &mut reader, dir.path());
    assert!(settings.is_some(), "the sample configuration loads");
    reader.consulted().iter().map(|k| generic(k)).collect()
}

fn load(text: &str, path: &Path) -> Settings {
    std::fs::write(path, text).unwrap();
    Settings::load_with_env(path, HashMap::new()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every key the loader accepts is in the reference, and nothing else is:
/// for each platform, the keys read for it.
#[test]
fn the_reference_holds_every_key_the_loader_accepts() {
    let simple = consulted(SIMPLE);
    let genesys = consulted(GENESYS);
    let sections: BTreeSet<String> = SECTIONS
        .iter()
        .flat_map(|s| {
            let parts: Vec<&str> = s.path.split('.').collect();
            (1..=parts.len()).map(move |n| parts[..n].join("."))
        })
        .collect();
    let read: BTreeSet<String> = simple
        .union(&genesys)
        .filter(|k| !sections.contains(*k))
        .cloned()
        .collect();
    let documented: BTreeSet<String> = all_keys().into_iter().map(|(k, _)| k).collect();
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unread: Vec<_> = documented.difference(&read).collect();
    assert!(
        undocumented.is_empty(),
        "read but not in the reference: {undocumented:?}"
    );
    assert!(
        unread.is_empty(),
        "in the reference but never read: {unread:?}"
    );
    for (path, key) in all_keys() {
        let (in_simple, in_genesys) = (simple.contains(&path), genesys.contains(&path));
        let right = match key.platform {
            Platform::Both => in_simple && in_genesys,
            Platform::Simple => in_simple && !in_genesys,
            Platform::Genesys => in_genesys,
        };
        assert!(
            right,
            "{path}: read for simple {in_simple}, genesys {in_genesys}"
        );
    }
    for section in SECTIONS.iter().filter(|s| s.path != "targets.NAME") {
        assert!(
            simple.contains(section.path) || genesys.contains(section.path),
            "section {} is never read",
            section.path
        );
    }
}

/// `value` (TOML) set at `path` in `text`.
fn with_key(text: &str, path: &str, value: &str) -> String {
    let mut doc: toml::Table = toml::from_str(text).unwrap();
    let value: toml::Table = toml::from_str(&format!("v = {value}")).unwrap();
    let parts: Vec<String> = path
        .replace("targets.NAME", "targets.chicago")
        .split('.')
        .map(String::from)
        .collect();
    let mut table = &mut doc;
    for part in &parts[..parts.len() - 1] {
        table = table
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap();
    }
    table.insert(parts[parts.len() - 1].clone(), value["v"].clone());
    toml::to_string(&doc).unwrap()
}

/// Every default the reference gives is the loader's: setting a key to its
/// documented default changes nothing the loader produces.
#[test]
fn every_documented_default_is_the_loaders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    for (key_path, key) in all_keys() {
        let Default::Value(value) = key.default else {
            continue;
        };
        let base = match key.platform {
            Platform::Genesys => GENESYS,
            _ => SIMPLE,
        };
        let plain = format!("{:?}", load(base, &path));
        let set = format!("{:?}", load(&with_key(base, &key_path, value), &path));
        assert_eq!(
            plain, set,
            "{key_path}: the documented default {value} is not the loader's"
        );
    }
}

/// docs/CONFIGURATION.md is the reference as rendered now; `WFM_BLESS=1`
/// writes it.
#[test]
fn the_reference_page_is_up_to_date() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/CONFIGURATION.md");
    let rendered = markdown();
    if std::env::var_os("WFM_BLESS").is_some() {
        std::fs::write(&page, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&page).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/CONFIGURATION.md is stale: run `WFM_BLESS=1 cargo test --lib config::reference`"
    );
}

/// The shipped example shows every key of the simple contract, set or
/// commented out, in its section, and names the Genesys Cloud ones.
#[test]
fn the_example_configuration_shows_every_key() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/wfm-publisher.toml"),
    )
    .unwrap();
    let mut section = String::new();
    let mut shown = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = generic(header).replace("targets.new_york", "targets.NAME");
            shown.insert(section.clone());
        } else if let Some((name, _)) = line.split_once(" = ") {
            if !name.contains(' ') {
                shown.insert(format!("{section}.{name}"));
            }
        }
    }
    let missing: Vec<String> = all_keys()
        .into_iter()
        .map(|(k, _)| k)
        .chain(SECTIONS.iter().map(|s| s.path.to_owned()))
        .filter(|k| !shown.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "config/wfm-publisher.toml lacks {missing:?}"
    );
}
