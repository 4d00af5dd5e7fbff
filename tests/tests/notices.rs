//! Expiry notices (issue 20 part 2) against DynamoDB Local and moto's SES (real SES calls):
//! who gets which digest, each (contact, line, threshold) once — across a second run, two
//! runs at once, a run killed half-way, SES throttling, DynamoDB failing like AWS — nothing
//! for revoked or renewed lines, and opt-out by the setting and by the signed link.

use abev::domain::access::Rollout;
use abev::domain::{Day, Email};
use abev::notices::digest::OutgoingMail;
use abev::notices::mailer::{local_ses_client, verify_identity, Mailer, SendError, SendFuture, SesMailer};
use abev::notices::{notifier, NoticesSettings, Notifier, RunReport};
use abev::store::faults::FaultPlan;
use abev::store::metrics::measured;
use abev_integration_tests::{endpoints, TestApp, TestStack};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const CURSOR_SECRET: &str = "test-cursor-secret";

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn in_days(from: time::OffsetDateTime, days: i64) -> String {
    Day(from.date() + time::Duration::days(days)).to_string()
}

/// An order message whose lines end `offset` days from today.
fn order(
    id: &str,
    version: u64,
    end: (&str, &[&str]),
    reseller: Option<(&str, &[&str])>,
    ship_to: Option<(&str, &[&str])>,
    lines: &[(&str, i64)],
) -> String {
    let party = |(site, contacts): (&str, &[&str])| {
        json!({"site": {"support_id": site, "name": format!("{site} Ltd")},
               "contacts": contacts.iter().map(|e| json!({"email": e})).collect::<Vec<_>>()})
    };
    json!({
        "schema": "abev.order.v1", "order_id": id, "version": version, "status": "active", "ordered_at": "2026-04-01T10:00:00Z",
        "end_customer": party(end), "reseller": reseller.map(party), "ship_to": ship_to.map(party),
        "lines": lines.iter().map(|(serial, offset)| json!({"serial": serial, "sku": "SKU-1", "product": "Product One",
            "quantity": 1, "starts_on": "2026-01-01", "ends_on": in_days(now(), *offset), "license_keys": [format!("LK-{serial}")]}))
            .collect::<Vec<_>>()
    })
    .to_string()
}

/// The worked example's parties with end dates: a reseller's member (mary), end customers
/// (bill, fiona, gary), a ship-to contact (ted); O-3's version 2 renews S6 beyond the window
/// and drops S7.
fn world() -> Vec<String> {
    vec![
        order(
            "O-1",
            1,
            ("ACME-1", &["bill@acme.example"]),
            Some(("SKY-1", &["mary@skynet.example"])),
            Some(("DATA-1", &["ted@data.example"])),
            &[("S1", 5), ("S2", 20), ("S3", 80), ("S4", 200)],
        ),
        order("O-2", 1, ("FARM-1", &["fiona@farm.example"]), Some(("SKY-1", &["mary@skynet.example"])), None, &[("S5", 60)]),
        order("O-3", 1, ("GLOBEX-1", &["gary@globex.example"]), None, None, &[("S6", 25), ("S7", 10), ("S8", 50)]),
        order("O-3", 2, ("GLOBEX-1", &["gary@globex.example"]), None, None, &[("S6", 400), ("S8", 50)]),
        // An order nobody in the expectations below can see: its only contact is its own.
        order("O-9", 1, ("ELSE-1", &["else@else.example"]), None, None, &[("S90", 400)]),
    ]
}

/// What each contact's first digest must hold: serial → threshold.
fn expected_first_digests() -> BTreeMap<String, BTreeMap<String, u32>> {
    let o1 = [("S1", 7), ("S2", 30), ("S3", 90)];
    let digest = |entries: &[(&str, u32)]| entries.iter().map(|(s, t)| (s.to_string(), *t)).collect::<BTreeMap<_, _>>();
    BTreeMap::from([
        ("bill@acme.example".to_string(), digest(&o1)),
        ("mary@skynet.example".to_string(), digest(&[("S1", 7), ("S2", 30), ("S3", 90), ("S5", 90)])),
        ("ted@data.example".to_string(), digest(&o1)),
        ("fiona@farm.example".to_string(), digest(&[("S5", 90)])),
        ("gary@globex.example".to_string(), digest(&[("S8", 90)])),
    ])
}

/// One e-mail moto's SES accepted.
#[derive(Debug, Clone)]
struct Sent {
    to: String,
    subject: String,
    body: String,
}

impl Sent {
    /// The notices the body lists: serial → threshold (the "Ending within N days" group).
    fn notices(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        let mut threshold = 0;
        for line in self.body.lines() {
            if let Some(rest) = line.strip_prefix("Ending within ") {
                threshold = rest.split_whitespace().next().unwrap().parse().unwrap();
            } else if let Some(at) = line.find("serial ") {
                let serial = line[at + 7..].split(',').next().unwrap().to_string();
                assert!(out.insert(serial, threshold).is_none(), "a serial twice in one digest:\n{}", self.body);
            }
        }
        out
    }

    fn unsubscribe_link(&self) -> String {
        self.body.lines().find_map(|l| l.strip_prefix("No more of these e-mails: ")).expect("an unsubscribe link").to_string()
    }
}

/// Everything moto's SES accepted from `from` (each test sends from its own identity).
async fn sent_from(from: &str) -> Vec<Sent> {
    let (_, sqs_url) = endpoints();
    let data: Value = reqwest::get(format!("{sqs_url}/moto-api/data.json")).await.unwrap().json().await.unwrap();
    let messages = data["ses"]["Message"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .filter(|m| m["source"] == from)
        .map(|m| Sent {
            to: m["destinations"]["ToAddresses"][0].as_str().unwrap_or_default().to_string(),
            subject: m["subject"].as_str().unwrap_or_default().to_string(),
            body: m["body"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// (contact, serial, threshold) → how many times it was announced.
fn announced(mails: &[Sent]) -> BTreeMap<(String, String, u32), usize> {
    let mut out = BTreeMap::new();
    for m in mails {
        for (serial, threshold) in m.notices() {
            *out.entry((m.to.clone(), serial, threshold)).or_insert(0) += 1;
        }
    }
    out
}

fn expected_once() -> BTreeMap<(String, String, u32), usize> {
    expected_first_digests().into_iter().flat_map(|(to, d)| d.into_iter().map(move |(s, t)| ((to.clone(), s, t), 1))).collect()
}

/// A test's notices: its own verified sender on moto's SES, over the stack's store.
struct Notices {
    from: String,
    ses: SesMailer,
    settings: NoticesSettings,
}

impl Notices {
    async fn new(t: &TestStack, api_url: &str) -> Notices {
        let (_, sqs_url) = endpoints();
        let from = format!("notices-{}@abev.example", t.stack.stack_name);
        let client = local_ses_client(&sqs_url);
        verify_identity(&client, &from).await.expect("the sender is a verified identity");
        let ses = SesMailer { client, from: from.clone(), attempts: 1 };
        let settings = NoticesSettings {
            table: t.stack.table.clone(),
            cursor_secret: CURSOR_SECRET.into(),
            from: from.clone(),
            web_url: "https://web.example".into(),
            api_url: api_url.into(),
            rollout: Rollout::Everyone,
        };
        Notices { from, ses, settings }
    }

    fn notifier(&self, t: &TestStack, mailer: Arc<dyn Mailer>) -> Notifier {
        notifier(t.store.clone(), mailer, &self.settings)
    }

    /// A notifier that visits one contact at a time: a Lambda killed at a send then has no
    /// other digest in flight (with more, each one SES accepted but not yet recorded would go
    /// out again too: the window docs/ARCHITECTURE.md states).
    fn one_at_a_time(&self, t: &TestStack, mailer: Arc<dyn Mailer>) -> Notifier {
        Notifier { concurrency: 1, ..self.notifier(t, mailer) }
    }

    fn ses(&self, t: &TestStack) -> Notifier {
        self.notifier(t, Arc::new(self.ses.clone()))
    }

    async fn sent(&self) -> Vec<Sent> {
        sent_from(&self.from).await
    }
}

/// SES that throttles the first `throttled` sends (refused: nothing sent), then sends.
#[derive(Debug)]
struct Throttling {
    ses: SesMailer,
    throttled: AtomicUsize,
}

impl Mailer for Throttling {
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a> {
        Box::pin(async move {
            if self.throttled.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                return Err(SendError::Throttled("TooManyRequestsException: injected".into()));
            }
            self.ses.send(mail).await
        })
    }
}

/// A Lambda killed at its `n`+1-th send: before SES sees it (`after_ses: false`), or right
/// after SES accepted it, before the run could record it (`after_ses: true`).
#[derive(Debug)]
struct DiesAt {
    ses: SesMailer,
    n: usize,
    sends: AtomicUsize,
    after_ses: bool,
}

impl Mailer for DiesAt {
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a> {
        Box::pin(async move {
            if self.sends.fetch_add(1, Ordering::SeqCst) < self.n {
                return self.ses.send(mail).await;
            }
            if self.after_ses {
                let _ = self.ses.send(mail).await;
            }
            panic!("the Lambda was killed at send {}", self.n + 1);
        })
    }
}

/// Sends the world's orders through SQS and the event source, as the ingestion Lambda gets them.
async fn stack_with_world() -> TestStack {
    let t = TestStack::new().await;
    for body in world() {
        t.send(&body).await;
        // Versions in order: the test is about notices, not about out-of-order delivery.
        t.drain().await;
    }
    t
}

#[tokio::test]
async fn each_contact_gets_one_digest_of_what_they_can_see_and_a_second_run_sends_nothing() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    let report = n.ses(&t).run(now(), None).await.unwrap();
    assert_eq!((report.digests_sent, report.failed), (5, 0), "{report:?}");
    let mails = n.sent().await;
    let got: BTreeMap<String, BTreeMap<String, u32>> = mails.iter().map(|m| (m.to.clone(), m.notices())).collect();
    assert_eq!(mails.len(), 5, "one digest per contact: {:?}", mails.iter().map(|m| &m.to).collect::<Vec<_>>());
    assert_eq!(got, expected_first_digests(), "S4 (200 days), S6 (renewed), S7 (revoked), S90 (nobody else) are not announced");
    assert!(!got.contains_key("else@else.example"), "a line beyond the window announces nothing");
    let bill = mails.iter().find(|m| m.to == "bill@acme.example").unwrap();
    assert!(bill.subject.ends_with("within 7 days"), "{}", bill.subject);
    assert!(bill.body.contains("https://web.example/#/renewals"), "the radar link");
    assert!(bill.unsubscribe_link().starts_with("https://api.example/v1/notices/unsubscribe?token="));
    assert!(!bill.body.contains("LK-"), "no licence key in an e-mail");

    let again = n.ses(&t).run(now(), None).await.unwrap();
    assert_eq!((again.digests_sent, again.nothing_due, again.failed), (0, 5, 0), "{again:?}");
    assert_eq!(n.sent().await.len(), 5, "a second run sends nothing new");
}

#[tokio::test]
async fn the_next_threshold_is_announced_when_a_line_reaches_it_and_only_then() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    n.ses(&t).run(now(), None).await.unwrap();
    // 55 days on: S3 (80 → 25 days) is due at 30, S5 (60 → 5) at 7, S8 (50 → -5) has ended.
    let later = now() + time::Duration::days(55);
    n.ses(&t).run(later, None).await.unwrap();
    n.ses(&t).run(later, None).await.unwrap();
    let mails = n.sent().await;
    let second: BTreeMap<String, BTreeMap<String, u32>> = mails[5..].iter().map(|m| (m.to.clone(), m.notices())).collect();
    let s3 = BTreeMap::from([("S3".to_string(), 30)]);
    assert_eq!(
        second,
        BTreeMap::from([
            ("bill@acme.example".to_string(), s3.clone()),
            ("ted@data.example".to_string(), s3.clone()),
            ("mary@skynet.example".to_string(), BTreeMap::from([("S3".to_string(), 30), ("S5".to_string(), 7)])),
            ("fiona@farm.example".to_string(), BTreeMap::from([("S5".to_string(), 7)])),
        ])
    );
    assert_eq!(mails.len(), 9, "the third run sent nothing");
}

#[tokio::test]
async fn two_runs_at_once_send_each_notice_once() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    let (a, b) = (n.ses(&t), n.ses(&t));
    let at = now();
    let (ra, rb) = tokio::join!(a.run(at, None), b.run(at, None));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.digests_sent + rb.digests_sent, 5, "{ra:?} {rb:?}");
    assert_eq!(announced(&n.sent().await), expected_once());
}

#[tokio::test]
async fn a_run_killed_half_way_is_completed_by_the_next_run_with_every_notice_once() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    let dying = n.one_at_a_time(&t, Arc::new(DiesAt { ses: n.ses.clone(), n: 2, sends: AtomicUsize::new(0), after_ses: false }));
    let at = now();
    let killed = tokio::spawn(async move { dying.run(at, None).await }).await;
    assert!(killed.is_err(), "the run died at its third send");
    assert_eq!(n.sent().await.len(), 2);
    // The next run starts after the dead run's leases ran out (5 minutes).
    let report = n.ses(&t).run(at + time::Duration::minutes(6), None).await.unwrap();
    assert_eq!(report.digests_sent, 3, "{report:?}");
    assert_eq!(announced(&n.sent().await), expected_once());
}

#[tokio::test]
async fn a_run_that_starts_while_a_dead_runs_lease_holds_skips_that_contact_until_it_runs_out() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    let dying = n.one_at_a_time(&t, Arc::new(DiesAt { ses: n.ses.clone(), n: 0, sends: AtomicUsize::new(0), after_ses: false }));
    let at = now();
    assert!(tokio::spawn(async move { dying.run(at, None).await }).await.is_err());
    let early = n.ses(&t).run(at + time::Duration::minutes(1), None).await.unwrap();
    assert!(early.busy >= 1, "the dead run's contact is still leased: {early:?}");
    let late = n.ses(&t).run(at + time::Duration::minutes(6), None).await.unwrap();
    assert_eq!(early.digests_sent + late.digests_sent, 5, "{early:?} {late:?}");
    assert_eq!(announced(&n.sent().await), expected_once());
}

/// The documented window: SES accepted a digest and the Lambda died before recording it. SES
/// has no idempotency key, so the next run sends that digest again — only that one.
#[tokio::test]
async fn a_run_killed_between_ses_accepting_and_the_record_resends_only_that_digest() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    let dying = n.one_at_a_time(&t, Arc::new(DiesAt { ses: n.ses.clone(), n: 1, sends: AtomicUsize::new(0), after_ses: true }));
    let at = now();
    assert!(tokio::spawn(async move { dying.run(at, None).await }).await.is_err());
    n.ses(&t).run(at + time::Duration::minutes(6), None).await.unwrap();
    let counts = announced(&n.sent().await);
    let twice: BTreeSet<&String> = counts.iter().filter(|(_, c)| **c == 2).map(|((to, _, _), _)| to).collect();
    assert_eq!(twice.len(), 1, "exactly one contact's digest went out twice: {counts:?}");
    assert!(counts.values().all(|c| *c <= 2));
    let once: BTreeMap<_, _> = counts.keys().map(|k| (k.clone(), 1)).collect();
    assert_eq!(once, expected_once(), "and nothing else was missed or repeated");
}

/// Checked at send time, not at discovery: notices claimed by a run that died before its send
/// are not sent once their line was revoked or renewed meanwhile (their claims are dropped).
#[tokio::test]
async fn notices_pending_from_a_dead_run_are_dropped_when_the_line_was_revoked_or_renewed_meanwhile() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    // One contact at a time, in address order: bill is first, and the run dies at his send.
    let dying = n.one_at_a_time(&t, Arc::new(DiesAt { ses: n.ses.clone(), n: 0, sends: AtomicUsize::new(0), after_ses: false }));
    let at = now();
    assert!(tokio::spawn(async move { dying.run(at, None).await }).await.is_err());
    let bill = Email::parse("bill@acme.example").unwrap();
    let pending = t.store.notice_state(&bill).await.unwrap();
    assert_eq!(pending.claims.len(), 3, "bill's notices were claimed before the send: {pending:?}");
    // Version 2 of O-1 drops S1 and renews S2 beyond the window.
    t.send(&order(
        "O-1",
        2,
        ("ACME-1", &["bill@acme.example"]),
        Some(("SKY-1", &["mary@skynet.example"])),
        Some(("DATA-1", &["ted@data.example"])),
        &[("S2", 300), ("S3", 80), ("S4", 200)],
    ))
    .await;
    t.drain().await;
    n.ses(&t).run(at + time::Duration::minutes(6), None).await.unwrap();
    let got: BTreeMap<String, BTreeMap<String, u32>> = n.sent().await.iter().map(|m| (m.to.clone(), m.notices())).collect();
    let s3 = BTreeMap::from([("S3".to_string(), 90)]);
    assert_eq!(got["bill@acme.example"], s3, "S1 revoked and S2 renewed after they were claimed: not sent");
    assert_eq!(got["ted@data.example"], s3);
    assert_eq!(got["mary@skynet.example"], BTreeMap::from([("S3".to_string(), 90), ("S5".to_string(), 90)]));
    let after = t.store.notice_state(&bill).await.unwrap();
    let left: Vec<(String, u32)> = after.claims.iter().map(|c| (c.serial.clone(), c.threshold)).collect();
    assert_eq!(left, vec![("S3".to_string(), 90)], "the revoked and renewed lines' pending claims were dropped");
}

#[tokio::test]
async fn a_throttled_send_is_sent_by_the_next_run() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    let throttling = n.notifier(&t, Arc::new(Throttling { ses: n.ses.clone(), throttled: AtomicUsize::new(2) }));
    let first = throttling.run(now(), None).await.unwrap();
    assert_eq!((first.digests_sent, first.failed), (3, 2), "{first:?}");
    let err = abev::notices::handle_schedule(&throttling, None).await;
    assert!(err.is_ok(), "the throttle is spent: the retry sends the rest ({err:?})");
    assert_eq!(announced(&n.sent().await), expected_once());
    // The schedule's handler reports a run with failures as an error (the alarm).
    let t2 = stack_with_world().await;
    let n2 = Notices::new(&t2, "https://api.example").await;
    let failing = n2.notifier(&t2, Arc::new(Throttling { ses: n2.ses.clone(), throttled: AtomicUsize::new(1) }));
    assert!(abev::notices::handle_schedule(&failing, None).await.unwrap_err().contains("1 failed"));
}

#[tokio::test]
async fn dynamodb_failing_like_aws_still_sends_each_notice_once() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    t.faults.set_plan(FaultPlan { throttle: 0.1, error: 0.05, lost: 0.1, conflict: 0.0, seed: 11 });
    // A run whose discovery meets a failure that outlasts the retries is an error (in AWS the
    // invocation fails and is retried); visits that fail leave their notices pending.
    let mut reports: Vec<Result<RunReport, String>> = Vec::new();
    for i in 0..4 {
        reports.push(n.ses(&t).run(now() + time::Duration::minutes(6 * i), None).await.map_err(|e| e.to_string()));
    }
    t.faults.set_plan(FaultPlan::default());
    let last = n.ses(&t).run(now() + time::Duration::minutes(30), None).await.unwrap();
    assert_eq!(last.failed, 0, "{last:?}");
    assert_eq!(announced(&n.sent().await), expected_once(), "{reports:?}");
}

#[tokio::test]
async fn a_contact_who_turned_notices_off_gets_none_by_the_setting_or_by_the_signed_link() {
    let t = stack_with_world().await;
    let app = TestApp::spawn(&t).await;
    let n = Notices::new(&t, &app.base).await;
    // The setting: on by default, off by PUT; one GetItem a read.
    let bill = app.token("bill@acme.example");
    assert_eq!(app.get(&bill, "/v1/me/notices").await.2, json!({"enabled": true}));
    let (status, _, body) = app.send_json(reqwest::Method::PUT, &bill, "/v1/me/notices", json!({"enabled": false})).await;
    assert_eq!((status, body), (200, json!({"enabled": false})));
    assert_eq!(app.get(&bill, "/v1/me/notices").await.2, json!({"enabled": false}));
    let (status, _, _) = app.send_json(reqwest::Method::PUT, &bill, "/v1/me/notices", json!({"enabled": "no"})).await;
    assert_eq!(status, 400);
    let email = Email::parse("bill@acme.example").unwrap();
    let (enabled, cost) = measured(t.store.notices_enabled(&email)).await;
    assert!(!enabled.unwrap());
    assert_eq!((cost.ddb_calls, cost.sequential_rounds), (1, 1), "the setting is one GetItem");

    let report = n.ses(&t).run(now(), None).await.unwrap();
    assert_eq!((report.digests_sent, report.opted_out), (4, 1), "{report:?}");
    let mails = n.sent().await;
    assert!(!mails.iter().any(|m| m.to == "bill@acme.example"), "bill turned them off");

    // The link in mary's digest turns hers off without a sign-in; forged or unsigned ones do not.
    let mary = mails.iter().find(|m| m.to == "mary@skynet.example").unwrap();
    let link = mary.unsubscribe_link();
    let token = link.split_once("token=").unwrap().1.to_string();
    let http = reqwest::Client::new();
    let unsubscribe = |query: String| {
        let http = http.clone();
        let base = app.base.clone();
        async move { http.get(format!("{base}/v1/notices/unsubscribe{query}")).send().await.unwrap() }
    };
    assert_eq!(unsubscribe(String::new()).await.status(), 400, "no token");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(unsubscribe(format!("?token={}.{}", parts[0], parts[1])).await.status(), 400, "unsigned");
    let other = base64_url("fiona@farm.example");
    let forged = format!("?token={}.{other}.{}", parts[0], parts[2]);
    let refused = unsubscribe(forged).await;
    assert_eq!(refused.status(), 400, "mary's signature on fiona's address");
    assert!(refused.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    let page = unsubscribe(format!("?token={token}")).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("mary@skynet.example will get no more expiry notices"));
    let again = http.get(link.as_str()).header("accept", "application/json").send().await.unwrap();
    assert_eq!(again.status(), 200, "the same link again: the same answer");
    assert_eq!(again.json::<Value>().await.unwrap(), json!({"email": "mary@skynet.example", "enabled": false}));
    let mary_token = app.token("mary@skynet.example");
    assert_eq!(app.get(&mary_token, "/v1/me/notices").await.2, json!({"enabled": false}));
    assert_eq!(
        app.get(&app.token("fiona@farm.example"), "/v1/me/notices").await.2,
        json!({"enabled": true}),
        "the forged link changed nothing"
    );

    // 55 days on, mary would be due S3 at 30 and S5 at 7; fiona S5 at 7: only fiona hears.
    let later = n.ses(&t).run(now() + time::Duration::days(55), None).await.unwrap();
    assert_eq!(later.opted_out, 2, "{later:?}");
    let new: Vec<String> = n.sent().await[mails.len()..].iter().map(|m| m.to.clone()).collect();
    assert!(!new.contains(&"mary@skynet.example".to_string()) && new.contains(&"fiona@farm.example".to_string()), "{new:?}");
    // Turned on again, what is due from then on is sent.
    app.send_json(reqwest::Method::PUT, &mary_token, "/v1/me/notices", json!({"enabled": true})).await;
    n.ses(&t).run(now() + time::Duration::days(55), None).await.unwrap();
    assert!(n.sent().await.iter().skip(mails.len()).any(|m| m.to == "mary@skynet.example"));
}

#[tokio::test]
async fn who_to_visit_comes_from_the_end_day_index_at_a_cost_that_follows_days_orders_and_sites() {
    let t = stack_with_world().await;
    let n = Notices::new(&t, "https://api.example").await;
    let today = Day(now().date());
    let (contacts, cost) = measured(n.ses(&t).contacts_to_visit(today)).await;
    let contacts: BTreeSet<String> = contacts.unwrap().into_iter().map(|e| e.to_string()).collect();
    let expected: BTreeSet<String> = expected_first_digests().into_keys().collect();
    assert_eq!(contacts, expected, "members of the lines' sites and resellers, and the ship-to contacts; not else@");
    // 91 days × 8 shard queries, one BatchGet of 3 heads (O-1, O-2, O-3; O-9 ends beyond the window),
    // one members query per site: ACME-1, SKY-1, FARM-1, GLOBEX-1; and 8 days of the membership
    // end index (the access notice's week).
    assert_eq!(cost.ddb_calls, 91 * u64::from(abev::store::keys::GSI5_SHARDS) + 1 + 4 + 8, "{cost:?}");
}

fn base64_url(raw: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Rollout waves: a site not yet in views is not announced to anyone who would see it
/// there — not its members, not its orders' resellers or ship-to contacts — and once Care
/// enables it, the next run announces it (each notice once, as for everyone).
#[tokio::test]
async fn in_rollout_waves_a_site_is_announced_only_once_it_is_enabled() {
    let t = stack_with_world().await;
    let mut n = Notices::new(&t, "https://api.example").await;
    n.settings.rollout = Rollout::Waves;
    let app = TestApp::spawn_with(&t, abev::http::Settings { rollout: Rollout::Waves, ..Default::default() }).await;
    let care = app.care_client("carla@care.example");
    let digests =
        |mails: &[Sent]| -> BTreeMap<String, BTreeMap<String, u32>> { mails.iter().map(|m| (m.to.clone(), m.notices())).collect() };

    let first = n.ses(&t).run(now(), None).await.unwrap();
    assert_eq!((first.digests_sent, first.failed), (0, 0), "no site is in views yet: {first:?}");
    assert!(n.sent().await.is_empty());

    // ACME-1 joins the view: O-1's lines are announced to its member, its ship-to contact and
    // its reseller's member — and nothing of FARM-1 or GLOBEX-1, still out.
    assert!(care.set_rollout("ACME-1", true).await.unwrap().changed);
    let second = n.ses(&t).run(now(), None).await.unwrap();
    assert_eq!((second.digests_sent, second.failed), (3, 0), "{second:?}");
    let o1 = BTreeMap::from([("S1".to_string(), 7), ("S2".to_string(), 30), ("S3".to_string(), 90)]);
    assert_eq!(
        digests(&n.sent().await),
        BTreeMap::from([
            ("bill@acme.example".to_string(), o1.clone()),
            ("mary@skynet.example".to_string(), o1.clone()),
            ("ted@data.example".to_string(), o1),
        ]),
        "mary's FARM-1 line (S5) waits for FARM-1"
    );

    // FARM-1 and GLOBEX-1 join: their lines now, and O-1's not again.
    for site in ["FARM-1", "GLOBEX-1"] {
        assert!(care.set_rollout(site, true).await.unwrap().changed);
    }
    let third = n.ses(&t).run(now(), None).await.unwrap();
    assert_eq!((third.digests_sent, third.failed), (3, 0), "{third:?}");
    let mails = n.sent().await;
    assert_eq!(
        digests(&mails[3..]),
        BTreeMap::from([
            ("fiona@farm.example".to_string(), BTreeMap::from([("S5".to_string(), 90)])),
            ("gary@globex.example".to_string(), BTreeMap::from([("S8".to_string(), 90)])),
            ("mary@skynet.example".to_string(), BTreeMap::from([("S5".to_string(), 90)])),
        ])
    );
    // Everything announced once, exactly as under `everyone` in one run.
    assert_eq!(announced(&mails), expected_once());

    // A site taken out of views again is not announced any further (S3 reaches 30 days).
    assert!(care.set_rollout("ACME-1", false).await.unwrap().changed);
    let later = n.ses(&t).run(now() + time::Duration::days(55), None).await.unwrap();
    let after = n.sent().await;
    let announced_later: BTreeSet<&str> = after[mails.len()..]
        .iter()
        .flat_map(|m| m.body.lines())
        .filter_map(|l| l.find("serial ").map(|at| &l[at + 7..]))
        .map(|s| s.split(',').next().unwrap())
        .collect();
    assert!(!announced_later.contains("S3"), "ACME-1 is out of views: {later:?} {announced_later:?}");
    assert!(announced_later.contains("S5"), "FARM-1 is still in: S5 reaches 7 days: {announced_later:?}");
}

/// The sites whose access the mail announces: the "Your access …" section's lines.
fn access_announced(mail: &Sent) -> Vec<String> {
    mail.body
        .lines()
        .filter(|l| l.contains("): your membership ends "))
        .filter_map(|l| l.split('(').nth(1)?.split(')').next().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_member_lapsed_by_an_access_review_is_told_once_before_losing_access_and_a_confirmation_ends_the_notices() {
    use abev::access;
    use abev_integration_tests::access_fixtures::{call, seeded, CARE};
    use reqwest::Method;
    let (t, app) = seeded().await;
    let care = app.care_token(CARE);
    let (status, _) = call(&app, Method::PUT, &care, "/v1/sites/ACME-1/review-schedule", json!({"every_days": 10})).await;
    assert_eq!(status, 200);
    // Nobody confirms: the sweep after the deadline gives ACME-1's members an end a week on.
    let lapsed = access::now() + time::Duration::days(11);
    access::sweep(&app.state.workflow(), lapsed).await.unwrap();
    let members = app.care_client(CARE).all_members("ACME-1").await.unwrap();
    let lapsed_members: BTreeSet<String> = members.iter().filter(|m| m.ends_at.is_some()).map(|m| m.email.to_string()).collect();
    assert_eq!(lapsed_members, BTreeSet::from(["alice@acme.example".to_string(), "bill@acme.example".to_string()]));

    let n = Notices::new(&t, "https://api.example").await;
    let run_at = lapsed + time::Duration::hours(1);
    let report = n.ses(&t).run(run_at, None).await.unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    let told = |mails: &[Sent]| -> BTreeMap<String, Vec<String>> {
        mails.iter().map(|m| (m.to.clone(), access_announced(m))).filter(|(_, sites)| !sites.is_empty()).collect()
    };
    let mails = n.sent().await;
    let expected: BTreeMap<String, Vec<String>> = lapsed_members.iter().map(|e| (e.clone(), vec!["ACME-1".to_string()])).collect();
    assert_eq!(told(&mails), expected, "each lapsed member is told, once, of their own site");
    let bill = mails.iter().find(|m| m.to == "bill@acme.example").unwrap();
    assert!(bill.subject.starts_with("Your access to "), "{}", bill.subject);
    assert!(bill.body.contains("https://web.example/#/manage"), "{}", bill.body);

    // Care confirms bill in the notice week: his end goes. The next day's run tells nobody
    // anything new of their access (alice was told already; bill has nothing ending).
    let (status, _) = call(&app, Method::POST, &care, "/v1/sites/ACME-1/review/bill@acme.example", json!({"action": "confirm"})).await;
    assert_eq!(status, 200);
    n.ses(&t).run(run_at + time::Duration::days(1), None).await.unwrap();
    assert_eq!(told(&n.sent().await), expected, "nothing new announced: {:?}", n.sent().await);
}
