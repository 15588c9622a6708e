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

// ---------------------------------------------------------------------------------------------
// Serving threads (`mindset::serve::serve_on_threads`, what `mindset serve` runs)

use std::{net::SocketAddr, time::Duration};

use axum::routing::get;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
    task::JoinHandle,
};

/// `app` served on a random port with `threads` serving threads named `t-<n>`; the sender stops
/// it.
async fn serve_threads(
    app: axum::Router,
    threads: usize,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(mindset::serve::serve_on_threads(
        listener,
        app,
        threads,
        "t",
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop, serving)
}

/// One HTTP/1.1 GET on an open keep-alive connection: status and body.
async fn get_on(conn: &mut TcpStream, path: &str) -> std::io::Result<(u16, String)> {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head[9..12].parse().unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                return Ok((status, body));
            }
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

#[tokio::test]
async fn connections_are_handed_to_the_serving_threads_in_turn_and_stay_there() {
    let app = axum::Router::new().route("/who", get(|| async { thread_name() }));
    let (addr, stop, serving) = serve_threads(app, 3).await;
    let mut conns = Vec::new();
    let mut first = Vec::new();
    // One at a time, so that they are accepted in this order.
    for _ in 0..6 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let (status, who) = get_on(&mut c, "/who").await.unwrap();
        assert_eq!(status, 200);
        first.push(who);
        conns.push(c);
    }
    assert_eq!(first, ["t-0", "t-1", "t-2", "t-0", "t-1", "t-2"]);
    // Every later request on a connection is answered by the same thread.
    for _ in 0..3 {
        for (c, who) in conns.iter_mut().zip(&first) {
            assert_eq!(&get_on(c, "/who").await.unwrap().1, who);
        }
    }
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn stopping_answers_the_requests_in_flight_then_refuses_connections() {
    let (arrived, arrival) = tokio::sync::mpsc::unbounded_channel::<()>();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = answered.clone();
    let app = axum::Router::new().route(
        "/slow",
        get(move || {
            let arrived = arrived.clone();
            let counter = counter.clone();
            async move {
                let _ = arrived.send(());
                tokio::time::sleep(Duration::from_millis(300)).await;
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "done"
            }
        }),
    );
    let (addr, stop, serving) = serve_threads(app, 2).await;
    let mut arrival = arrival;
    let mut requests = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        requests.push(tokio::spawn(async move { get_on(&mut c, "/slow").await }));
        arrival.recv().await.unwrap();
    }
    // Both serving threads hold a request in flight; stop while they do.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serving ends once its requests are answered")
        .unwrap()
        .unwrap();
    assert_eq!(
        answered.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "serving returned before its requests in flight were answered"
    );
    for r in requests {
        assert_eq!(r.await.unwrap().unwrap(), (200, "done".to_owned()));
    }
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_panicking_handler_fails_its_connection_only() {
    let app = axum::Router::new()
        .route("/who", get(|| async { thread_name() }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("a handler's bug");
                }
                "unreachable"
            }),
        );
    let (addr, stop, serving) = serve_threads(app, 1).await;
    let mut bad = TcpStream::connect(addr).await.unwrap();
    assert!(get_on(&mut bad, "/panic").await.is_err());
    // The one serving thread goes on serving new connections.
    let mut c = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        get_on(&mut c, "/who").await.unwrap(),
        (200, "t-0".to_owned())
    );
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}
