//! The incident vocabulary: where an incident stands, and what an entry of
//! its timeline records. Stored as text, decoded here at the storage
//! boundary, and shown as enums in the OpenAPI document.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an incident stands: open until acknowledged or resolved; an
/// acknowledged one no longer resolves by itself on recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Acknowledged,
    Resolved,
}

/// What one timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimelineKind {
    /// herald opened it: the service went down.
    Opened,
    /// An operator took it.
    Acknowledged,
    /// The service came back while an operator held the incident.
    Recovered,
    /// Resolved, by herald on recovery or by an operator.
    Resolved,
    /// An operator's note.
    Note,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Opened => "opened",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::Recovered => "recovered",
            TimelineKind::Resolved => "resolved",
            TimelineKind::Note => "note",
        }
    }
}

impl TryFrom<String> for IncidentStatus {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        [IncidentStatus::Open, IncidentStatus::Acknowledged, IncidentStatus::Resolved]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("unknown incident status {raw:?}"))
    }
}

impl TryFrom<String> for TimelineKind {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        use TimelineKind::*;
        [Opened, Acknowledged, Recovered, Resolved, Note]
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| format!("unknown timeline entry kind {raw:?}"))
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_round_trips() {
        for s in [IncidentStatus::Open, IncidentStatus::Acknowledged, IncidentStatus::Resolved] {
            assert_eq!(IncidentStatus::try_from(s.as_str().to_string()), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(IncidentStatus::try_from("sleeping".to_string()).is_err());
        assert_eq!(TimelineKind::try_from("note".to_string()), Ok(TimelineKind::Note));
        assert!(TimelineKind::try_from("other".to_string()).is_err());
    }
}
