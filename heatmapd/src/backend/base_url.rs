//! Checks and normalization of server base URLs.

use heatmap_proto::types::BackendKind;

use super::error::BackendError;

/// Checks a server URL and returns its base without a trailing slash and
/// without a trailing API prefix (`/v1` for OpenAI, `/api` for Ollama).
pub(crate) fn normalize_base_url(kind: BackendKind, url: &str) -> Result<String, BackendError> {
    let invalid = |reason: String| BackendError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(invalid("the URL is empty".to_owned()));
    }
    let parsed = reqwest::Url::parse(trimmed).map_err(|error| invalid(error.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme must be http or https, not {:?}",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host".to_owned()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "a user name or password in the URL is not supported; pass an API key instead"
                .to_owned(),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a base URL takes no query or fragment".to_owned()));
    }

    let mut base = parsed.as_str().trim_end_matches('/').to_owned();
    let prefix = match kind {
        BackendKind::OpenAi => "/v1",
        BackendKind::Ollama => "/api",
    };
    if let Some(stripped) = base.strip_suffix(prefix) {
        base = stripped.trim_end_matches('/').to_owned();
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_normalized() {
        let ollama = |url| normalize_base_url(BackendKind::Ollama, url);
        let openai = |url| normalize_base_url(BackendKind::OpenAi, url);
        assert_eq!(
            ollama("http://127.0.0.1:11434/").unwrap(),
            "http://127.0.0.1:11434"
        );
        assert_eq!(
            ollama(" http://LOCALHOST:11434/api ").unwrap(),
            "http://localhost:11434"
        );
        assert_eq!(
            openai("http://127.0.0.1:8080/v1/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            openai("https://host/proxy/v1").unwrap(),
            "https://host/proxy"
        );
        assert_eq!(
            openai("http://127.0.0.1:8080/api").unwrap(),
            "http://127.0.0.1:8080/api"
        );
    }

    #[test]
    fn bad_base_urls_are_rejected() {
        for url in [
            "",
            "localhost:11434",
            "ftp://127.0.0.1",
            "http://",
            "http://user:secret@127.0.0.1:8080",
            "http://127.0.0.1:8080/?x=1",
            "not a url",
        ] {
            let error = normalize_base_url(BackendKind::OpenAi, url).unwrap_err();
            assert!(
                matches!(error, BackendError::InvalidUrl { .. }),
                "{url}: {error}"
            );
        }
    }

    #[test]
    fn invalid_url_message_keeps_secret_out() {
        let error = normalize_base_url(BackendKind::OpenAi, "http://user:secret@h").unwrap_err();
        assert!(error.to_string().contains("user name or password"));
    }
}
