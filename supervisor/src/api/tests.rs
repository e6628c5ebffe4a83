//! Router tests without a running supervisor: the OpenAPI document against
//! the route table, authentication, and errors as JSON.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;

use super::*;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn app(token: Option<&str>) -> Router {
    let parts = ApiParts {
        controller: ControllerCell::default(),
        rings: None,
    };
    router(parts, token.map(Secret::new), 64)
}

fn documented() -> BTreeSet<(String, String)> {
    let document: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    let paths = document["paths"].as_object().expect("paths object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("path item object");
            methods
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

fn routed() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect()
}

async fn send(app: Router, method: &str, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::empty()).expect("request");
    let response = app.oneshot(request).await.expect("infallible router");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

fn concrete(path: &str) -> String {
    path.replace("{name}", "web")
}

#[test]
fn openapi_documents_exactly_the_routes() {
    assert_eq!(documented(), routed());
}

#[test]
fn route_paths_are_unique() {
    let mut paths: Vec<_> = ROUTES.iter().map(|(_, path, _)| *path).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), ROUTES.len());
}

#[tokio::test]
async fn documented_methods_routed_others_405() {
    for (method, path) in documented() {
        for candidate in METHODS {
            let (status, body) = send(app(None), candidate, &concrete(&path), None).await;
            if candidate == method {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert_ne!(body["error"], "no such route", "{method} {path}");
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{candidate} {path}");
                assert_eq!(body["code"], "method_not_allowed", "{candidate} {path}");
            }
        }
    }
}

#[tokio::test]
async fn unknown_route_is_json_404() {
    let (status, body) = send(app(None), "GET", "/api/v1/nothing", None).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn token_is_required_everywhere_when_set() {
    for uri in ["/api/v1/health", "/api/v1/nothing", "/api/v1/processes"] {
        let (status, body) = send(app(Some("s3cret")), "GET", uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(body["code"], "unauthorized", "{uri}");

        let (status, _) = send(app(Some("s3cret")), "GET", uri, Some("s3cre")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (status, body) = send(app(Some("s3cret")), "GET", "/api/v1/health", Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "starting");
}

#[tokio::test]
async fn process_routes_wait_for_the_controller() {
    let (status, body) = send(app(None), "GET", "/api/v1/processes", None).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "starting");
}

#[tokio::test]
async fn schedule_routes_wait_for_the_controller() {
    for action in ["trigger", "pause", "resume"] {
        let uri = format!("/api/v1/processes/web/schedule/{action}");
        let (status, body) = send(app(None), "POST", &uri, None).await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{action}");
        assert_eq!(body["code"], "starting", "{action}");
    }
}

#[tokio::test]
async fn oversized_body_is_413() {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/processes/web/scale")
        .body(Body::from(vec![b' '; 100]))
        .expect("request");
    let response = app(None).oneshot(request).await.expect("infallible router");

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
