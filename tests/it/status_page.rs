//! The admin endpoint's status page in a real browser (Debian's headless
//! Chromium through chromedriver): a running publication's counts move and
//! a deferred agent leaves the list when its trade is decided, without the
//! page being reloaded; unpublished agents are grouped by cause with the
//! fix said once; the page refuses a browser without the admin token; and
//! agent ids from the source file render as text, however hostile.

use crate::common::browser::Browser;
use crate::common::running::Running;
use crate::common::*;
use serde_json::Value;
use wfm_publisher::sim::{Scenario, SimHandle, SwapStatus};
use wfm_publisher::testbed::TargetSection;

/// Markup, both quotes and an event handler: no slash, so the source
/// file's checks take it as an id, and the platform knows the agent.
const HOSTILE: &str = "<script>window.pwned=1<img src=x onerror=\"window.pwned=2\">'";

/// An ANSI escape and markup: the file's checks refuse it (a control
/// character), and the refusal, quoting it, is on the page.
const ANSI: &str = "\u{1b}[31m<b>red</b>\u{1b}[0m";

const TOKEN: &str = "page-admin-token";

/// The small scenario's week, HOSTILE on its roster, and two trades that
/// stay pending until the test decides them: a-1 with a-2, and HOSTILE
/// with a-3.
fn scenario() -> Scenario {
    let mut s = small_scenario();
    s.server.publish_duration = std::time::Duration::from_millis(20);
    s.server.publish_lock = std::time::Duration::ZERO;
    s.schedules[0].agents.push(HOSTILE.to_owned());
    for swap in &mut s.swaps {
        swap.resolve_after = None;
        swap.resolution = None;
    }
    s.swaps[1].requester.agent_id = HOSTILE.to_owned();
    s.swaps[1].requester.shift = None;
    s.swaps[1].recipient.agent_id = "a-3".to_owned();
    s
}

/// A CSV field, quoted.
fn field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The week: the roster's ten agents, HOSTILE, and two agents the platform
/// does not know.
fn week_csv() -> String {
    let mut csv = String::from("agent_id,date,start,end,activity\n");
    let mut agents: Vec<String> = (1..=10).map(|n| format!("a-{n}")).collect();
    agents.extend([HOSTILE.to_owned(), "ghost-1".into(), "ghost-2".into()]);
    for agent in agents {
        csv.push_str(&format!("{},{},08:00,16:00,phone\n", field(&agent), day(1)));
    }
    csv
}

/// chicago publishes the week; dallas' file has the ANSI id.
async fn start(sim: &SimHandle) -> (Running, TestConfig) {
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.write_secret("admin_token", TOKEN).unwrap();
    cfg.change(|c| {
        c.admin.token_file("admin_token");
        c.target("chicago").deferral.poll_interval(secs(1));
        let mut dallas = TargetSection::chicago("dallas");
        dallas.schedule_id("dallas-{week_start}");
        c.targets.insert("dallas".into(), dallas);
    });
    cfg.write_week("chicago", week(), &week_csv()).unwrap();
    let ansi = format!(
        "agent_id,date,start,end,activity\n{},{},08:00,16:00,phone\n",
        field(ANSI),
        day(1)
    );
    cfg.write_week("dallas", week(), &ansi).unwrap();
    let running = Running::start(&cfg.path, &["chicago", "dallas"], week(), false).await;
    (running, cfg)
}

/// A script's argument as a JavaScript string literal.
fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// What chicago's section shows: the agents by state, the deferred
/// agents, the run's outcome.
const CHICAGO: &str = "var t = document.querySelector('[data-target=chicago]'); if (!t) return null; \
    var counts = {}; t.querySelectorAll('[data-count]').forEach(function (c) { counts[c.getAttribute('data-count')] = Number(c.textContent) }); \
    var deferred = Array.from(t.querySelectorAll('.deferred tbody tr')).map(function (r) { return r.getAttribute('data-agent') }); \
    var run = t.querySelector('.runs tbody tr .outcome'); \
    return {counts: counts, deferred: deferred, outcome: run ? run.textContent : null, marker: window.stillThisPage === true};";

fn count(seen: &Value, state: &str) -> u64 {
    seen["counts"][state].as_u64().unwrap_or(u64::MAX)
}

fn deferred(seen: &Value) -> Vec<String> {
    seen["deferred"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_in_a_browser() {
    let sim = spawn_sim(scenario()).await;
    let (running, _cfg) = start(&sim).await;
    let addr = running.daemon.admin_addr().unwrap();
    let browser = Browser::start().await;

    // Without the token, or with a wrong one: refused (a browser without
    // a person to ask for the token ends on its error page), nothing of
    // the targets shown.
    for url in [
        format!("http://{addr}/"),
        format!("http://admin:wrong@{addr}/"),
    ] {
        browser.goto(&url).await;
        let seen = browser
            .eval("return {status: performance.getEntriesByType('navigation')[0].responseStatus, html: document.documentElement.outerHTML}")
            .await;
        assert_eq!(seen["status"], 401, "{url}: {seen}");
        assert!(
            !seen["html"].as_str().unwrap().contains("chicago"),
            "{url}: {seen}"
        );
    }

    // The token as the Basic password, as a browser asks for it.
    browser.goto(&format!("http://admin:{TOKEN}@{addr}/")).await;
    let first = browser
        .wait_for(
            "the agents held by the two trades, the unknown ones unpublished, the rest published",
            CHICAGO,
            |v| {
                deferred(v).len() == 4 && count(v, "published") == 7 && count(v, "unpublished") == 2
            },
        )
        .await;
    assert_eq!(first["outcome"], "running", "{first}");
    let mut held = deferred(&first);
    held.sort();
    assert_eq!(held, [HOSTILE, "a-1", "a-2", "a-3"]);
    let countdown = browser
        .eval("return document.querySelector('[data-target=chicago] .deferred [data-countdown]').textContent")
        .await;
    assert!(
        countdown.as_str().is_some_and(|t| t.ends_with(" left")),
        "the deferral deadline counts down: {countdown}"
    );
    // From here on, only the page's own refreshes may change what it shows.
    browser
        .eval("window.stillThisPage = true; return true")
        .await;

    pausing_works_from_the_keyboard(&browser).await;
    hostile_text_stays_text(&browser).await;
    unknown_agents_are_one_cause_with_one_fix(&browser).await;
    the_ansi_refusal_is_text(&browser).await;

    // a-1's trade is denied: a-1 and a-2 leave the list and are published,
    // while HOSTILE's trade keeps the run going.
    let trade = format!(
        "return document.querySelector('[data-target=chicago] .deferred tr[data-agent={}] td code').textContent",
        js("a-1")
    );
    let trade = browser.eval(&trade).await;
    let trade = trade.as_str().expect("a-1's trade id").to_owned();
    assert!(sim.swap_statuses().contains_key(&trade), "{trade}");
    // A report opened by hand stays open through the refreshes.
    let report = "document.querySelector('[data-target=dallas] .runs details')";
    browser
        .eval(&format!("{report}.open = true; return true"))
        .await;
    assert!(sim.resolve_swap(&trade, SwapStatus::Denied));
    let after = browser
        .wait_for(
            "a-1 and a-2 published after their trade was denied",
            CHICAGO,
            |v| deferred(v).len() == 2 && count(v, "published") == 9,
        )
        .await;
    assert_eq!(after["outcome"], "running", "{after}");
    assert_eq!(
        after["marker"], true,
        "refreshed by its script, not reloaded"
    );
    let open = browser.eval(&format!("return {report}.open")).await;
    assert_eq!(open, true, "the opened report stayed open");
    let mut held = deferred(&after);
    held.sort();
    assert_eq!(held, [HOSTILE, "a-3"]);
    let chart = browser
        .eval("return document.querySelectorAll('[data-target=chicago] svg.chart polyline').length")
        .await;
    assert_eq!(chart, 4, "the timeline's four series");

    if let Ok(path) = std::env::var("WFM_STATUS_PAGE_SCREENSHOT") {
        std::fs::write(path, browser.screenshot().await).unwrap();
    }
    browser.close().await;
    running.stop().await;
}

/// The refresh's pause button, by keyboard: Enter pauses, Enter resumes.
async fn pausing_works_from_the_keyboard(browser: &Browser) {
    let pressed = "return document.getElementById('pause').getAttribute('aria-pressed')";
    browser.press("#pause", "\u{e007}").await;
    assert_eq!(browser.eval(pressed).await, "true");
    browser.press("#pause", "\u{e007}").await;
    assert_eq!(browser.eval(pressed).await, "false");
    let named = browser
        .eval("var svg = document.querySelector('svg.chart'); return svg ? svg.getAttribute('aria-labelledby').split(' ').map(function (id) { return document.getElementById(id).textContent }) : null")
        .await;
    assert!(
        named[0]
            .as_str()
            .is_some_and(|t| t.starts_with("Writes, publishes, 429s and lock waits")),
        "the chart is named: {named}"
    );
}

/// The hostile id is the exact text of its row's header, nothing of it
/// ran, and no element came of it.
async fn hostile_text_stays_text(browser: &Browser) {
    let script = format!(
        "var row = Array.from(document.querySelectorAll('[data-target=chicago] .deferred tbody tr')).find(function (r) {{ return r.getAttribute('data-agent') === {} }}); \
         return {{text: row ? row.querySelector('th').textContent : null, pwned: typeof window.pwned, \
                  images: document.images.length, scripts: document.scripts.length, bold: document.querySelectorAll('main b').length}};",
        js(HOSTILE)
    );
    let seen = browser.eval(&script).await;
    assert_eq!(seen["text"], HOSTILE, "{seen}");
    assert_eq!(seen["pwned"], "undefined", "{seen}");
    assert_eq!(seen["images"], 0, "{seen}");
    assert_eq!(seen["scripts"], 1, "only the page's own script: {seen}");
    assert_eq!(seen["bold"], 0, "{seen}");
}

/// ghost-1 and ghost-2 under one cause, its fix said once.
async fn unknown_agents_are_one_cause_with_one_fix(browser: &Browser) {
    let script = "var c = document.querySelector('[data-target=chicago] [data-cause=unknown_agent]'); if (!c) return null; \
        return {heading: c.querySelector('h4').textContent, fixes: c.querySelectorAll('.fix').length, \
                fix: c.querySelector('.fix').textContent, \
                agents: Array.from(c.querySelectorAll('.agents li')).map(function (l) { return l.textContent })};";
    let cause = browser
        .wait_for("the unknown agents' cause", script, |v| !v.is_null())
        .await;
    assert_eq!(cause["heading"], "Unknown to the platform (2)", "{cause}");
    assert_eq!(cause["fixes"], 1, "{cause}");
    let fix = cause["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("Fix: The platform has no agent with these ids"),
        "{fix}"
    );
    assert!(
        fix.contains("roster") && fix.contains("run the target again"),
        "{fix}"
    );
    assert_eq!(cause["agents"], serde_json::json!(["ghost-1", "ghost-2"]));
}

/// dallas' refusal quotes the ANSI id: escaped as text in its report.
async fn the_ansi_refusal_is_text(browser: &Browser) {
    let script = "var r = document.querySelector('[data-target=dallas] .runs tbody tr'); if (!r) return null; \
        return {outcome: r.querySelector('.outcome').textContent, report: r.querySelector('pre').textContent};";
    let run = browser
        .wait_for("dallas' refused run", script, |v| !v.is_null())
        .await;
    assert_eq!(run["outcome"], "refused", "{run}");
    let report = run["report"].as_str().unwrap();
    assert!(report.contains("\\u{1b}[31m<b>red</b>"), "{report}");
    assert!(!report.contains('\u{1b}'), "{report}");
}
