//! The conformance suite against a real Kafka-protocol broker. `.ci/run` starts tansu
//! (infra/kafka-start.sh) and sets MINDSET_KAFKA_BOOTSTRAP; any Kafka works.

mod conformance;

use std::collections::BTreeMap;

use mindset_pipeline::{
    Log,
    kafka::{KafkaLog, KafkaSettings},
};

fn log() -> Log {
    let bootstrap = std::env::var("MINDSET_KAFKA_BOOTSTRAP").expect(
        "MINDSET_KAFKA_BOOTSTRAP is not set: `eval \"$(bash infra/services.sh up)\"` starts a broker and exports it (infra/test.sh does this)",
    );
    Log::Kafka(KafkaLog::new(KafkaSettings {
        bootstrap_servers: bootstrap,
        client: BTreeMap::new(),
        replication_factor: 1,
    }))
}

fn events() -> u64 {
    std::env::var("MINDSET_CONFORMANCE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_order_per_key_1m() {
    conformance::in_order_per_key(log(), events()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_batch_resumes() {
    conformance::killed_mid_batch_resumes(log()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_share_partitions() {
    conformance::group_members_share_partitions(log()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_dead_letter() {
    conformance::poison_goes_to_dead_letter(log()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_keep_order_and_commit() {
    conformance::pipelined_batches_keep_order_and_commit(log()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_into_one_vector_returns_each_record_whole() {
    conformance::poll_into_one_vector_returns_each_record_whole(log()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committer_commits_positions() {
    conformance::committer_commits_positions(log()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_topics_delivers_each_topic_in_order() {
    conformance::send_topics_delivers_each_topic_in_order(log()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_counts_every_record_before_the_first_poll() {
    conformance::lag_counts_every_record_before_the_first_poll(log()).await;
}
