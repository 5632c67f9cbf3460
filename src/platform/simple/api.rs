//! Typed calls for every endpoint of CONTRACT.md §3, through the shared
//! call loop (`api::call`), and the simple contract's dialect: how its
//! answers read and how a 403 is explained.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::model::{
    AgentWeek, Entities, Organization, PublishResult, ScheduleInfo, Shift, Swap, SwapPage,
    SwapStatus, Template, WriteResult,
};
use crate::api::call::{Call, Diagnosis, Dialect, LockRole};
use crate::api::classify::Classified;
use crate::api::scopes::{self, Operation};
use crate::api::throttle::Bucket;
use crate::api::token::AccessToken;
use crate::api::{PendingAgent, PlatformClient, PlatformError};
use crate::domain::{AgentId, SwapId};

/// What a call is about, so that a 403 can be explained.
#[derive(Debug, Clone)]
pub struct Subject {
    op: Operation,
    schedule_id: Option<String>,
    agents: Vec<AgentId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Written { version: u64 },
    Deferred { swap_id: SwapId },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    Published {
        agent_ids: Vec<AgentId>,
        version: u64,
    },
    Deferred {
        pending: Vec<PendingAgent>,
    },
}

/// The simple contract's platform, as one OAuth client sees it. Cheap to
/// clone; clones share the client and what the diagnosis learned.
#[derive(Clone)]
pub struct SimpleApi {
    client: PlatformClient,
    /// Each schedule's organization, as read: a 403 on another
    /// organization's schedule is told apart without reading it again.
    schedule_orgs: Arc<Mutex<HashMap<String, String>>>,
}

impl SimpleApi {
    pub fn new(client: PlatformClient) -> Self {
        SimpleApi {
            client,
            schedule_orgs: Arc::default(),
        }
    }

    pub fn client(&self) -> &PlatformClient {
        &self.client
    }

    /// The same platform, its calls counted in a fresh set of statistics
    /// (`PlatformClient::for_run`).
    pub fn for_run(&self) -> SimpleApi {
        SimpleApi {
            client: self.client.for_run(),
            schedule_orgs: self.schedule_orgs.clone(),
        }
    }

    /// A token that holds every scope `needed`, or the one-line reason why
    /// not. A run calls this before its first write.
    pub async fn require_scopes(&self, needed: &[Operation]) -> Result<AccessToken, PlatformError> {
        let token = self.client.tokens().token().await?;
        match scopes::missing(&token.granted, needed).first() {
            None => Ok(token),
            Some(op) => Err(self.missing_scope(*op, &token.granted)),
        }
    }

    fn missing_scope(&self, op: Operation, granted: &[String]) -> PlatformError {
        PlatformError::MissingScope {
            scope: op.scope(),
            operation: op,
            granted: granted.join(" "),
            client_id: self.client.tokens().client_id().to_owned(),
        }
    }

    pub async fn organization(&self) -> Result<Organization, PlatformError> {
        let call = self.call(
            Operation::ReadOrganization,
            Method::GET,
            &["organizations", "me"],
        );
        self.json(&call).await
    }

    pub async fn templates(&self) -> Result<Vec<Template>, PlatformError> {
        let segments = ["wfm", "schedule", "templates"];
        let call = self.call(Operation::ReadTemplates, Method::GET, &segments);
        Ok(self.json::<Entities<Template>>(&call).await?.entities)
    }

    pub async fn schedule(&self, schedule_id: &str) -> Result<ScheduleInfo, PlatformError> {
        self.read_schedule(schedule_id, true).await
    }

    async fn read_schedule(
        &self,
        schedule_id: &str,
        explained: bool,
    ) -> Result<ScheduleInfo, PlatformError> {
        let segments = ["wfm", "schedule", schedule_id];
        let mut call = self.call(Operation::ReadSchedule, Method::GET, &segments);
        call.subject = explained.then(|| Subject {
            schedule_id: Some(schedule_id.to_owned()),
            ..subject_of(Operation::ReadSchedule)
        });
        let info: ScheduleInfo = self.json(&call).await?;
        self.schedule_orgs
            .lock()
            .expect("schedule orgs")
            .insert(info.id.clone(), info.org_id.clone());
        Ok(info)
    }

    /// Every swap of a schedule, following `nextCursor` to the last page.
    pub async fn swaps(
        &self,
        schedule_id: &str,
        status: Option<SwapStatus>,
    ) -> Result<Vec<Swap>, PlatformError> {
        self.swaps_with(schedule_id, status, true).await
    }

    async fn swaps_with(
        &self,
        schedule_id: &str,
        status: Option<SwapStatus>,
        explained: bool,
    ) -> Result<Vec<Swap>, PlatformError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut call = self.call(Operation::ReadSwaps, Method::GET, &["wfm", "shiftswaps"]);
            call.subject = explained.then(|| Subject {
                schedule_id: Some(schedule_id.to_owned()),
                ..subject_of(Operation::ReadSwaps)
            });
            call.query.push(("scheduleId", schedule_id.to_owned()));
            if let Some(s) = status {
                call.query.push(("status", s.as_str().to_owned()));
            }
            call.query.push(("pageSize", "100".to_owned()));
            if let Some(c) = cursor.take() {
                call.query.push(("cursor", c));
            }
            let page: SwapPage = self.json(&call).await?;
            all.extend(page.entities);
            match page.next_cursor {
                Some(next) if !next.is_empty() => {
                    if all.len() > 1_000_000 {
                        return Err(PlatformError::Malformed {
                            endpoint: call.endpoint,
                            message: "pagination does not end".into(),
                        });
                    }
                    cursor = Some(next);
                }
                _ => return Ok(all),
            }
        }
    }

    pub async fn swap(&self, swap_id: &str) -> Result<Swap, PlatformError> {
        let call = self.call(
            Operation::ReadSwaps,
            Method::GET,
            &["wfm", "shiftswaps", swap_id],
        );
        self.json(&call).await
    }

    /// Replaces an agent's week in a schedule, or says which swap holds it.
    pub async fn write_agent(
        &self,
        schedule_id: &str,
        agent_id: &AgentId,
        shifts: &[Shift],
    ) -> Result<WriteOutcome, PlatformError> {
        let segments = ["wfm", "schedule", "agent", agent_id.as_str()];
        let mut call = self.call(Operation::WriteAgent, Method::PUT, &segments);
        call.body = Some(to_body(&AgentWeek {
            schedule_id,
            shifts,
        }));
        call.lock = LockRole::Write(schedule_id.to_owned());
        call.subject = Some(Subject {
            op: Operation::WriteAgent,
            schedule_id: Some(schedule_id.to_owned()),
            agents: vec![agent_id.clone()],
        });
        match self.json::<WriteResult>(&call).await {
            Ok(r) => Ok(WriteOutcome::Written { version: r.version }),
            Err(PlatformError::PendingSwap { pending }) => Ok(WriteOutcome::Deferred {
                swap_id: pending
                    .into_iter()
                    .next()
                    .map(|p| p.swap_id)
                    .unwrap_or_default(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Publishes up to 500 agents, or says which of them wait for a swap.
    pub async fn publish(
        &self,
        schedule_id: &str,
        agent_ids: &[AgentId],
    ) -> Result<PublishOutcome, PlatformError> {
        let segments = ["wfm", "schedule", "publish"];
        let mut call = self.call(Operation::Publish, Method::POST, &segments);
        call.body = Some(to_body(&serde_json::json!({
            "scheduleId": schedule_id,
            "agentIds": agent_ids,
        })));
        call.buckets = &[Bucket::Publish];
        call.lock = LockRole::Publish(schedule_id.to_owned());
        call.subject = Some(Subject {
            op: Operation::Publish,
            schedule_id: Some(schedule_id.to_owned()),
            agents: agent_ids.to_vec(),
        });
        match self.json::<PublishResult>(&call).await {
            Ok(r) => Ok(PublishOutcome::Published {
                agent_ids: r
                    .published_agent_ids
                    .into_iter()
                    .map(AgentId::from)
                    .collect(),
                version: r.version,
            }),
            Err(PlatformError::PendingSwap { pending }) => Ok(PublishOutcome::Deferred { pending }),
            Err(e) => Err(e),
        }
    }

    /// A call of `op` to `/api/v2/…segments`, its 403 explained.
    fn call(&self, op: Operation, method: Method, segments: &[&str]) -> Call<Subject> {
        let path: Vec<&str> = ["api", "v2"].iter().chain(segments).copied().collect();
        Call {
            endpoint: format!("{method} /{}", path.join("/")),
            url: crate::api::url::endpoint(self.client.transport().api_base, &path),
            method,
            query: Vec::new(),
            body: None,
            label: op.label(),
            buckets: &[Bucket::Default],
            lock: LockRole::Free,
            subject: Some(subject_of(op)),
        }
    }

    async fn json<T: DeserializeOwned>(&self, call: &Call<Subject>) -> Result<T, PlatformError> {
        let (_, body) = self.client.call(self, call).await?;
        serde_json::from_slice(&body)
            .map_err(|e| PlatformError::malformed(call.endpoint.clone(), &e))
    }
}

fn subject_of(op: Operation) -> Subject {
    Subject {
        op,
        schedule_id: None,
        agents: Vec::new(),
    }
}

fn to_body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("request bodies serialize")
}

impl Dialect for SimpleApi {
    type Subject = Subject;

    fn classify(
        &self,
        endpoint: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Classified {
        super::answers::classify(endpoint, status, headers, body)
    }

    fn explain<'a>(
        &'a self,
        subject: &'a Subject,
        token: &'a AccessToken,
        fresh_token_tried: bool,
        unexplained: PlatformError,
    ) -> BoxFuture<'a, Diagnosis> {
        Box::pin(self.diagnose(subject, token, fresh_token_tried, unexplained))
    }
}

impl SimpleApi {
    /// Explains a 403, in the order the causes can be told apart: a stale
    /// token, a missing scope, another organization, a pending swap.
    async fn diagnose(
        &self,
        subject: &Subject,
        token: &AccessToken,
        fresh_token_tried: bool,
        unexplained: PlatformError,
    ) -> Diagnosis {
        let introspection = self.client.tokens().introspect(token).await;
        match &introspection {
            Ok(i) if !i.active && !fresh_token_tried => return Diagnosis::StaleToken,
            Err(_) if !fresh_token_tried => return Diagnosis::StaleToken,
            _ => {}
        }
        let introspection = introspection.ok();
        let granted = introspection
            .as_ref()
            .and_then(|i| i.scope.as_deref())
            .map(scopes::parse_scope_list)
            .unwrap_or_else(|| token.granted.clone());
        if !granted.iter().any(|g| g == subject.op.scope()) {
            return Diagnosis::Final(self.missing_scope(subject.op, &granted));
        }
        let Some(schedule_id) = &subject.schedule_id else {
            return Diagnosis::Final(unexplained);
        };
        let token_org = introspection.and_then(|i| i.org_id);
        if let Some(e) = self
            .organization_mismatch(schedule_id, token_org, &granted)
            .await
        {
            return Diagnosis::Final(e);
        }
        if subject.op.touches_agents() && !subject.agents.is_empty() {
            let held = self.held_by_swaps(schedule_id, &subject.agents).await;
            if !held.is_empty() {
                return Diagnosis::Final(PlatformError::PendingSwap { pending: held });
            }
        }
        Diagnosis::Final(unexplained)
    }

    /// The agents of `agents` a pending swap of the schedule holds, as far
    /// as the swaps can be read.
    async fn held_by_swaps(&self, schedule_id: &str, agents: &[AgentId]) -> Vec<PendingAgent> {
        let pending = self.swaps_with(schedule_id, Some(SwapStatus::Pending), false);
        let Ok(pending) = pending.await else {
            return Vec::new();
        };
        agents
            .iter()
            .filter_map(|a| {
                let swap = pending.iter().find(|s| s.involves(a.as_str()))?;
                Some(PendingAgent {
                    agent_id: a.clone(),
                    swap_id: SwapId::from(swap.id.as_str()),
                })
            })
            .collect()
    }

    async fn organization_mismatch(
        &self,
        schedule_id: &str,
        token_org: Option<String>,
        granted: &[String],
    ) -> Option<PlatformError> {
        let token_org = match token_org {
            Some(org) => org,
            None => self.organization().await.ok()?.id,
        };
        let known = self
            .schedule_orgs
            .lock()
            .expect("schedule orgs")
            .get(schedule_id)
            .cloned();
        let schedule_org = match known {
            Some(org) => org,
            None => match self.read_schedule(schedule_id, false).await {
                Ok(info) => info.org_id,
                // With the read scope held, only another organization
                // explains a 403 on the schedule itself.
                Err(PlatformError::Forbidden { .. })
                    if granted.iter().any(|g| g == Operation::ReadSchedule.scope()) =>
                {
                    "another organization".to_owned()
                }
                Err(_) => return None,
            },
        };
        (schedule_org != token_org).then(|| PlatformError::WrongOrganization {
            schedule_id: schedule_id.to_owned(),
            schedule_org,
            token_org,
            client_id: self.client.tokens().client_id().to_owned(),
        })
    }
}
