//! What a user reads matches what they get: the README's commands, links
//! that lead somewhere, the exit codes as the binary has them, the source
//! formats as the reader reads them, no issue numbers a user cannot see,
//! and a release's files (version, CHANGELOG, LICENSE) in step.

use std::path::Path;

use crate::common::repo_file;
use chrono::NaiveDate;
use clap::CommandFactory;
use wfm_publisher::cli::{exit, Cli};

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The pages written for users (not the developers' benchmarks and
/// architecture notes).
const USER_DOCS: [&str; 7] = [
    "README.md",
    "CHANGELOG.md",
    "deploy/README.md",
    "docs/OPERATION.md",
    "docs/CONFIGURATION.md",
    "docs/DEPLOYMENT.md",
    "docs/INTERNALS.md",
];

/// CI and the project's rules read the README's first two commands.
#[test]
fn the_readme_starts_with_its_two_commands() {
    assert!(read("README.md")
        .starts_with("# wfm-publisher\n\n```sh\ncargo run -- dev\nscripts/test\n```\n"));
}

/// The README gets a user to a first publication and leaves the rest to
/// docs/: short, in that order, every command in its table.
#[test]
fn the_readme_leads_to_a_first_publication_and_lists_every_command() {
    let readme = read("README.md");
    assert!(
        readme.len() < 16 * 1024,
        "README.md is {} bytes",
        readme.len()
    );
    let steps = [
        "## Install",
        "### What you need",
        "### The role and the OAuth client",
        "wfm:schedule:edit",
        "### check",
        "publish --adopt",
        "### Then the daemon",
        "## Layout",
        "docs/ARCHITECTURE.md",
    ];
    let mut from = 0;
    for step in steps {
        let at = readme[from..]
            .find(step)
            .unwrap_or_else(|| panic!("README.md: no {step:?} after byte {from}"));
        from += at;
    }
    let cmd = Cli::command();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let row = format!("| `wfm-publisher {}", sub.get_name());
        assert!(readme.contains(&row), "README.md's commands lack {row}");
        let doc = read("docs/OPERATION.md");
        assert!(
            doc.contains(&row),
            "docs/OPERATION.md's commands lack {row}"
        );
    }
}

/// Every relative link of a user's page leads to a file that exists.
#[test]
fn links_lead_somewhere() {
    for page in USER_DOCS {
        let text = read(page);
        let dir = repo_file(page).parent().unwrap().to_path_buf();
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap();
            let file = target.split('#').next().unwrap();
            if file.is_empty() || file.contains("://") {
                continue;
            }
            assert!(
                dir.join(file).exists(),
                "{page}: link to {target} leads nowhere"
            );
        }
    }
}

/// A user cannot read our issue tracker: pages say what changed, not where
/// it was asked.
#[test]
fn no_page_points_at_an_issue_number() {
    for page in USER_DOCS {
        let text = read(page).to_lowercase();
        for word in ["issue ", "item "] {
            for (i, _) in text.match_indices(word) {
                let next = text[i + word.len()..].chars().next();
                assert!(
                    !next.is_some_and(|c| c.is_ascii_digit()),
                    "{page}: {:?}",
                    &text[i.saturating_sub(30)..(i + 20).min(text.len())]
                );
            }
        }
    }
}

/// docs/OPERATION.md's exit codes are the binary's.
#[test]
fn the_exit_codes_page_is_the_binarys() {
    let doc = read("docs/OPERATION.md");
    let table: Vec<String> = exit::CODES
        .iter()
        .map(|(code, meaning)| format!("| {code} | {meaning} |"))
        .collect();
    let expected = format!("| code | meaning |\n| --- | --- |\n{}\n", table.join("\n"));
    assert!(
        doc.contains(&expected),
        "docs/OPERATION.md's exit codes differ from exit::CODES:\n{expected}"
    );
}

/// The fenced block after `<!-- example: NAME ... -->` in docs/OPERATION.md.
fn example(name: &str) -> String {
    let doc = read("docs/OPERATION.md");
    let marker = format!("<!-- example: {name},");
    let after = &doc[doc.find(&marker).unwrap_or_else(|| panic!("no {marker}"))..];
    let block = after.split_once("```").unwrap().1;
    let block = block.split_once('\n').unwrap().1;
    block[..block.find("```").unwrap()].to_owned()
}

/// The documented CSV and JSON weeks read, as the publisher reads them,
/// into the same week.
#[test]
fn the_documented_source_formats_read() {
    use wfm_publisher::config::{
        AmbiguousTimePolicy, DstPolicy, NonexistentTimePolicy, SourceFormat,
    };
    use wfm_publisher::source::parse_week;
    let week = NaiveDate::from_ymd_opt(2026, 12, 14).unwrap();
    let dst = DstPolicy {
        nonexistent: NonexistentTimePolicy::Error,
        ambiguous: AmbiguousTimePolicy::Error,
    };
    let tz = chrono_tz::America::Chicago;
    let mut weeks = Vec::new();
    for (name, format, file) in [
        ("csv source", SourceFormat::Csv, "week.csv"),
        ("json source", SourceFormat::Json, "week.json"),
    ] {
        let text = example(name);
        let plan = parse_week(
            &text,
            Path::new(file),
            format,
            week,
            tz,
            dst,
            &"chicago".parse().unwrap(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        weeks.push(format!("{:?}", plan.agents));
    }
    assert_eq!(
        weeks[0], weeks[1],
        "the CSV and the JSON examples hold the same week"
    );
}

/// The release's files agree: Cargo.toml's version has its CHANGELOG
/// section (Keep a Changelog), the LICENSE is the one Cargo.toml names, the
/// Kubernetes image is tagged with it, the install block installs it.
#[test]
fn a_release_has_its_changelog_license_and_tags() {
    let version = env!("CARGO_PKG_VERSION");
    let changelog = read("CHANGELOG.md");
    assert!(changelog.starts_with("# Changelog\n"));
    assert!(changelog.contains("[Keep a Changelog]"));
    let releases: Vec<&str> = changelog
        .lines()
        .filter(|l| l.starts_with("## ["))
        .collect();
    assert_eq!(releases[0], "## [Unreleased]", "{releases:?}");
    let newest = releases[1];
    let (heading, date) = newest.split_once(" - ").expect("## [VERSION] - DATE");
    assert_eq!(heading, format!("## [{version}]"));
    assert!(
        NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "{newest}"
    );
    for line in changelog.lines().filter(|l| l.starts_with("### ")) {
        let kinds = [
            "Added",
            "Changed",
            "Deprecated",
            "Removed",
            "Fixed",
            "Security",
        ];
        assert!(
            kinds.contains(&&line[4..]),
            "not a Keep a Changelog kind: {line}"
        );
    }
    assert!(read("Cargo.toml").contains("license = \"Apache-2.0\""));
    let license = read("LICENSE");
    assert!(
        license.contains("Apache License\n                           Version 2.0, January 2004")
    );
    assert!(license.contains("END OF TERMS AND CONDITIONS"));
    let tag = format!("newTag: \"{version}\"");
    for k in [
        "deploy/kubernetes/kustomization.yaml",
        "deploy/kubernetes/ha/kustomization.yaml",
    ] {
        assert!(
            read(k).contains(&tag),
            "{k} does not tag the image {version}"
        );
    }
    let deb = format!("./wfm-publisher_{version}-1_amd64.deb");
    assert!(
        read("docs/DEPLOYMENT.md").contains(&deb),
        "docs/DEPLOYMENT.md installs another version"
    );
}
