//! `wfm-publisher generate --out DIR`: the man pages and shell completions,
//! rendered from the command line's own definition, for the packaging.
//!
//! A hidden subcommand rather than a build script: a build script would
//! have to compile the command line (and the library types it names) a
//! second time, on every build, into a directory the packaging cannot
//! name; the binary being packaged renders exactly its own options.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::{exit, Cli};

/// The shells completions are written for, and each one's file name.
const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "wfm-publisher.bash"),
    (Shell::Zsh, "_wfm-publisher"),
    (Shell::Fish, "wfm-publisher.fish"),
];

pub(super) fn generate(out: &Path) -> anyhow::Result<ExitCode> {
    for path in write_all(out)? {
        super::stdout::line(format_args!("wrote {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `out/man/*.1` and `out/completions/*`; returns what it wrote.
pub fn write_all(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = man_pages(&out.join("man"))?;
    written.extend(completions(&out.join("completions"))?);
    Ok(written)
}

fn man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    create(dir)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let pages = std::iter::once(cmd.clone()).chain(
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect::<Vec<_>>(),
    );
    let mut written = Vec::new();
    for page in pages {
        let man = clap_mangen::Man::new(page.clone());
        let path = dir.join(man.get_filename());
        let mut text = Vec::new();
        render(&man, &page, &mut text)?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// One page: clap_mangen's sections, with the exit codes as EXIT STATUS
/// (its own rendering would title them EXTRA) and SEE ALSO.
fn render(man: &clap_mangen::Man, cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(w)?;
    }
    writeln!(w, ".SH \"EXIT STATUS\"")?;
    for (code, meaning) in exit::CODES {
        writeln!(w, ".TP\n\\fB{code}\\fR\n{}", roff_text(meaning))?;
    }
    writeln!(w, ".SH \"SEE ALSO\"")?;
    let pages: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("\\fBwfm\\-publisher\\-{}\\fR(1)", s.get_name()))
        .collect();
    if !pages.is_empty() {
        writeln!(w, "{}.\n.PP", pages.join(", "))?;
    }
    writeln!(
        w,
        "The configuration reference and the guides: /usr/share/doc/wfm-publisher/ \
         (docs/CONFIGURATION.md, docs/OPERATION.md, docs/DEPLOYMENT.md)."
    )?;
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// Text safe in a roff line: no leading dot or quote, backslashes doubled.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn completions(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    create(dir)?;
    let mut written = Vec::new();
    for (shell, name) in SHELLS {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "wfm-publisher", &mut text);
        if shell == Shell::Bash {
            text = bash_fixed(text);
        }
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// clap_complete 4.6's bash script names a command's case `wfm__publisher…`
/// where it dispatches and `wfm__subcmd__publisher…` where it lists the
/// command's options (the binary's hyphen turned into its separator): the
/// options of `publish` and the others would never complete. One spelling.
fn bash_fixed(text: Vec<u8>) -> Vec<u8> {
    String::from_utf8_lossy(&text)
        .replace("wfm__subcmd__publisher", "wfm__publisher")
        .into_bytes()
}

fn create(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
