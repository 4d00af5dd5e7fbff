//! Configuration from the environment, read once at start-up.

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError { name, problem: "is not set".into() })
}

pub fn optional(name: &'static str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

pub fn number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().map_err(|_| ConfigError { name, problem: format!("{v:?} is not a whole number") }),
        _ => Ok(default),
    }
}

/// The table name (`ABEV_TABLE`, default `abev`).
pub fn table() -> String {
    optional("ABEV_TABLE", "abev")
}

// ---- secrets, read once per cold start --------------------------------------------------

/// The cursor key ring in its text form (see `http::cursor::CursorKey::new`): set directly
/// locally and in tests, or filled in by [`load_cursor_secret`] in AWS.
pub const CURSOR_SECRET: &str = "ABEV_CURSOR_SECRET";
/// ARN (or name) of the Secrets Manager secret holding the cursor key (AWS).
pub const CURSOR_SECRET_ARN: &str = "ABEV_CURSOR_SECRET_ARN";
/// The AWS Parameters and Secrets Lambda Extension's port variable (its default: 2773).
pub const SECRETS_EXTENSION_PORT: &str = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";

/// Secrets Manager staging labels the cursor ring is built from, in ring order: the current
/// key signs; a pending key (staged for a rotation) and the previous key are accepted.
pub const CURSOR_KEY_STAGES: [&str; 3] = ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"];

/// Resolves the cursor key ring once, at start-up, into `ABEV_CURSOR_SECRET`.
///
/// - `ABEV_CURSOR_SECRET` already set (local host, tests, or a deliberate override): kept.
/// - else `ABEV_CURSOR_SECRET_ARN` set (AWS): the secret's `AWSCURRENT`, `AWSPENDING` and
///   `AWSPREVIOUS` versions are read from the AWS Parameters and Secrets Lambda Extension on
///   `localhost:2773` (a layer; plain HTTP, no SDK), and the ring's text form - one key per
///   line, current first - is put in `ABEV_CURSOR_SECRET` for `AppState::from_env`.
///   `AWSCURRENT` must exist; the other two are optional.
/// - neither: nothing here; `AppState::from_env` reports the missing variable.
///
/// Call it from `main` before the async runtime starts: it sets an environment variable,
/// which is only sound while the process has a single thread.
pub fn load_cursor_secret() -> Result<(), ConfigError> {
    if let Some(ring) = resolve_cursor_secret(|name| std::env::var(name).ok())? {
        std::env::set_var(CURSOR_SECRET, ring);
    }
    Ok(())
}

/// What [`load_cursor_secret`] decides, with the environment as a function: `Some(ring)` to
/// put in `ABEV_CURSOR_SECRET`, `None` to leave the environment as it is.
pub fn resolve_cursor_secret(env: impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if set(CURSOR_SECRET).is_some() {
        return Ok(None);
    }
    let Some(secret_id) = set(CURSOR_SECRET_ARN) else {
        return Ok(None);
    };
    let port = match set(SECRETS_EXTENSION_PORT) {
        None => 2773,
        Some(p) => p.parse::<u16>().map_err(|_| ConfigError { name: SECRETS_EXTENSION_PORT, problem: format!("{p:?} is not a port") })?,
    };
    let token = set("AWS_SESSION_TOKEN").ok_or(ConfigError { name: "AWS_SESSION_TOKEN", problem: "is not set".into() })?;
    let extension = secrets_extension::Extension { port, token, deadline: std::time::Duration::from_secs(3) };
    cursor_ring(&secret_id, |stage| extension.secret_string(&secret_id, stage)).map(Some)
}

/// The ring's text form from a secret's versions by stage (`fetch` answers `Ok(None)` for
/// a stage the secret does not have).
pub fn cursor_ring(secret_id: &str, mut fetch: impl FnMut(&str) -> Result<Option<String>, String>) -> Result<String, ConfigError> {
    let mut keys: Vec<String> = Vec::new();
    for stage in CURSOR_KEY_STAGES {
        let problem = |p: String| ConfigError { name: CURSOR_SECRET_ARN, problem: format!("secret {secret_id} ({stage}): {p}") };
        match fetch(stage).map_err(problem)? {
            Some(value) => {
                let value = value.trim().to_string();
                if value.is_empty() || value.contains('\n') {
                    return Err(problem("the value must be one line of key material, not empty".into()));
                }
                if !keys.contains(&value) {
                    keys.push(value);
                }
            }
            None if stage == CURSOR_KEY_STAGES[0] => return Err(problem("the secret has no current value".into())),
            None => {}
        }
    }
    Ok(keys.join("\n"))
}

/// A minimal client of the AWS Parameters and Secrets Lambda Extension: HTTP/1.0 GET on
/// loopback, std only (see docs/DEPLOY.md, "Secrets", for why not the SDK).
pub mod secrets_extension {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    pub struct Extension {
        pub port: u16,
        /// `AWS_SESSION_TOKEN`: the extension only answers requests that carry it.
        pub token: String,
        /// How long to keep retrying while the extension is still starting.
        pub deadline: Duration,
    }

    impl Extension {
        /// `SecretString` of the secret's version in `stage`; `None` if it has none there.
        pub fn secret_string(&self, secret_id: &str, stage: &str) -> Result<Option<String>, String> {
            let path = format!("/secretsmanager/get?secretId={}&versionStage={}", encode(secret_id), encode(stage));
            let started = Instant::now();
            let mut pause = Duration::from_millis(10);
            loop {
                let outcome = self.get(&path);
                let retry = match &outcome {
                    // Not listening yet: the extension starts beside the function.
                    Err(_) => true,
                    // The extension answers 400 "not ready to serve traffic" while it starts.
                    Ok((400, body)) => body.contains("not ready"),
                    Ok(_) => false,
                };
                if !retry || started.elapsed() + pause > self.deadline {
                    return interpret(outcome?);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }

        fn get(&self, path: &str) -> Result<(u16, String), String> {
            let io = |e: std::io::Error| format!("secrets extension on localhost:{}: {e}", self.port);
            let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(io)?;
            stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(io)?;
            stream.set_write_timeout(Some(Duration::from_secs(5))).map_err(io)?;
            // HTTP/1.0: the answer has no chunked encoding and ends when the server closes.
            let request =
                format!("GET {path} HTTP/1.0\r\nHost: localhost:{}\r\nX-Aws-Parameters-Secrets-Token: {}\r\n\r\n", self.port, self.token);
            stream.write_all(request.as_bytes()).map_err(io)?;
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).map_err(io)?;
            parse_response(&raw)
        }
    }

    /// Status and body of a raw HTTP/1.x response.
    pub fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("secrets extension: incomplete HTTP response")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("secrets extension: bad status line {:?}", head.lines().next().unwrap_or("")))?;
        Ok((status, body.to_string()))
    }

    /// 200: the `SecretString` of the GetSecretValue answer. A version stage the secret does
    /// not have: `None`. Anything else is an error (without the body's secret, if any).
    pub fn interpret((status, body): (u16, String)) -> Result<Option<String>, String> {
        if status == 200 {
            let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| "secrets extension: answer is not JSON".to_string())?;
            return match v.get("SecretString").and_then(|s| s.as_str()) {
                Some(s) => Ok(Some(s.to_string())),
                None => Err("secrets extension: the secret has no SecretString (binary secrets are not supported)".into()),
            };
        }
        if (400..500).contains(&status) && body.contains("ResourceNotFoundException") {
            return Ok(None);
        }
        let detail: String = body.chars().take(300).collect();
        Err(format!("secrets extension answered {status}: {}", detail.trim()))
    }

    /// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
    pub fn encode(value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod secret_tests {
    use super::secrets_extension::{encode, interpret, parse_response, Extension};
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn the_ring_is_current_then_pending_then_previous_without_repeats() {
        let versions = |stage: &str| -> Result<Option<String>, String> {
            Ok(match stage {
                "AWSCURRENT" => Some("cur\n".into()),
                "AWSPENDING" => None,
                "AWSPREVIOUS" => Some("prev".into()),
                _ => unreachable!(),
            })
        };
        assert_eq!(cursor_ring("s", versions).unwrap(), "cur\nprev");
        let same = |_: &str| -> Result<Option<String>, String> { Ok(Some("only".into())) };
        assert_eq!(cursor_ring("s", same).unwrap(), "only");
        let all = |stage: &str| -> Result<Option<String>, String> { Ok(Some(stage.to_lowercase())) };
        assert_eq!(cursor_ring("s", all).unwrap(), "awscurrent\nawspending\nawsprevious");
    }

    #[test]
    fn the_ring_needs_a_current_single_line_key() {
        let none = |_: &str| -> Result<Option<String>, String> { Ok(None) };
        assert!(cursor_ring("s", none).unwrap_err().problem.contains("no current value"));
        let multi = |_: &str| -> Result<Option<String>, String> { Ok(Some("a\nb".into())) };
        assert!(cursor_ring("s", multi).is_err());
        let failing = |_: &str| -> Result<Option<String>, String> { Err("denied".into()) };
        let e = cursor_ring("arn:x", failing).unwrap_err();
        assert_eq!(e.name, CURSOR_SECRET_ARN);
        assert!(e.problem.contains("denied") && e.problem.contains("arn:x"));
    }

    #[test]
    fn extension_answers_are_interpreted() {
        let ok = parse_response(
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"SecretString\":\"abc\",\"VersionStages\":[\"AWSCURRENT\"]}",
        )
        .unwrap();
        assert_eq!(interpret(ok).unwrap(), Some("abc".into()));
        let missing =
            parse_response(b"HTTP/1.0 400 Bad Request\r\n\r\n{\"__type\":\"ResourceNotFoundException\",\"message\":\"no version\"}")
                .unwrap();
        assert_eq!(interpret(missing).unwrap(), None);
        let denied = parse_response(b"HTTP/1.0 400 Bad Request\r\n\r\nAccessDeniedException: not authorized").unwrap();
        assert!(interpret(denied).unwrap_err().contains("400"));
        assert!(interpret((200, "{}".into())).is_err(), "binary secrets are refused");
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("arn:aws:secretsmanager:eu-west-1:1:secret:a/b+c=d-XyZ"),
            "arn%3Aaws%3Asecretsmanager%3Aeu-west-1%3A1%3Asecret%3Aa%2Fb%2Bc%3Dd-XyZ"
        );
    }

    /// A stand-in extension on loopback: answers "not ready" first, then checks the token
    /// and the query and serves the secret.
    #[test]
    fn the_extension_is_asked_with_the_session_token_and_retried_while_starting() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (i, stream) in listener.incoming().take(2).enumerate() {
                let mut stream = stream.unwrap();
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap();
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let answer = if i == 0 {
                    "HTTP/1.0 400 Bad Request\r\n\r\nnot ready to serve traffic, please wait".to_string()
                } else if request.contains("X-Aws-Parameters-Secrets-Token: tok\r\n")
                    && request.starts_with("GET /secretsmanager/get?secretId=arn%3Asecret&versionStage=AWSCURRENT HTTP/1.0\r\n")
                {
                    "HTTP/1.0 200 OK\r\n\r\n{\"SecretString\":\"k1\"}".to_string()
                } else {
                    "HTTP/1.0 401 Unauthorized\r\n\r\nbad request".to_string()
                };
                stream.write_all(answer.as_bytes()).unwrap();
                seen.push(request);
            }
            seen
        });
        let extension = Extension { port, token: "tok".into(), deadline: std::time::Duration::from_secs(2) };
        assert_eq!(extension.secret_string("arn:secret", "AWSCURRENT").unwrap(), Some("k1".into()));
        assert_eq!(server.join().unwrap().len(), 2);
    }

    #[test]
    fn start_up_reads_the_secret_only_when_no_key_is_given() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        // A key given directly (local host, tests) wins; nothing set: nothing to do (and
        // AppState::from_env then names the missing variable).
        assert_eq!(resolve_cursor_secret(env(&[(CURSOR_SECRET, "k"), (CURSOR_SECRET_ARN, "arn")])).unwrap(), None);
        assert_eq!(resolve_cursor_secret(env(&[])).unwrap(), None);
        assert_eq!(resolve_cursor_secret(env(&[(CURSOR_SECRET, ""), (CURSOR_SECRET_ARN, "")])).unwrap(), None);
        // The ARN without the session token the extension demands, or with a bad port.
        let e = resolve_cursor_secret(env(&[(CURSOR_SECRET_ARN, "arn")])).unwrap_err();
        assert_eq!(e.name, "AWS_SESSION_TOKEN");
        let e = resolve_cursor_secret(env(&[(CURSOR_SECRET_ARN, "arn"), ("AWS_SESSION_TOKEN", "t"), (SECRETS_EXTENSION_PORT, "70000")]))
            .unwrap_err();
        assert_eq!(e.name, SECRETS_EXTENSION_PORT);
    }

    #[test]
    fn start_up_builds_the_ring_from_the_extension() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let server = std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let mut stream = stream.unwrap();
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap();
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let answer = if request.contains("versionStage=AWSCURRENT ") {
                    "HTTP/1.0 200 OK\r\n\r\n{\"SecretString\":\"new\"}"
                } else if request.contains("versionStage=AWSPREVIOUS ") {
                    "HTTP/1.0 200 OK\r\n\r\n{\"SecretString\":\"old\"}"
                } else {
                    "HTTP/1.0 400 Bad Request\r\n\r\n{\"__type\":\"ResourceNotFoundException\"}"
                };
                stream.write_all(answer.as_bytes()).unwrap();
            }
        });
        let vars = [(CURSOR_SECRET_ARN, "arn:s".to_string()), ("AWS_SESSION_TOKEN", "t".to_string()), (SECRETS_EXTENSION_PORT, port)];
        let ring = resolve_cursor_secret(|name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();
        server.join().unwrap();
        assert_eq!(ring.as_deref(), Some("new\nold"));
        let key = crate::http::cursor::CursorKey::new(ring.as_deref().unwrap());
        assert_eq!(key.current_kid(), crate::http::cursor::key_id(b"new"));
    }

    #[test]
    fn an_absent_extension_is_an_error_after_the_deadline() {
        // A port nobody listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let extension = Extension { port, token: "t".into(), deadline: std::time::Duration::from_millis(50) };
        let started = std::time::Instant::now();
        assert!(extension.secret_string("s", "AWSCURRENT").unwrap_err().contains("localhost"));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
