//! Layering: the TOML file, then `WFM_PUBLISHER__SECTION__KEY` overrides,
//! merged by the `config` crate into one tree whose values remember their
//! origin. Only whole-file failures are decided here.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use config::{Config, Environment, File, FileFormat, Value};

use super::error::Problem;
use super::reader::{flatten, ENV_PREFIX, ENV_SEPARATOR};

pub(crate) fn layered_tree(path: &Path, env: &HashMap<String, String>) -> Result<Value, Problem> {
    let file_problem = |message: String| Problem::new(path.display().to_string(), "", message);

    // Read and parse here first: the `config` crate's errors for a missing
    // file or a syntax error are multi-line and would not carry our path.
    let text = fs::read_to_string(path)
        .map_err(|e| file_problem(format!("cannot read configuration file: {e}")))?;
    if let Err(e) = text.parse::<toml::Table>() {
        let at = e
            .span()
            .map(|s| line_col(&text, s.start))
            .unwrap_or_default();
        return Err(file_problem(format!(
            "invalid TOML{at}: {}",
            flatten(e.message())
        )));
    }

    let overrides = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .try_parsing(true)
        .source(Some(env.clone().into_iter().collect()));
    let config = Config::builder()
        .add_source(File::from(path).format(FileFormat::Toml).required(true))
        .add_source(overrides)
        .build()
        .map_err(|e| file_problem(flatten(&e.to_string())))?;
    Ok(config.cache)
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" at line {line}, column {col}")
}
