//! The machine short of file descriptors while a run reads its source
//! file: a cause that passes, so the run fails (resumable), never refused.
//! Alone in its test binary: it lowers the process's file limit.

#[path = "it/common/mod.rs"]
mod common;

use common::publishing::*;
use common::*;
use wfm_publisher::store::Outcome;

/// Lowers the soft limit of open files to what is open now plus `spare`,
/// then opens files until none more can be: the process is out of them.
fn exhaust_file_descriptors(spare: u64) -> Vec<std::fs::File> {
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit.rlim_cur = (open + spare).min(limit.rlim_max);
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return held,
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn too_many_open_files_reading_the_source_fails_the_run_and_the_next_resumes() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source(
        &cfg,
        &format!(
            "agent_id,date,start,end,activity\na-5,{},08:00,16:00,phone\n",
            day(1)
        ),
    );
    let settings = cfg.settings();
    let engine = engine(&settings, wfm_publisher::clock::system());
    let target = &settings.targets["chicago"];

    let held = exhaust_file_descriptors(32);
    let report = engine.run(target, to_the_end(week())).await;
    drop(held);
    let report = report.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Failed), "{}", report.render());
    assert_eq!(report.refused, None);
    assert!(
        report.render().contains("Too many open files"),
        "{}",
        report.render()
    );
    assert_eq!(report.exit_code(), 75);

    let report = engine.run(target, to_the_end(week())).await.unwrap();
    assert_eq!(
        report.outcome,
        Some(Outcome::Success),
        "{}",
        report.render()
    );
}
