//! The composition root: how each function's parts are built from its settings and the
//! AWS clients. The three Lambda `main`s, the local host, the bench and the test harness
//! all build through here, so what runs locally is assembled exactly as what runs in AWS.

use crate::http::cursor::CursorKey;
use crate::http::{AppState, CareQueue, Settings, ViewState};
use crate::ingest::Ingestor;
use crate::settings::{AccessSettings, IngestSettings, ViewSettings};
use crate::store::orders::ApplyOptions;
use crate::store::Store;
use std::sync::Arc;

/// The AWS clients of one process, built once.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// From the Lambda environment (the default credential and region chain).
    pub async fn from_aws() -> Clients {
        let config = crate::aws::sdk_config().await;
        Clients { dynamodb: crate::aws::dynamodb_client(&config), sqs: crate::aws::sqs_client(&config) }
    }

    /// For DynamoDB Local and the SQS emulator.
    pub fn local(dynamodb_url: &str, sqs_url: &str) -> Clients {
        let (dynamodb, sqs) = crate::aws::local_clients(dynamodb_url, sqs_url);
        Clients { dynamodb, sqs }
    }

    fn store(&self, table: &str) -> Store {
        Store::new(self.dynamodb.clone(), table.to_string())
    }
}

/// The view function's state: the table and the cursor key; no Care queue.
/// `routes`: what the routes read on every request (identity claims, limits, rollout).
pub fn view_state(clients: &Clients, settings: &ViewSettings, routes: &Settings) -> ViewState {
    ViewState {
        store: clients.store(&settings.table),
        cursors: Arc::new(CursorKey::new(&settings.cursor_secret)),
        settings: routes.clone(),
    }
}

/// The access function's state: the table, the cursor key, the Care queue, the admin SLA.
pub fn access_state(clients: &Clients, settings: &AccessSettings, routes: &Settings) -> AppState {
    AppState {
        store: clients.store(&settings.table),
        cursors: Arc::new(CursorKey::new(&settings.cursor_secret)),
        care: Some(CareQueue { sqs: clients.sqs.clone(), url: settings.care_queue_url.clone() }),
        admin_sla_days: settings.admin_sla_days,
        settings: routes.clone(),
    }
}

/// The order ingestion function's handler.
pub fn ingestor(clients: &Clients, settings: &IngestSettings) -> Ingestor {
    Ingestor {
        store: clients.store(&settings.table),
        sqs: clients.sqs.clone(),
        dead_letter_queue_url: settings.orders_dlq_url.clone(),
        options: ApplyOptions::default(),
        max_receive_count: crate::ingest::DEFAULT_MAX_RECEIVE_COUNT,
    }
}
