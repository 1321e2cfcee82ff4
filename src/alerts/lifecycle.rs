//! The alert lifecycle as a plain decision: what a source observes now,
//! against the alerts already firing for it, becomes a list of
//! [`Transition`]s — fire, refresh (escalating when worse), start the hold,
//! resolve. No clock, storage or delivery here: [`plan`] is unit-tested with
//! plain values, and [`super::AlertService::observe`] applies its result.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::channels::Severity;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Resolved,
}

/// Where one delivery of an alert to a channel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first attempt or its next retry.
    Pending,
    Delivered,
    /// Gave up: out of attempts, or an error retrying cannot fix.
    Failed,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

impl TryFrom<String> for AlertState {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        [AlertState::Firing, AlertState::Resolved]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("unknown alert state {raw:?}"))
    }
}

impl TryFrom<String> for DeliveryState {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("unknown delivery state {raw:?}"))
    }
}

/// A condition as observed now: one per key and source while it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Stable identity, e.g. `service:12:down` or `database:pool_utilization`.
    pub key: String,
    pub severity: Severity,
    pub message: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

impl Condition {
    /// A condition without a measured figure (a service down).
    pub fn new(key: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Self { key: key.into(), severity, message: message.into(), value: None, threshold: None }
    }

    /// The figure behind it and the threshold it crossed.
    pub fn measured(self, value: f64, threshold: f64) -> Self {
        Self { value: Some(value), threshold: Some(threshold), ..self }
    }
}

/// What the planner needs to know of an alert that is firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing<'a> {
    pub id: i64,
    pub key: &'a str,
    pub severity: Severity,
    /// When its condition was last seen to clear; `None` while it holds.
    pub clear_since: Option<DateTime<Utc>>,
}

/// One change to make, in the order [`plan`] lists them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition<'a> {
    /// A condition no alert fires for: a new alert, delivered.
    Fire(&'a Condition),
    /// Still observed: the alert takes the condition's latest figures and
    /// any hold is called off; delivered again only when `escalate`d
    /// (the severity rose).
    Refresh { alert: Firing<'a>, condition: &'a Condition, escalate: bool },
    /// No longer observed: the hold starts now.
    StartHold { alert: Firing<'a> },
    /// Clear for the whole hold: resolved, as of `cleared_by` (now less
    /// the hold), so a condition seen again meanwhile keeps it firing.
    Resolve { alert: Firing<'a>, cleared_by: DateTime<Utc> },
}

/// Decide what `observed` (every condition of one source that holds now,
/// keys unique) does to the source's `firing` alerts, with a `hold` before
/// a cleared alert resolves. Conditions come first, in their order, then
/// the firing alerts no longer observed, in theirs.
pub fn plan<'a>(
    observed: &'a [Condition],
    firing: &[Firing<'a>],
    now: DateTime<Utc>,
    hold: Duration,
) -> Vec<Transition<'a>> {
    let by_key: HashMap<&str, &Firing<'a>> = firing.iter().map(|a| (a.key, a)).collect();
    let mut steps: Vec<Transition<'a>> = observed
        .iter()
        .map(|condition| match by_key.get(condition.key.as_str()) {
            Some(alert) => {
                Transition::Refresh { alert: **alert, condition, escalate: condition.severity > alert.severity }
            }
            None => Transition::Fire(condition),
        })
        .collect();
    let seen: HashSet<&str> = observed.iter().map(|c| c.key.as_str()).collect();
    for alert in firing.iter().filter(|a| !seen.contains(a.key)) {
        let since = alert.clear_since.unwrap_or(now);
        if alert.clear_since.is_none() {
            steps.push(Transition::StartHold { alert: *alert });
        }
        if now - since >= hold {
            steps.push(Transition::Resolve { alert: *alert, cleared_by: now - hold });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(key: &str, severity: &str) -> Condition {
        let severity = Severity::parse(severity).unwrap();
        Condition::new(key, severity, key)
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn firing<'a>(id: i64, key: &'a str, severity: &str, clear_since: Option<DateTime<Utc>>) -> Firing<'a> {
        Firing { id, key, severity: Severity::parse(severity).unwrap(), clear_since }
    }

    const HOLD: i64 = 60;

    fn plan_at<'a>(observed: &'a [Condition], firing: &[Firing<'a>], now: i64) -> Vec<Transition<'a>> {
        plan(observed, firing, at(now), Duration::seconds(HOLD))
    }

    #[test]
    fn a_new_condition_fires() {
        let observed = [condition("db:pool", "warning")];
        assert_eq!(plan_at(&observed, &[], 0), [Transition::Fire(&observed[0])]);
    }

    #[test]
    fn a_condition_still_observed_refreshes_and_escalates_only_when_worse() {
        let observed = [condition("a", "warning"), condition("b", "critical"), condition("c", "warning")];
        let alerts =
            [firing(1, "a", "warning", None), firing(2, "b", "warning", None), firing(3, "c", "critical", None)];
        let steps = plan_at(&observed, &alerts, 0);
        assert_eq!(
            steps,
            [
                Transition::Refresh { alert: alerts[0], condition: &observed[0], escalate: false },
                Transition::Refresh { alert: alerts[1], condition: &observed[1], escalate: true },
                Transition::Refresh { alert: alerts[2], condition: &observed[2], escalate: false },
            ]
        );
    }

    #[test]
    fn a_cleared_alert_holds_then_resolves_as_of_the_hold() {
        let alert = firing(7, "svc:1:down", "critical", None);
        assert_eq!(plan_at(&[], &[alert], 0), [Transition::StartHold { alert }]);
        let holding = firing(7, "svc:1:down", "critical", Some(at(0)));
        assert_eq!(plan_at(&[], &[holding], HOLD - 1), [], "still inside the hold");
        assert_eq!(
            plan_at(&[], &[holding], HOLD),
            [Transition::Resolve { alert: holding, cleared_by: at(0) }],
            "resolved once the whole hold has passed"
        );
    }

    #[test]
    fn a_condition_back_during_the_hold_keeps_the_alert_firing() {
        let observed = [condition("svc:1:down", "critical")];
        let holding = firing(7, "svc:1:down", "critical", Some(at(0)));
        assert_eq!(
            plan_at(&observed, &[holding], HOLD + 5),
            [Transition::Refresh { alert: holding, condition: &observed[0], escalate: false }]
        );
    }

    #[test]
    fn without_a_hold_a_cleared_alert_resolves_at_once() {
        let alert = firing(7, "k", "warning", None);
        assert_eq!(
            plan(&[], &[alert], at(0), Duration::zero()),
            [Transition::StartHold { alert }, Transition::Resolve { alert, cleared_by: at(0) }]
        );
    }

    #[test]
    fn conditions_come_first_then_the_alerts_that_cleared() {
        let observed = [condition("new", "warning"), condition("kept", "warning")];
        let alerts = [firing(1, "gone", "warning", Some(at(0))), firing(2, "kept", "warning", None)];
        let steps = plan_at(&observed, &alerts, HOLD);
        assert_eq!(
            steps,
            [
                Transition::Fire(&observed[0]),
                Transition::Refresh { alert: alerts[1], condition: &observed[1], escalate: false },
                Transition::Resolve { alert: alerts[0], cleared_by: at(0) },
            ]
        );
    }
}
