//! What `mindset serve` mounts: the connections API only when it has an admin token, beside the
//! webhooks and the track API.

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use mindset::{
    cli::app,
    connect::{ConnectConfig, ConnectState},
    ingest::{IngestState, Secrets},
};
use mindset_pipeline::{Log, embedded::EmbeddedLog};
use tower::ServiceExt;

async fn status(app: &axum::Router, path: &str, token: Option<&str>) -> StatusCode {
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_connections_api_is_served_only_with_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    let ingest = || IngestState::new(log.producer().unwrap(), Secrets::new());

    let without = app(ingest(), None);
    assert_eq!(
        status(&without, "/api/connections", Some("t0ken")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(status(&without, "/healthz", None).await, StatusCode::OK);

    let mut config = ConnectConfig::new(dir.path(), "t0ken", "https://ingest.example.com");
    config.key = Some([7; 32]);
    let connect = ConnectState::new(config, log.producer().unwrap()).unwrap();
    let with = app(ingest(), Some(connect));
    assert_eq!(
        status(&with, "/api/connections", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&with, "/api/connections", Some("wrong")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&with, "/api/connections", Some("t0ken")).await,
        StatusCode::OK
    );
    // The rest of serve is still there.
    assert_eq!(status(&with, "/healthz", None).await, StatusCode::OK);
    assert_eq!(status(&with, "/js/mindset.js", None).await, StatusCode::OK);
}
