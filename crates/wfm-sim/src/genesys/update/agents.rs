//! One agent's part of an update: its shifts added, changed or deleted,
//! each checked as the platform checks it.

use super::*;

impl State {
    pub(super) fn apply_agent(
        &mut self,
        op: &PendingOp,
        span: (DateTime<Utc>, DateTime<Utc>),
        agents: &mut BTreeMap<String, AgentSchedule>,
        a: &AgentUpload,
    ) -> Result<(), String> {
        let user = self
            .user(&a.user_id)
            .filter(|_| self.user_bu(&a.user_id) == Some(op.bu.as_str()))
            .ok_or_else(|| format!("user {} is not in business unit {}", a.user_id, op.bu))?
            .clone();
        if let Some(teams) = &op.teams {
            if !user.team.as_ref().is_some_and(|t| teams.contains(t)) {
                return Err(format!("user {} is outside teams {teams:?}", user.id));
            }
        }
        let existing = agents.get(&a.user_id).cloned();
        let sent = a.metadata.as_ref().and_then(|m| m.version);
        if let Some(current) = &existing {
            match sent {
                None => return Err(format!("agent {}: metadata.version is missing", user.id)),
                Some(v) if v != current.version => {
                    return Err(format!(
                        "agent {}: stale version {v}, current {}",
                        user.id, current.version
                    ))
                }
                Some(_) => {}
            }
        }
        if a.delete == Some(true) {
            return match agents.remove(&a.user_id) {
                Some(_) => Ok(()),
                None => Err(format!("agent {}: no schedule to delete", user.id)),
            };
        }
        let mut shifts = existing
            .as_ref()
            .map(|e| e.shifts.clone())
            .unwrap_or_default();
        for s in &a.shifts {
            self.apply_shift(&mut shifts, s, &user.id)?;
        }
        self.validate_shifts(&op.bu, span, &shifts, &user.id)?;
        let time_off = match &a.full_day_time_off_markers {
            Some(m) => m.clone(),
            None => existing
                .as_ref()
                .map(|e| e.time_off.clone())
                .unwrap_or_default(),
        };
        let version = existing.map_or(1, |e| e.version + 1);
        agents.insert(
            a.user_id.clone(),
            AgentSchedule {
                shifts,
                time_off,
                version,
            },
        );
        Ok(())
    }

    fn apply_shift(
        &mut self,
        shifts: &mut Vec<Shift>,
        s: &ShiftUpload,
        user: &str,
    ) -> Result<(), String> {
        let activities = s
            .activities
            .as_ref()
            .map(|list| list.iter().map(activity).collect::<Vec<_>>());
        let Some(id) = &s.id else {
            if s.delete == Some(true) {
                return Err(format!("agent {user}: delete needs a shift id"));
            }
            let (Some(start), Some(length), Some(activities)) =
                (s.start_date, s.length_minutes, activities)
            else {
                return Err(format!(
                    "agent {user}: a new shift needs startDate, lengthMinutes and activities"
                ));
            };
            shifts.push(Shift {
                id: self.new_id("shift"),
                start_date: start,
                length_minutes: length,
                activities,
                manually_edited: s.manually_edited.unwrap_or(false),
            });
            return Ok(());
        };
        let at = shifts
            .iter()
            .position(|x| &x.id == id)
            .ok_or_else(|| format!("agent {user}: no shift {id}"))?;
        if s.delete == Some(true) {
            shifts.remove(at);
            return Ok(());
        }
        let shift = &mut shifts[at];
        shift.start_date = s.start_date.unwrap_or(shift.start_date);
        shift.length_minutes = s.length_minutes.unwrap_or(shift.length_minutes);
        if let Some(list) = activities {
            shift.activities = list;
        }
        shift.manually_edited = s.manually_edited.unwrap_or(shift.manually_edited);
        Ok(())
    }

    fn validate_shifts(
        &self,
        bu: &str,
        (begin, end): (DateTime<Utc>, DateTime<Utc>),
        shifts: &[Shift],
        user: &str,
    ) -> Result<(), String> {
        for s in shifts {
            if s.length_minutes <= 0 || s.start_date < begin || s.start_date >= end {
                return Err(format!(
                    "agent {user}: shift {} is empty or outside {begin} .. {end}",
                    s.id
                ));
            }
            for a in &s.activities {
                let known = self
                    .scenario
                    .activity_codes
                    .iter()
                    .any(|c| c.id == a.activity_code_id && c.business_unit == bu && c.active);
                if !known {
                    return Err(format!(
                        "agent {user}: unknown activityCodeId {:?}",
                        a.activity_code_id
                    ));
                }
                let a_end = a.start_date + chrono::TimeDelta::minutes(a.length_minutes);
                if a.length_minutes <= 0 || a.start_date < s.start_date || a_end > s.end() {
                    return Err(format!(
                        "agent {user}: an activity lies outside shift {}",
                        s.id
                    ));
                }
            }
        }
        let mut order: Vec<&Shift> = shifts.iter().collect();
        order.sort_by_key(|s| s.start_date);
        match order.windows(2).find(|w| w[1].start_date < w[0].end()) {
            Some(w) => Err(format!(
                "agent {user}: shifts {} and {} overlap",
                w[0].id, w[1].id
            )),
            None => Ok(()),
        }
    }
}
