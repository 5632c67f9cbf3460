//! The commit the binary is built from, for `--version`, the start-up line
//! and the `wfm_publisher_build_info` metric: `git rev-parse` in a
//! checkout; `WFM_PUBLISHER_COMMIT` when the builder knows it but has no
//! repository (a container build from a copied tree); else "unknown" (a
//! source tarball), so a build never fails for want of git.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=WFM_PUBLISHER_COMMIT");
    let commit = std::env::var("WFM_PUBLISHER_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WFM_PUBLISHER_COMMIT={}", commit.trim());
}

/// The checkout's short commit, and a rebuild whenever HEAD moves.
fn git_commit() -> Option<String> {
    // A tarball unpacked inside some other repository is not a checkout.
    let here = std::fs::canonicalize(std::env::var("CARGO_MANIFEST_DIR").ok()?).ok()?;
    let top = std::fs::canonicalize(git(&["rev-parse", "--show-toplevel"])?).ok()?;
    if top != here {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD names a branch whose ref moves at each commit: watch both, and
    // packed-refs, where a ref can live too. In a worktree HEAD is in the
    // worktree's own git directory, the refs in the common one.
    let git_dir = PathBuf::from(git(&["rev-parse", "--absolute-git-dir"])?);
    watch(git_dir.join("HEAD"));
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
        let common = PathBuf::from(common);
        watch(common.join("packed-refs"));
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(common.join(head_ref));
        }
    }
    Some(commit)
}

/// Reruns this script when `path` changes; a path that does not exist
/// is not named, as cargo would rerun the script at every build.
fn watch(path: PathBuf) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// What `git args` printed, when git is there and succeeded.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
