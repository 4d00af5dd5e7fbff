//! `abev-local send` and `abev-local dead-letters` against a real local stack: a good file
//! is ingested, a bad one is dead-lettered and read back with its `abev-error` reason.

use abev_integration_tests::TestStack;

#[tokio::test]
async fn sent_files_are_ingested_or_dead_lettered_with_their_reason() {
    let t = TestStack::new().await;
    let dir = std::env::temp_dir().join(format!("abev-send-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("O-2.json");
    std::fs::write(&good, abev_local::seed::WORKED_EXAMPLE[1].1).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, abev_local::seed::WORKED_EXAMPLE[0].1.replace("\"status\": \"active\"", "\"status\": \"paused\"")).unwrap();

    abev_local::messages::send(&t.sqs, t.stack.orders_queue(), &[good, bad.clone()]).await.unwrap();
    t.drain().await;

    assert_eq!(t.view("fiona@farm.example", 10).await.len(), 1, "the good file was ingested");
    let letters = abev_local::messages::dead_letters(&t.sqs, t.stack.orders_dlq(), 0, true).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].body, std::fs::read_to_string(&bad).unwrap());
    assert_eq!(letters[0].error.as_deref(), Some("status: \"paused\" is not \"active\" or \"cancelled\""));
    assert!(abev_local::messages::dead_letters(&t.sqs, t.stack.orders_dlq(), 0, true).await.unwrap().is_empty(), "removed");
    std::fs::remove_dir_all(dir).unwrap();
}
