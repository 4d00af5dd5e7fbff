//! What the tools people install link (issue 18): the Care CLI and the typed client build on
//! the domain and the wire types only — never the local host or the service (axum, the
//! DynamoDB SDK, the Lambda runtime).

use std::process::Command;

/// The normal (non-dev) dependencies of a package as `cargo tree` resolves them when that
/// package alone is built, as `cargo install --path tools/care` does.
fn normal_dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

#[test]
fn the_care_cli_and_the_client_link_neither_the_local_host_nor_the_service() {
    for package in ["abev-care", "abev-client"] {
        let deps = normal_dependencies(package);
        assert!(deps.iter().any(|d| d == "abev"), "{package} uses the abev crate: {deps:?}");
        for banned in ["abev-local", "axum", "aws-sdk-dynamodb", "lambda_http", "lambda_runtime", "serde_dynamo"] {
            assert!(!deps.iter().any(|d| d == banned), "{package} links {banned}");
        }
    }
    // The service itself still has them (the check above is not vacuous).
    let service = normal_dependencies("abev");
    assert!(["axum", "aws-sdk-dynamodb", "lambda_http"].iter().all(|d| service.iter().any(|s| s == d)), "{service:?}");
}
