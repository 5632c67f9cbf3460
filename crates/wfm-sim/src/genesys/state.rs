//! Everything the simulated organization holds while it runs, free of HTTP.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::access::{Token, Window};
use super::errors::GError;
use super::model::{self, Schedule};
use super::notifications::Channel;
use super::record::Record;
use super::scenario::{self, Scenario, User};
use super::silent::Silent;
use super::trades::{Job, Trade};
use super::update::PendingOp;
use super::uploads::Upload;

/// An agent-schedule query answered `Processing`, ready at `ready`.
#[derive(Debug, Clone)]
pub struct PendingQuery {
    pub operation_id: String,
    pub ready: DateTime<Utc>,
}

#[derive(Debug)]
pub struct State {
    pub scenario: Scenario,
    pub started: DateTime<Utc>,
    /// `http://127.0.0.1:port`, for the URLs the platform hands out.
    pub base_url: String,
    pub users: Vec<User>,
    pub schedules: Vec<Schedule>,
    pub tokens: HashMap<String, Token>,
    pub windows: HashMap<(String, &'static str), Window>,
    pub uploads: HashMap<String, Upload>,
    pub pending_ops: HashMap<String, PendingOp>,
    pub queries: HashMap<String, PendingQuery>,
    /// Bodies behind `downloadUrl`s, by key.
    pub downloads: HashMap<String, Value>,
    pub trades: Vec<Trade>,
    pub jobs: HashMap<String, Job>,
    pub channels: HashMap<String, Channel>,
    /// The host a `silent` notification socket leads to, once asked for.
    pub silent: Option<Silent>,
    pub record: Record,
    pub rng: fastrand::Rng,
    next_id: u64,
}

impl State {
    pub fn new(scenario: Scenario, started: DateTime<Utc>, base_url: String) -> Self {
        let users = scenario.all_users();
        let schedules = model::initial_schedules(&scenario, started);
        let trades = super::trades::initial(&scenario, &schedules, started);
        State {
            rng: fastrand::Rng::with_seed(scenario.server.seed),
            scenario,
            started,
            base_url,
            users,
            schedules,
            tokens: HashMap::new(),
            windows: HashMap::new(),
            uploads: HashMap::new(),
            pending_ops: HashMap::new(),
            queries: HashMap::new(),
            downloads: HashMap::new(),
            trades,
            jobs: HashMap::new(),
            channels: HashMap::new(),
            silent: None,
            record: Record::default(),
            next_id: 0,
        }
    }

    /// A fresh id, unique in this run, readable in logs: `{prefix}-{n}-{random}`.
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        let salt = self.rng.u32(..);
        format!("{prefix}-{}-{salt:08x}", self.next_id)
    }

    /// Whether an event with probability `rate` happens now.
    pub fn roll(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.rng.f64() < rate
    }

    pub fn business_unit(&self, id: &str) -> Result<&scenario::BusinessUnit, GError> {
        self.scenario
            .business_units
            .iter()
            .find(|b| b.id == id)
            .ok_or_else(|| GError::NotFound(format!("business unit {id}")))
    }

    pub fn management_unit(&self, id: &str) -> Option<&scenario::ManagementUnit> {
        self.scenario.management_units.iter().find(|m| m.id == id)
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The business unit a user's management unit belongs to.
    pub fn user_bu(&self, id: &str) -> Option<&str> {
        let mu = self.management_unit(&self.user(id)?.management_unit)?;
        Some(mu.business_unit.as_str())
    }

    pub fn schedule_index(&self, bu: &str, id: &str) -> Result<usize, GError> {
        self.schedules
            .iter()
            .position(|s| s.id == id && s.bu == bu)
            .ok_or_else(|| GError::NotFound(format!("schedule {id}")))
    }

    /// Each MU of a BU with its users, in scenario order.
    pub fn units_of(&self, bu: &str) -> Vec<(String, Vec<String>)> {
        self.scenario
            .management_units
            .iter()
            .filter(|m| m.business_unit == bu)
            .map(|m| {
                let users = self
                    .users
                    .iter()
                    .filter(|u| u.management_unit == m.id)
                    .map(|u| u.id.clone())
                    .collect();
                (m.id.clone(), users)
            })
            .collect()
    }

    /// The record, with what the organization holds now filled in.
    pub fn snapshot(&self) -> Record {
        let mut r = self.record.clone();
        for s in &self.schedules {
            r.published.insert(s.id.clone(), s.published);
            r.versions.insert(s.id.clone(), s.version);
            for (user, a) in &s.agents {
                r.holdings
                    .insert((s.id.clone(), user.clone()), a.shifts.clone());
            }
        }
        for t in &self.trades {
            r.trade_states.insert(t.def.id.clone(), t.state);
        }
        r.silent_socket_connections = self.silent.as_ref().map_or(0, Silent::accepted);
        r
    }
}
