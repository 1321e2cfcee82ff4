//! Who may call what: every operation of the OpenAPI document, called by
//! every role and without a token, answers as the table below says. The
//! table is written here by hand, apart from the server's annotations, so
//! a route whose roles change by mistake fails this test; a route added to
//! the document without a row here fails it too.
//!
//! A caller who passes the role check gets the handler's own answer
//! (200, or 404 for an id that does not exist, or 422 for an empty body),
//! so "allowed" and "refused" are told apart without changing anything.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, both};

both!(every_operation_answers_each_role_as_the_table_says);

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    /// No token needed.
    Public,
    /// Admin only.
    Admin,
    /// Admins and operators: monitoring, incidents, maintenance, alerts, performance.
    Staff,
    /// Admins and senders: creating notifications and the users they go to.
    Senders,
    /// Admins, operators and members: one's own inbox.
    Inbox,
    /// Every role: one's own account and tokens.
    Anyone,
}

impl Who {
    fn roles(self) -> &'static [&'static str] {
        match self {
            Who::Public => &[],
            Who::Admin => &["admin"],
            Who::Staff => &["admin", "operator"],
            Who::Senders => &["admin", "sender"],
            Who::Inbox => &["admin", "operator", "member"],
            Who::Anyone => &["admin", "operator", "member", "sender"],
        }
    }
}

/// One operation: method, the path template as the document writes it, the
/// path to call, an optional body, who may call it and what they get.
struct Row {
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    who: Who,
    allowed: StatusCode,
}

fn row(method: Method, template: &'static str, who: Who, allowed: StatusCode) -> Row {
    let path = template
        .replace("{id}", "999999")
        .replace("{external_id}", "app-user-1")
        .replace("{secret}", "hb_not-a-secret");
    Row { method, template, path, body: None, who, allowed }
}

impl Row {
    fn at(mut self, path: String) -> Row {
        self.path = path;
        self
    }
    fn body(mut self, body: Value) -> Row {
        self.body = Some(body);
        self
    }
}

/// The table. `service` is an existing service's id, for the figures.
fn table(service: i64) -> Vec<Row> {
    use Method as M;
    use StatusCode as S;
    use Who::*;
    let on = |suffix: &str| format!("/api/v1/services/{service}/{suffix}");
    vec![
        // Public: health, the status page, heartbeats (the secret is the credential).
        row(M::GET, "/healthz", Public, S::OK),
        row(M::GET, "/readyz", Public, S::OK),
        row(M::GET, "/metrics", Public, S::OK),
        row(M::GET, "/api/v1/status", Public, S::OK),
        row(M::GET, "/api/v1/heartbeat/{secret}", Public, S::NOT_FOUND),
        row(M::POST, "/api/v1/heartbeat/{secret}", Public, S::NOT_FOUND),
        // The upgrade authenticates inside the protocol (tests/api/realtime.rs);
        // a plain GET is refused alike for everyone.
        row(M::GET, "/api/v1/ws", Public, S::BAD_REQUEST),
        // One's own account and tokens.
        row(M::GET, "/api/v1/me", Anyone, S::OK),
        row(M::GET, "/api/v1/tokens", Anyone, S::OK),
        row(M::POST, "/api/v1/tokens", Anyone, S::UNPROCESSABLE_ENTITY).body(json!({"name": ""})),
        row(M::DELETE, "/api/v1/tokens/{id}", Anyone, S::NOT_FOUND),
        // Users.
        row(M::GET, "/api/v1/users", Admin, S::OK),
        row(M::POST, "/api/v1/users", Admin, S::UNPROCESSABLE_ENTITY).body(json!({"email": "x", "role": "member"})),
        row(M::PUT, "/api/v1/users/external/{external_id}", Senders, S::UNPROCESSABLE_ENTITY)
            .body(json!({"email": "not-an-email"})),
        row(M::POST, "/api/v1/users/{id}/tokens", Senders, S::NOT_FOUND).body(json!({"name": "web"})),
        // Notifications: senders write, each reader reads their own inbox.
        row(M::POST, "/api/v1/notifications", Senders, S::UNPROCESSABLE_ENTITY).body(json!({"title": "t"})),
        row(M::POST, "/api/v1/announcements", Senders, S::UNPROCESSABLE_ENTITY).body(json!({"title": "t"})),
        row(M::GET, "/api/v1/notifications", Inbox, S::OK),
        row(M::GET, "/api/v1/notifications/pending", Inbox, S::OK),
        row(M::GET, "/api/v1/notifications/stats", Inbox, S::OK),
        row(M::POST, "/api/v1/notifications/read-all", Inbox, S::OK).body(json!({})),
        row(M::GET, "/api/v1/notifications/{id}", Inbox, S::NOT_FOUND),
        row(M::PATCH, "/api/v1/notifications/{id}", Inbox, S::NOT_FOUND).body(json!({"read": true})),
        row(M::DELETE, "/api/v1/notifications/{id}", Inbox, S::NOT_FOUND),
        // Monitoring: services carry internal targets and check settings.
        row(M::GET, "/api/v1/services", Staff, S::OK),
        row(M::GET, "/api/v1/services/counts", Staff, S::OK),
        row(M::POST, "/api/v1/services", Staff, S::UNPROCESSABLE_ENTITY).body(json!({})),
        row(M::GET, "/api/v1/services/{id}", Staff, S::NOT_FOUND),
        row(M::PATCH, "/api/v1/services/{id}", Staff, S::NOT_FOUND).body(json!({})),
        row(M::DELETE, "/api/v1/services/{id}", Staff, S::NOT_FOUND),
        row(M::POST, "/api/v1/services/{id}/check", Staff, S::NOT_FOUND),
        row(M::POST, "/api/v1/services/{id}/heartbeat-secret", Staff, S::NOT_FOUND),
        row(M::GET, "/api/v1/services/{id}/uptime", Staff, S::OK).at(on("uptime")),
        row(M::GET, "/api/v1/services/{id}/metrics", Staff, S::OK).at(on("metrics")),
        row(M::GET, "/api/v1/services/{id}/trends", Staff, S::OK).at(on("trends")),
        // Incidents and maintenance.
        row(M::GET, "/api/v1/incidents", Staff, S::OK),
        row(M::GET, "/api/v1/incidents/{id}", Staff, S::NOT_FOUND),
        row(M::POST, "/api/v1/incidents/{id}/acknowledge", Staff, S::NOT_FOUND),
        row(M::POST, "/api/v1/incidents/{id}/resolve", Staff, S::NOT_FOUND),
        row(M::POST, "/api/v1/incidents/{id}/notes", Staff, S::NOT_FOUND).body(json!({"message": "looking"})),
        row(M::GET, "/api/v1/maintenance", Staff, S::OK),
        row(M::POST, "/api/v1/maintenance", Staff, S::UNPROCESSABLE_ENTITY).body(json!({"title": ""})),
        row(M::DELETE, "/api/v1/maintenance/{id}", Staff, S::NOT_FOUND),
        // Alerts: operators read them, admins configure where they go.
        row(M::GET, "/api/v1/alerts", Staff, S::OK),
        row(M::GET, "/api/v1/alerts/{id}", Staff, S::NOT_FOUND),
        row(M::GET, "/api/v1/alert-channels", Admin, S::OK),
        row(M::POST, "/api/v1/alert-channels", Admin, S::UNPROCESSABLE_ENTITY).body(json!({})),
        row(M::GET, "/api/v1/alert-channels/{id}", Admin, S::NOT_FOUND),
        row(M::PATCH, "/api/v1/alert-channels/{id}", Admin, S::NOT_FOUND).body(json!({})),
        row(M::DELETE, "/api/v1/alert-channels/{id}", Admin, S::NOT_FOUND),
        row(M::POST, "/api/v1/alert-channels/{id}/test", Admin, S::NOT_FOUND),
        // The database's own figures.
        row(M::GET, "/api/v1/system/database", Staff, S::OK),
        row(M::GET, "/api/v1/system/performance", Staff, S::OK),
        row(M::GET, "/api/v1/system/performance/report", Staff, S::OK),
    ]
}

const ROLES: [&str; 4] = ["admin", "operator", "member", "sender"];

async fn every_operation_answers_each_role_as_the_table_says(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let mut tokens = vec![("admin", app.admin_token.clone())];
    for role in &ROLES[1..] {
        tokens.push((role, app.user_with_token(&format!("{role}@example.com"), role).await.1));
    }
    let service = app
        .post("/api/v1/services", &app.admin_token, json!({"name": "api", "kind": "tcp", "target": "127.0.0.1:9"}))
        .await;
    assert_eq!(service.status, StatusCode::CREATED, "{}", service.text);
    let table = table(service.json["id"].as_i64().expect("id"));

    // The table covers the document exactly, and each description names the table's roles.
    let document = app.call(Method::GET, "/api/openapi.json", None, None).await.json;
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            documented.insert((method.to_uppercase(), path.clone()));
            let row = table
                .iter()
                .find(|r| r.template == path && r.method.as_str().eq_ignore_ascii_case(method))
                .unwrap_or_else(|| panic!("{method} {path} is documented but has no row in this table"));
            let description = operation["description"].as_str().unwrap_or_default();
            let expected = match row.who {
                Who::Public => "**Who may call it:** anyone; no token.".to_string(),
                who => format!("**Who may call it:** {}.", who.roles().join(", ")),
            };
            assert!(description.ends_with(&expected), "{method} {path}: {description:?} should end {expected:?}");
        }
    }
    let tabled: BTreeSet<_> = table.iter().map(|r| (r.method.to_string(), r.template.to_string())).collect();
    assert_eq!(tabled, documented, "every row is a documented operation");

    for row in &table {
        let what = format!("{} {}", row.method, row.path);
        let anonymous = app.call(row.method.clone(), &row.path, None, row.body.clone()).await;
        if row.who == Who::Public {
            assert_eq!(anonymous.status, row.allowed, "{what} without a token: {}", anonymous.text);
        } else {
            anonymous.problem(StatusCode::UNAUTHORIZED);
        }
        for (role, token) in &tokens {
            let reply = app.call(row.method.clone(), &row.path, Some(token), row.body.clone()).await;
            let may = row.who == Who::Public || row.who.roles().contains(role);
            if may {
                assert_eq!(reply.status, row.allowed, "{what} as {role}: {}", reply.text);
            } else {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what} as {role} must be refused: {}", reply.text);
                reply.problem(StatusCode::FORBIDDEN);
            }
        }
    }
    app.stop().await.expect("stop");
}
