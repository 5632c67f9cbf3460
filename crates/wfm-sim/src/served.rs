//! What `sim` prints once it listens: the OAuth clients a publisher can
//! use and the schedules it can publish to, as served (after re-dating),
//! so that a configuration can be written from the output alone.

use std::fmt::Write as _;

use super::AnyScenario;

/// One OAuth client of the scenario: its id and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedClient {
    pub client_id: String,
    /// Scopes (simple contract) or permissions (Genesys Cloud).
    pub grants: Vec<String>,
}

/// One schedule of the scenario, for the week it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedSchedule {
    pub id: String,
    pub week: chrono::NaiveDate,
    /// The time zone (simple) or business unit (Genesys Cloud) it is for.
    pub place: String,
    pub agents: usize,
    pub published: bool,
    /// Shift swaps (simple) or trades (Genesys Cloud) on it.
    pub swaps: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub clients: Vec<ServedClient>,
    pub schedules: Vec<ServedSchedule>,
}

impl AnyScenario {
    /// The clients and schedules this scenario serves.
    pub fn served(&self) -> Served {
        match self {
            AnyScenario::Simple(s) => Served {
                clients: s
                    .clients
                    .iter()
                    .map(|c| ServedClient {
                        client_id: c.client_id.clone(),
                        grants: c.scopes.clone(),
                    })
                    .collect(),
                schedules: s
                    .schedules
                    .iter()
                    .map(|d| ServedSchedule {
                        id: d.id.clone(),
                        week: d.week_start,
                        place: d.time_zone.name().to_owned(),
                        agents: d.roster().len(),
                        published: d.published,
                        swaps: s.swaps.iter().filter(|w| w.schedule_id == d.id).count(),
                    })
                    .collect(),
            },
            AnyScenario::Genesys(g) => genesys_served(g),
        }
    }
}

fn genesys_served(g: &super::genesys::Scenario) -> Served {
    let users = g.all_users();
    let schedules = g.schedules.iter().map(|d| {
        let generated = users
            .iter()
            .filter(|u| d.generated_agents.iter().any(|p| is_of_block(&u.id, p)))
            .count();
        let unit = g.business_units.iter().find(|b| b.id == d.business_unit);
        ServedSchedule {
            id: d.id.clone(),
            week: d.week_date,
            place: unit.map_or_else(|| d.business_unit.clone(), |b| b.name.clone()),
            agents: d.agents.len() + generated,
            published: d.published,
            swaps: g.trades.iter().filter(|t| t.schedule == d.id).count(),
        }
    });
    Served {
        clients: g
            .clients
            .iter()
            .map(|c| ServedClient {
                client_id: c.client_id.clone(),
                grants: c.grants.iter().map(|g| g.permission.clone()).collect(),
            })
            .collect(),
        schedules: schedules.collect(),
    }
}

/// Whether `user` is one of the generated block `prefix` (prefix + a number).
fn is_of_block(user: &str, prefix: &str) -> bool {
    user.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Served {
    /// One line per client and per schedule.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.clients {
            let _ = writeln!(out, "client {}: {}", c.client_id, c.grants.join(" "));
        }
        for s in &self.schedules {
            let _ = writeln!(
                out,
                "schedule {}: week of {}, {}, {} agents, {} swaps{}",
                s.id,
                s.week,
                s.place,
                s.agents,
                s.swaps,
                if s.published { ", published" } else { "" }
            );
        }
        out
    }
}
