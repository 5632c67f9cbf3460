//! `wfm-publisher check`: the preflight's rows against the platform, or
//! with `--config-only` the configuration and the local sources alone.

use std::path::Path;
use std::process::ExitCode;

use super::args::CheckArgs;
use super::{cancelled_by_shutdown_signal, exit, print_report, settings_and_logs};
use crate::telemetry::LogFormat;

pub(super) async fn run(
    config: &Path,
    how: CheckArgs,
    format: LogFormat,
) -> anyhow::Result<ExitCode> {
    let settings = match settings_and_logs(config, format) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let (week, json) = (how.week, how.json);
    let targets: Vec<_> = match how.target.as_deref() {
        Some(name) => match super::target(&settings, config, name) {
            Ok(t) => vec![t],
            Err(code) => return Ok(code),
        },
        None => settings.targets.values().collect(),
    };
    let clock = crate::clock::system();
    if how.config_only {
        let report = crate::doctor::config_only(config, &settings, &targets, week, clock.now());
        print_report(json, &report, crate::doctor::Report::render)?;
        return Ok(check_exit(&report));
    }
    // Nothing to finish in a preflight: a stop ends it at once.
    let cancel = cancelled_by_shutdown_signal(|| tracing::warn!("stopping the check"));
    let patience = crate::api::Patience::Preflight;
    let client = crate::api::PlatformClient::with_patience(
        &settings,
        clock.clone(),
        cancel.clone(),
        patience,
    )?;
    let report = tokio::select! {
        // The stop wins: the check's own rows end too, with `Cancelled`.
        biased;
        _ = cancel.cancelled() => {
            eprintln!("wfm-publisher: check interrupted");
            return Ok(ExitCode::from(exit::INTERRUPTED));
        }
        report = crate::doctor::check(&settings, &client, &targets, week, clock.now()) => report,
    };
    print_report(json, &report, crate::doctor::Report::render)?;
    Ok(check_exit(&report))
}

/// 0 when a publication would succeed, a refusal's code otherwise.
fn check_exit(report: &crate::doctor::Report) -> ExitCode {
    ExitCode::from(if report.ok {
        exit::SUCCESS
    } else {
        exit::REFUSED
    })
}
