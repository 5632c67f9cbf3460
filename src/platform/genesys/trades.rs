//! Shift trades through the business-unit jobs API (genesys-cloud/CONTRACT.md
//! §6; the legacy management-unit routes are deprecated): a query job for
//! the run's week, its users and management units, answered inline (200)
//! or as a job to poll (202). Genesys's six states map onto the
//! publisher's swaps: `Matched` awaits a decision (both agents wait),
//! `Unmatched` is an open offer that defers nobody.

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::http::GenesysHttp;
use super::setup::{Facts, WFM};
use super::wire::{DownloadedTrades, Trade, TradeJob, TradeSide};
use crate::api::PlatformError;
use crate::clock::SharedClock;
use crate::domain::plan::{Span, Swap, SwapParty, SwapStatus};
use crate::domain::AgentId;

const POLL: Duration = Duration::from_secs(2);
const POLLS: u32 = 60;

/// Every trade of the run's week that concerns its users, as swaps.
pub async fn query(
    http: &GenesysHttp,
    clock: &SharedClock,
    facts: &Facts,
) -> Result<Vec<Swap>, PlatformError> {
    let path = format!(
        "{WFM}/businessunits/{}/shifttrading/trades/query/jobs",
        facts.business_unit
    );
    let users: Vec<&String> = facts.users.values().collect();
    let body = json!({
        "managementUnitIds": facts.management_units,
        "weekDates": [facts.week],
        "userIds": users,
    });
    let (status, mut job): (StatusCode, TradeJob) =
        http.json_status(Method::POST, &path, &body).await?;
    let mut polls = 0;
    // Genesys warns to handle 202 even where tests always answer at once.
    while status == StatusCode::ACCEPTED && job.status == "Processing" {
        polls += 1;
        if polls > POLLS {
            return Err(PlatformError::GaveUpWaiting {
                endpoint: format!("GET /{path}/{}", job.id),
                what: "the shift trade query",
                elapsed_secs: POLL.as_secs() * u64::from(POLLS),
            });
        }
        clock.sleep(POLL).await;
        job = http
            .json(Method::GET, &format!("{path}/{}", job.id), None::<&()>)
            .await?;
    }
    if job.status != "Complete" {
        return Err(PlatformError::OperationFailed {
            what: format!("POST /{path}"),
            operation_id: job.id,
            status: job.status,
            hint: "the shift trade query failed; the run retries at the next poll".into(),
        });
    }
    // The size at which the platform moves a result to a download is not
    // documented: the field is honoured whenever it is there.
    let trades = match (job.download_url, job.query_trades_result) {
        (Some(url), _) => {
            let downloaded: DownloadedTrades = http.download(&url, "the shift trades").await?;
            downloaded.trades()
        }
        (None, Some(result)) => result.entities,
        (None, None) => {
            return Err(PlatformError::Malformed {
                endpoint: format!("POST /{path}"),
                message: "a Complete trade query with neither queryTradesResult nor downloadUrl"
                    .into(),
            })
        }
    };
    Ok(trades.iter().filter_map(|t| swap(t, facts)).collect())
}

fn status(state: &str) -> Option<SwapStatus> {
    match state {
        "Matched" => Some(SwapStatus::Pending),
        "Approved" => Some(SwapStatus::Approved),
        "Denied" => Some(SwapStatus::Denied),
        "Expired" => Some(SwapStatus::Expired),
        "Canceled" => Some(SwapStatus::Canceled),
        // An open offer changes nothing until someone takes it.
        _ => None,
    }
}

fn party(side: &TradeSide, facts: &Facts) -> SwapParty {
    SwapParty {
        agent_id: facts
            .agents
            .get(&side.user.id)
            .cloned()
            .unwrap_or_else(|| AgentId::from(side.user.id.as_str())),
        shift: side.shift.as_ref().map(|s| Span {
            start: s.start_date,
            end: s.end_date,
        }),
    }
}

fn swap(trade: &Trade, facts: &Facts) -> Option<Swap> {
    let status = status(&trade.state)?;
    let receiving = trade.receiving.as_ref()?;
    Some(Swap {
        id: trade.id.as_str().into(),
        status,
        requester: party(&trade.initiating, facts),
        recipient: party(receiving, facts),
        updated_at: trade
            .metadata
            .as_ref()
            .and_then(|m| m.date_modified)
            .unwrap_or_else(Utc::now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_states_map_onto_five_and_an_open_offer_onto_none() {
        assert_eq!(status("Matched"), Some(SwapStatus::Pending));
        assert_eq!(status("Approved"), Some(SwapStatus::Approved));
        assert_eq!(status("Canceled"), Some(SwapStatus::Canceled));
        assert_eq!(status("Unmatched"), None);
    }
}
