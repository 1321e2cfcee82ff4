//! Who may call what, enforced from the OpenAPI document itself.
//!
//! Every operation says who may call it in its annotation, the standard
//! OpenAPI 3.1 way: `security(("bearer" = ["admin", "operator"]))` lists
//! the roles (OpenAPI allows role names in the scopes of a non-OAuth
//! scheme); an operation without `security` is public. [`AccessMap`] is
//! read from the generated document once at start-up and [`authorize`]
//! checks every request against it before the handler runs, so the
//! document a client reads and the rule the server applies are one and the
//! same. [`describe_roles`] writes each operation's roles into its
//! description for readers of `/docs`.
//!
//! Rules finer than a role (a sender may mint tokens for members only; a
//! token is revoked by its owner or an admin) stay in the handler or the
//! service, and the operation's description says so.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::ApiError;
use super::extract::bearer_from_headers;
use crate::accounts::Role;
use crate::state::AppState;

/// The security scheme that carries roles: see `openapi.rs`.
pub const SCHEME: &str = "bearer";

/// Who may call one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// No token needed (health, the status page, heartbeats, the WebSocket
    /// upgrade, which authenticates inside its protocol).
    Public,
    /// A valid bearer token of one of these roles. Empty refuses everyone:
    /// an operation that names no role is a mistake, not an open door.
    Roles(Vec<Role>),
}

/// The rule of every operation, by route template and method.
#[derive(Debug, Default)]
pub struct AccessMap {
    /// Route template → method → rule (looked up by `&str`, no allocation per request).
    rules: HashMap<String, Vec<(Method, Rule)>>,
    /// Operations whose annotation could not be read as a rule (an unknown
    /// role, another scheme); they refuse everyone and a test lists them.
    pub problems: Vec<String>,
}

impl AccessMap {
    /// Read the rules from the generated document.
    pub fn from_spec(spec: &utoipa::openapi::OpenApi) -> Self {
        let mut map = AccessMap::default();
        let Ok(document) = serde_json::to_value(spec) else {
            map.problems.push("the OpenAPI document does not serialize".into());
            return map;
        };
        let Some(paths) = document.get("paths").and_then(Value::as_object) else { return map };
        for (path, item) in paths {
            let Some(item) = item.as_object() else { continue };
            for (method, operation) in item {
                let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else { continue };
                let rule = match operation.get("security") {
                    None => Rule::Public,
                    Some(security) => rule_of(security).unwrap_or_else(|problem| {
                        map.problems.push(format!("{method} {path}: {problem}"));
                        Rule::Roles(Vec::new())
                    }),
                };
                map.rules.entry(path.clone()).or_default().push((method, rule));
            }
        }
        map
    }

    /// The rule for a matched route and method.
    pub fn rule(&self, route: &str, method: &Method) -> Lookup<'_> {
        // axum serves HEAD with the GET handler.
        let method = if method == Method::HEAD { &Method::GET } else { method };
        match self.rules.get(route) {
            None => Lookup::UnknownRoute,
            Some(rules) => {
                rules.iter().find(|(m, _)| m == method).map_or(Lookup::OtherMethod, |(_, r)| Lookup::Rule(r))
            }
        }
    }

    /// Every operation with its rule, sorted, for tests and the README.
    pub fn operations(&self) -> Vec<(String, Method, Rule)> {
        let mut all: Vec<_> = self
            .rules
            .iter()
            .flat_map(|(p, rules)| rules.iter().map(|(m, r)| (p.clone(), m.clone(), r.clone())))
            .collect();
        all.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
        all
    }
}

/// What the map says of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Rule(&'a Rule),
    /// A documented route, another method: the router answers 405.
    OtherMethod,
    /// A route the document does not know: refused, since nobody said who may call it.
    UnknownRoute,
}

/// `[{"bearer": ["admin", "operator"]}]` → the roles.
fn rule_of(security: &Value) -> Result<Rule, String> {
    let requirements = security.as_array().ok_or("security is not a list")?;
    let [requirement] = requirements.as_slice() else {
        return Err(format!("expected one security requirement, found {}", requirements.len()));
    };
    let scopes = requirement.get(SCHEME).and_then(Value::as_array).ok_or("the requirement is not the bearer scheme")?;
    let roles = scopes
        .iter()
        .map(|scope| scope.as_str().ok_or("a role is not a string".to_string()).and_then(|s| s.parse::<Role>()))
        .collect::<Result<Vec<_>, _>>()?;
    if roles.is_empty() {
        return Err("names no role".into());
    }
    Ok(Rule::Roles(roles))
}

/// Middleware on every documented route: public operations pass; the
/// others need a valid token (401) of a listed role (403). The principal
/// is handed on to the handler's [`super::extract::Auth`].
pub async fn authorize(
    State((state, access)): State<(AppState, Arc<AccessMap>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(route) = request.extensions().get::<MatchedPath>().cloned() else {
        // Only matched routes reach a route layer; refuse rather than guess.
        return ApiError::Forbidden.into_response();
    };
    let rule = match access.rule(route.as_str(), request.method()) {
        Lookup::Rule(Rule::Public) | Lookup::OtherMethod => return next.run(request).await,
        Lookup::Rule(rule) => rule,
        Lookup::UnknownRoute => {
            tracing::error!(route = route.as_str(), "a route missing from the OpenAPI document was refused");
            return ApiError::Forbidden.into_response();
        }
    };
    // A bearer token, or else the web app's session cookie (its own rules
    // against cross-site requests: `crate::web::csrf`).
    let principal = match bearer_from_headers(request.headers()) {
        Some(token) => state.accounts.authenticate(token).await.map_err(ApiError::from),
        None => crate::web::session::api_principal(&state, request.headers(), request.method()).await,
    };
    let principal = match principal {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    tracing::Span::current().record("user_id", principal.user.id);
    if !matches!(rule, Rule::Roles(roles) if roles.contains(&principal.user.role)) {
        return ApiError::Forbidden.into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// Append "Roles: …" (or "Public") to every operation's description, from
/// the same security requirement [`authorize`] enforces.
pub fn describe_roles(spec: &mut utoipa::openapi::OpenApi, access: &AccessMap) {
    for (path, item) in spec.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::PATCH, &mut item.patch),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            let (Some(operation), Lookup::Rule(rule)) = (operation.as_mut(), access.rule(path, &method)) else {
                continue;
            };
            let line = match rule {
                Rule::Public => "**Who may call it:** anyone; no token.".to_string(),
                Rule::Roles(roles) => {
                    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    format!("**Who may call it:** {}.", names.join(", "))
                }
            };
            operation.description = Some(match operation.description.take() {
                Some(text) if !text.is_empty() => format!("{text}\n\n{line}"),
                _ => line,
            });
        }
    }
}
