//! Download links that cannot be passed around: `GET /v1/entitlements/{serial}/download`
//! answers `302` to an S3 presigned URL that expires within minutes, when the
//! entitlement's `download_url` names a file in the stack's downloads bucket
//! (`https://{bucket}.s3[.{region}].amazonaws.com/{key}`). The link is signed with the view
//! function's role, which may read only that bucket (template.yaml `PresignDownloads`).
//! Any other `download_url` is the vendor's own link: answered as it is (a redirect to it),
//! since only its owner could sign it.

use std::time::Duration;

/// How long a presigned link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(300);

/// The stack's downloads bucket and a client to sign links for it.
#[derive(Clone, Debug)]
pub struct Downloads {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

impl Downloads {
    /// In AWS: the bucket from `ABEV_DOWNLOADS_BUCKET` (none: no presigning).
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Downloads> {
        let bucket = std::env::var("ABEV_DOWNLOADS_BUCKET").ok().filter(|b| !b.trim().is_empty())?;
        Some(Downloads { s3: aws_sdk_s3::Client::new(config), bucket })
    }

    /// Locally: moto's S3 on the emulator's port (path-style), with dummy credentials.
    pub fn local(endpoint: &str, bucket: &str) -> Downloads {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new("local", "local", None, None, "abev-local"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .build();
        Downloads { s3: aws_sdk_s3::Client::from_conf(conf), bucket: bucket.to_string() }
    }

    /// A link to `key` that expires after [`LINK_LIFETIME`]. Signing makes no call.
    pub async fn presign(&self, key: &str) -> Result<String, String> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(LINK_LIFETIME).map_err(|e| e.to_string())?;
        let request = self.s3.get_object().bucket(&self.bucket).key(key).presigned(config).await.map_err(|e| e.to_string())?;
        Ok(request.uri().to_string())
    }
}

/// Whether the client asked for the link as JSON (`Accept` names `application/json`)
/// rather than for a redirect.
pub fn wants_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")))
}

/// The object key a `download_url` names in `bucket` (virtual-hosted S3 URL), if it does.
pub fn object_key(download_url: &str, bucket: &str) -> Option<String> {
    let url = url::Url::parse(download_url).ok()?;
    let host = url.host_str()?;
    let rest = host.strip_prefix(bucket)?.strip_prefix(".s3")?;
    let in_bucket = url.scheme() == "https" && (rest == ".amazonaws.com" || (rest.starts_with('.') && rest.ends_with(".amazonaws.com")));
    let key = url.path().trim_start_matches('/');
    (in_bucket && !key.is_empty()).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_of_the_stacks_bucket_name_an_object() {
        assert_eq!(object_key("https://abev-dl.s3.amazonaws.com/sep/14.zip", "abev-dl").as_deref(), Some("sep/14.zip"));
        assert_eq!(object_key("https://abev-dl.s3.eu-west-1.amazonaws.com/a.zip", "abev-dl").as_deref(), Some("a.zip"));
        assert_eq!(object_key("https://abev-dl-other.s3.amazonaws.com/a.zip", "abev-dl"), None);
        assert_eq!(object_key("https://abev-dl.s3.amazonaws.com.evil.example/a.zip", "abev-dl"), None);
        assert_eq!(object_key("https://downloads.example/sep-14-std", "abev-dl"), None);
        assert_eq!(object_key("https://abev-dl.s3.amazonaws.com/", "abev-dl"), None);
        assert_eq!(object_key("http://abev-dl.s3.amazonaws.com/a.zip", "abev-dl"), None);
    }

    #[test]
    fn only_an_accept_naming_json_asks_for_the_link_as_json() {
        let accept = |v: &str| axum::http::HeaderMap::from_iter([(axum::http::header::ACCEPT, v.parse().unwrap())]);
        assert!(wants_json(&accept("application/json")));
        assert!(wants_json(&accept("text/html, Application/JSON;q=0.9")));
        assert!(!wants_json(&accept("*/*")));
        assert!(!wants_json(&accept("application/jsonx")));
        assert!(!wants_json(&axum::http::HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_presigned_link_expires_within_minutes() {
        let d = Downloads::local("http://127.0.0.1:9324", "abev-downloads");
        let link = d.presign("sep/14.zip").await.unwrap();
        assert!(link.starts_with("http://127.0.0.1:9324/abev-downloads/sep/14.zip?"), "{link}");
        assert!(link.contains("X-Amz-Expires=300") && link.contains("X-Amz-Signature="), "{link}");
    }
}
