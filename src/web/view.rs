//! What every page shows around its content (the layout's data), and the
//! small formatting the templates share. Templates get these view types,
//! never rows: every string is escaped by askama when it is written.

use chrono::{DateTime, Utc};

use super::assets::{AssetUrls, URLS};
use super::error::WebError;
use super::session::Viewer;
use crate::state::AppState;

/// The header and navigation of a page.
pub struct Chrome {
    pub assets: &'static AssetUrls,
    /// `None` on the sign-in pages and errors shown without a session.
    pub viewer: Option<ViewerChrome>,
    /// The navigation entry of the current page (`overview`, `inbox`, …).
    pub section: &'static str,
    pub title: String,
}

pub struct ViewerChrome {
    pub user_id: i64,
    pub name: String,
    pub role: &'static str,
    pub csrf: String,
    pub staff: bool,
    pub admin: bool,
    pub unread: i64,
}

impl Chrome {
    /// A page without navigation.
    pub fn bare() -> Self {
        Self { assets: &URLS, viewer: None, section: "", title: String::new() }
    }

    pub fn titled(title: impl Into<String>) -> Self {
        Self { title: title.into(), ..Self::bare() }
    }

    /// The layout of a signed-in page: the unread badge is read with it.
    pub async fn of(
        state: &AppState,
        viewer: &Viewer,
        section: &'static str,
        title: impl Into<String>,
    ) -> Result<Self, WebError> {
        let unread = state.notifications.stats(viewer.user.id).await?.iter().map(|c| c.unread).sum();
        let user = &viewer.user;
        let name = user
            .display_name
            .clone()
            .or_else(|| user.email.as_ref().map(|e| e.as_str().to_string()))
            .unwrap_or_else(|| format!("user {}", user.id));
        Ok(Self {
            assets: &URLS,
            viewer: Some(ViewerChrome {
                user_id: user.id,
                name,
                role: user.role.as_str(),
                csrf: viewer.csrf(),
                staff: viewer.is_staff(),
                admin: user.role == crate::accounts::Role::Admin,
                unread,
            }),
            section,
            title: title.into(),
        })
    }

    /// The `aria-current` value of a navigation entry.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section { "page" } else { "false" }
    }
}

/// `99.95 %`, `100 %`, or `—` without data.
pub fn percent(ratio: Option<f64>) -> String {
    match ratio {
        None => "—".into(),
        Some(r) if r >= 1.0 => "100 %".into(),
        Some(r) => format!("{:.2} %", (r * 100.0).min(99.99)),
    }
}

/// `1 234 ms` style latency, or `—`.
pub fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "—".into(),
        Some(v) if v < 10.0 => format!("{v:.1} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

/// `3 min ago`, `2 h ago`, `5 d ago`, or `never`.
pub fn ago(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else { return "never".into() };
    let s = (now - at).num_seconds().max(0);
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(1.0)), "100 %");
        assert_eq!(percent(Some(0.99951)), "99.95 %");
        // Never rounded up to a perfect record.
        assert_eq!(percent(Some(0.999999)), "99.99 %");
        assert_eq!(millis(Some(3.26)), "3.3 ms");
        assert_eq!(millis(Some(1234.4)), "1234 ms");
        let now = Utc::now();
        assert_eq!(ago(Some(now - Duration::seconds(5)), now), "5 s ago");
        assert_eq!(ago(Some(now - Duration::minutes(3)), now), "3 min ago");
        assert_eq!(ago(Some(now - Duration::hours(30)), now), "1 d ago");
        assert_eq!(ago(None, now), "never");
    }
}
