//! `/inbox`: the signed-in person's notifications, newest first; read,
//! unread, all read, delete. The list refreshes itself when the realtime
//! socket brings a new or changed notification (the script), and the
//! script does the actions through the JSON API when it runs; without it
//! the forms post here.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;

use super::PageId;
use crate::notifications::{Filter, Position};
use crate::state::AppState;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::{self, Chrome};

const PER_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct InboxParams {
    #[serde(default)]
    unread: Option<String>,
    /// The cursor of the last item of the previous page.
    #[serde(default)]
    before: Option<i64>,
}

pub struct Item {
    pub id: i64,
    pub cursor: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub unread: bool,
    pub urgent: bool,
    pub at: String,
    pub ago: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    items: Vec<Item>,
    unread_only: bool,
    older: Option<String>,
    newest: i64,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<InboxParams>,
) -> Result<Html<String>, WebError> {
    let unread_only = params.unread.is_some();
    let filter = Filter { unread_only, kind: None };
    let user = viewer.user.id;
    let now = state.monitoring.now();
    let mut rows = state.notifications.list(user, &filter, Position::Before(params.before), PER_PAGE + 1).await?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    let older = match (more, rows.last()) {
        (true, Some(last)) => {
            Some(format!("/inbox?{}before={}", if unread_only { "unread=1&" } else { "" }, last.cursor))
        }
        _ => None,
    };
    let newest = state.notifications.current_cursor(user).await?;
    let items = rows
        .into_iter()
        .map(|n| Item {
            id: n.id,
            cursor: n.cursor,
            kind: n.kind,
            title: n.title,
            body: n.body,
            unread: n.read_at.is_none(),
            urgent: n.priority >= 4,
            at: n.created_at.to_rfc3339(),
            ago: view::ago(Some(n.created_at), now),
        })
        .collect();
    let chrome = Chrome::of(&state, &viewer, "inbox", "Inbox").await?;
    Ok(Html(InboxPage { chrome, items, unread_only, older, newest }.render()?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReadForm {
    /// `true` marks read, anything else unread.
    read: String,
}

/// `POST /inbox/{id}/read`.
pub async fn set_read(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(form): CsrfForm<ReadForm>,
) -> Result<Redirect, WebError> {
    state.notifications.set_read(viewer.user.id, id, form.read == "true").await?;
    Ok(Redirect::to("/inbox"))
}

/// `POST /inbox/read-all`.
pub async fn read_all(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    state.notifications.read_all(viewer.user.id, None).await?;
    Ok(Redirect::to("/inbox"))
}

/// `POST /inbox/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    state.notifications.delete(viewer.user.id, id).await?;
    Ok(Redirect::to("/inbox"))
}
