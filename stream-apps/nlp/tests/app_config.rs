//! A configured model that does not load stops the app at start, with the reason (its own test
//! binary: it sets an environment variable the other app tests must not see).

use mindset_pipeline::{Log, embedded::EmbeddedLog, shell::RunOptions, shutdown::Shutdown};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_roberta_folder_that_does_not_load_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    let missing = dir.path().join("no-such-roberta");
    // SAFETY: this test binary runs this one test; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("MINDSET_NLP_EMOTION_MODEL", &missing) };
    let config = mindset_nlp::NlpConfig {
        sentiment_dir: dir.path().join("no-model"),
        ..mindset_nlp::NlpConfig::default()
    };
    let opts = RunOptions {
        stop_when_caught_up: true,
        ..RunOptions::default()
    };
    let err = mindset_nlp::run(&log, config, &opts, Shutdown::new())
        .await
        .expect_err("a configured model that does not load stops the app");
    let msg = err.to_string();
    assert!(msg.contains("loading the nlp models"), "{msg}");
    assert!(msg.contains("no-such-roberta"), "{msg}");
}
