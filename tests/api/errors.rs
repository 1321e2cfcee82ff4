//! Every failure is application/problem+json naming what was wrong.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, TestApp, both};

both!(
    bad_bodies_get_problem_documents,
    unknown_routes_and_methods_get_problem_documents,
    bad_parameters_name_the_parameter
);

async fn bad_bodies_get_problem_documents(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.max_body_bytes = 2048).await else {
        return;
    };
    let send = |body: String, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&app.admin_token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let malformed = crate::harness::Reply::from(send("{\"email\": ".into(), "application/json").await.unwrap()).await;
    malformed.problem(StatusCode::BAD_REQUEST);
    let not_json =
        crate::harness::Reply::from(send("email=x".into(), "application/x-www-form-urlencoded").await.unwrap()).await;
    not_json.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = format!("{{\"email\": \"{}@x.com\", \"role\": \"member\"}}", "a".repeat(4096));
    let too_large = crate::harness::Reply::from(send(big, "application/json").await.unwrap()).await;
    too_large.problem(StatusCode::PAYLOAD_TOO_LARGE);

    let missing = app.post("/api/v1/users", &app.admin_token, json!({"role": "member"})).await;
    missing.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.fields(), vec!["email"]);
    let wrong_type = app.post("/api/v1/users", &app.admin_token, json!({"email": 5, "role": "member"})).await;
    wrong_type.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_type.fields(), vec!["email"]);
    let unknown =
        app.post("/api/v1/users", &app.admin_token, json!({"email": "a@b.c", "role": "member", "admin": true})).await;
    assert_eq!(unknown.fields(), vec!["admin"]);
    let bad_email =
        app.post("/api/v1/users", &app.admin_token, json!({"email": "not-an-email", "role": "member"})).await;
    bad_email.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_email.fields(), vec!["email"]);
    let bad_token = app.post("/api/v1/tokens", &app.admin_token, json!({"name": "", "expires_in_seconds": -5})).await;
    assert_eq!(bad_token.fields(), vec!["name"]);
    let bad_expiry = app.post("/api/v1/tokens", &app.admin_token, json!({"name": "x", "expires_in_seconds": -5})).await;
    assert_eq!(bad_expiry.fields(), vec!["expires_in_seconds"]);

    // A refused duplicate says which field, and nothing about SQL.
    app.post("/api/v1/users", &app.admin_token, json!({"email": "dup@x.com", "role": "member"})).await;
    let dup = app.post("/api/v1/users", &app.admin_token, json!({"email": "dup@x.com", "role": "member"})).await;
    dup.problem(StatusCode::CONFLICT);
    for leak in ["INSERT", "UNIQUE", "user_account", "constraint", "sqlx", "SELECT"] {
        assert!(!dup.text.contains(leak), "{leak} leaked: {}", dup.text);
    }
    app.stop().await.expect("stop");
}

async fn unknown_routes_and_methods_get_problem_documents(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.call(Method::GET, "/api/v1/nothing-here", Some(&app.admin_token), None).await.problem(StatusCode::NOT_FOUND);
    app.call(Method::GET, "/nope", None, None).await.problem(StatusCode::NOT_FOUND);
    app.call(Method::PUT, "/api/v1/me", Some(&app.admin_token), None).await.problem(StatusCode::METHOD_NOT_ALLOWED);
    app.call(Method::POST, "/healthz", None, None).await.problem(StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await.expect("stop");
}

async fn bad_parameters_name_the_parameter(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let limit = app.get("/api/v1/users?limit=abc", &app.admin_token).await;
    limit.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(limit.fields(), vec!["limit"]);
    let range = app.get("/api/v1/users?limit=500", &app.admin_token).await;
    assert_eq!(range.fields(), vec!["limit"]);
    let cursor = app.get("/api/v1/users?cursor=forged", &app.admin_token).await;
    assert_eq!(cursor.fields(), vec!["cursor"]);
    let path = app.call(Method::DELETE, "/api/v1/tokens/not-a-number", Some(&app.admin_token), None).await;
    path.problem(StatusCode::BAD_REQUEST);
    app.stop().await.expect("stop");
}
