//! OAuth 2.1 for remote servers that require it, per the MCP authorization spec: the
//! protocol SDK's `auth` module does discovery (RFC 9728, RFC 8414 and OIDC with the
//! spec's fallbacks), client registration (pre-registered, metadata document or RFC
//! 7591), PKCE, the `resource` parameter, scope selection and refresh. This module
//! keeps each server's tokens in a 0600 file and holds a sign-in between the
//! authorization URL the hub hands out and the callback that completes it.

use std::path::PathBuf;

use crate::config::OAuthClient as ClientSettings;

use rmcp::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationRequest, AuthorizationSession, CredentialStore,
    StoredCredentials,
};

/// One server's tokens, in `<state>/oauth/<server>.json`, mode 0600. Written only
/// here; their values never reach a log line, an API answer or a `Debug` output (the
/// SDK's `StoredCredentials` redacts its tokens).
#[derive(Clone)]
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    pub fn new(path: PathBuf) -> TokenFile {
        TokenFile { path }
    }

    /// Whether tokens are kept for this server.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Forgets the tokens (`mcphub auth --logout`).
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn store_error(e: impl std::fmt::Display) -> AuthError {
    AuthError::CredentialStoreError(e.to_string())
}

#[async_trait::async_trait]
impl CredentialStore for TokenFile {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                store_error(format!(
                    "{} is not a token file ({e}); `mcphub auth --logout` removes it",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_error(format!("{}: {e}", self.path.display()))),
        }
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        if let Some(dir) = self.path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(store_error)?;
        }
        let bytes = serde_json::to_vec(&credentials).map_err(store_error)?;
        crate::state::write_atomic(&self.path, &bytes).map_err(store_error)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.remove().map_err(store_error)
    }
}

/// The scopes of a new sign-in after a refusal with `challenge`: those granted before
/// and those the challenge names. Empty when nothing was granted yet (the first
/// sign-in lets the SDK choose from the challenge and the server's metadata).
pub fn step_up_scopes(tokens: &TokenFile, challenge: Option<&str>) -> Vec<String> {
    let granted: Vec<String> = std::fs::read(&tokens.path)
        .ok()
        .and_then(|b| serde_json::from_slice::<StoredCredentials>(&b).ok())
        .map(|c| c.granted_scopes)
        .unwrap_or_default();
    if granted.is_empty() {
        return granted;
    }
    let mut scopes = granted;
    for s in challenge.and_then(challenge_scope).unwrap_or_default() {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    scopes
}

/// Whether a `WWW-Authenticate` challenge refuses the token for want of scope (a
/// step-up: sign in again for more, no refresh will do).
pub fn asks_for_scope(challenge: &str) -> bool {
    challenge.contains("insufficient_scope")
}

/// The `scope` parameter of a `WWW-Authenticate: Bearer …` challenge.
fn challenge_scope(challenge: &str) -> Option<Vec<String>> {
    let at = challenge.find("scope=")? + "scope=".len();
    let rest = &challenge[at..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split([',', ' ']).next()?,
    };
    Some(value.split_whitespace().map(String::from).collect())
}

/// A manager that adds `server_url`'s kept tokens to requests (refreshing them before
/// they expire), or `None` when none are kept.
pub async fn signed_in(
    server_url: &str,
    tokens: &TokenFile,
    settings: &ClientSettings,
) -> Result<Option<AuthorizationManager>, String> {
    if !tokens.exists() {
        return Ok(None);
    }
    let mut manager = manager(server_url).await?;
    manager.set_credential_store(tokens.clone());
    // Resolved as a sign-in resolves it (with the 2025-03-26 fallback), so that a
    // server signed in that way is reached with its tokens too.
    let metadata = match manager.resolve_metadata().await {
        Ok(resolution) => resolution.metadata,
        Err(e) => legacy_metadata(server_url, &e)
            .await
            .ok_or_else(|| describe(&e))?,
    };
    manager.set_metadata(metadata);
    match manager.initialize_from_store().await {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(e) => return Err(describe(&e)),
    }
    if let (Some(id), Some(secret)) = (&settings.client_id, &settings.client_secret) {
        // The secret is not kept with the tokens: refreshes need it from the config.
        // A refresh sends no redirect, but the client wants a valid one.
        let config = rmcp::transport::auth::OAuthClientConfig::new(id.clone(), server_url)
            .with_client_secret(secret.clone());
        manager.configure_client(config).map_err(|e| describe(&e))?;
    }
    Ok(Some(manager))
}

/// A server refused the kept access token (401 `invalid_token`): the refresh token
/// gets a new one without asking the user. True when it did.
pub async fn refresh(server_url: &str, tokens: &TokenFile, settings: &ClientSettings) -> bool {
    let Ok(Some(manager)) = signed_in(server_url, tokens, settings).await else {
        return false;
    };
    match manager.refresh_token().await {
        Ok(_) => true,
        Err(e) => {
            tracing::info!(error = %describe(&e), "a refused token could not be refreshed: signing in again");
            false
        }
    }
}

async fn manager(server_url: &str) -> Result<AuthorizationManager, String> {
    // Servers on this machine or the user's network are the user's choice: their
    // authorization servers may be there too.
    AuthorizationManager::new_allowing_private_addresses(server_url)
        .await
        .map_err(|e| describe(&e))
}

/// A sign-in started: the URL to open, and what completes it.
pub struct SignIn {
    session: AuthorizationSession,
}

impl SignIn {
    pub fn url(&self) -> &str {
        self.session.get_authorization_url()
    }

    /// Exchanges the authorization server's `code` (with the `state` it echoed, and
    /// the `issuer` it named itself by, RFC 9207) for tokens, kept in the token file.
    pub async fn finish(
        &self,
        code: &str,
        state: &str,
        issuer: Option<&str>,
    ) -> Result<(), String> {
        self.session
            .handle_callback_with_issuer(code, state, issuer)
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    }
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIn { .. }")
    }
}

/// Starts a sign-in to `server_url` after it refused the hub with `challenge` (its
/// `WWW-Authenticate`): discovery, client registration, and the authorization URL
/// with PKCE, state and the resource, sending the browser back to `redirect_uri`.
pub async fn begin(
    server_url: &str,
    challenge: Option<&str>,
    redirect_uri: &str,
    settings: &ClientSettings,
    tokens: &TokenFile,
) -> Result<SignIn, String> {
    let mut manager = manager(server_url).await?;
    manager.set_credential_store(tokens.clone());
    let metadata = match manager.resolve_metadata_from_challenge(challenge).await {
        Ok(resolution) => resolution.metadata,
        Err(e) => match legacy_metadata(server_url, &e).await {
            Some(m) => m,
            None => return Err(describe(&e)),
        },
    };
    manager.set_metadata(metadata);
    let mut request = AuthorizationRequest::new(redirect_uri).with_client_name("mcphub");
    if let Some(id) = &settings.client_id {
        request = request.with_preregistered_client(id.clone());
        if let Some(secret) = &settings.client_secret {
            request = request.with_client_secret(secret.clone());
        }
    }
    if !settings.scopes.is_empty() {
        request = request.with_scopes(settings.scopes.iter().cloned());
    }
    if let Some(c) = challenge {
        request = request.with_challenge(c);
    }
    let session = AuthorizationSession::new(manager, request)
        .await
        .map_err(|(_, e)| describe(&e))?;
    Ok(SignIn { session })
}

/// A 2025-03-26 server (no protected-resource metadata) whose authorization server
/// publishes its metadata at the server's origin under an issuer with a path: the
/// SDK holds that issuer to the origin, as the later revisions of the spec do, and
/// refuses it. That revision's clients take the metadata as published.
async fn legacy_metadata(
    server_url: &str,
    refused: &AuthError,
) -> Option<rmcp::transport::auth::AuthorizationMetadata> {
    if !describe(refused).contains("issuer mismatch") {
        return None;
    }
    let url = reqwest::Url::parse(server_url)
        .ok()?
        .join("/.well-known/oauth-authorization-server")
        .ok()?;
    let metadata: rmcp::transport::auth::AuthorizationMetadata = reqwest::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .await
        .ok()?;
    tracing::info!(issuer = ?metadata.issuer, "taking the authorization server's metadata from the server's origin, as the 2025-03-26 revision does");
    Some(metadata)
}

/// An SDK auth error with its causes, as one line.
fn describe(e: &AuthError) -> String {
    crate::telemetry::error_causes(e).join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenges_scope_is_read_quoted_or_not() {
        let c = r#"Bearer error="insufficient_scope", scope="mcp:basic mcp:write", resource_metadata="http://x""#;
        assert_eq!(
            challenge_scope(c),
            Some(vec!["mcp:basic".into(), "mcp:write".into()])
        );
        assert_eq!(
            challenge_scope("Bearer scope=files:read, error=x"),
            Some(vec!["files:read".into()])
        );
        assert_eq!(challenge_scope(r#"Bearer error="invalid_token""#), None);
    }
}
