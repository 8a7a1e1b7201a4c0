//! The toolkit's view of a running hub, through its HTTP API. Tolerant by design: it
//! also reads the original Node mcp-hub, whose health has fewer fields and which has
//! no `/api/metrics` (its LLM figures are then "N/A", never 0).

use crate::api::metrics::MetricsReport;
use crate::api::{HubState, ServerStatus};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::toolkit::discovery::Target;

/// How long a probe may take: cron runs these, they must not hang.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no hub answers at {url} (connection refused): is `mcphub serve` running?")]
    NotRunning { url: String },
    #[error("{url} did not answer within {}s", PROBE_TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("{url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: {reason}")]
    Other { url: String, reason: String },
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Health {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, rename = "activeClients")]
    pub active_clients: Option<u64>,
    #[serde(default)]
    pub servers: Vec<ServerHealth>,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub uptime_s: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ServerHealth {
    pub name: String,
    #[serde(default, rename = "displayName")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub reconnects: Option<u64>,
    #[serde(default)]
    pub capabilities: Value,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default, rename = "transportType")]
    pub transport_type: Option<String>,
    /// Where its user signs it in, while the hub waits for that (OAuth).
    #[serde(default, rename = "authorizationUrl")]
    pub authorization_url: Option<String>,
}

impl Health {
    /// The hub's state, if this hub's word for it is one the toolkit knows.
    pub fn state(&self) -> Option<HubState> {
        HubState::parse(&self.state)
    }

    /// (connected, enabled) servers: a disabled server is neither up nor down.
    pub fn servers_connected(&self) -> (usize, usize) {
        let enabled = self
            .servers
            .iter()
            .filter(|s| s.status() != Some(ServerStatus::Disabled));
        let total = enabled.clone().count();
        (
            enabled
                .filter(|s| s.status() == Some(ServerStatus::Connected))
                .count(),
            total,
        )
    }
}

impl ServerHealth {
    /// The server's status, if this hub's word for it is one the toolkit knows (the
    /// word itself, in `status`, is what people are shown).
    pub fn status(&self) -> Option<ServerStatus> {
        ServerStatus::parse(&self.status)
    }

    /// Tools, resources, templates and prompts the server offers.
    pub fn capability_count(&self) -> usize {
        ["tools", "resources", "resourceTemplates", "prompts"]
            .iter()
            .map(|k| self.capabilities[k].as_array().map_or(0, Vec::len))
            .sum()
    }

    pub fn tool_count(&self) -> usize {
        self.capabilities["tools"].as_array().map_or(0, Vec::len)
    }
}

pub struct Probe {
    http: reqwest::Client,
    pub target: Target,
    token: Option<String>,
}

impl Probe {
    pub fn new(target: Target, token: Option<String>) -> Probe {
        let http = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Probe {
            http,
            target,
            token,
        }
    }

    async fn get(&self, path: &str) -> Result<(u16, String, Duration), ProbeError> {
        let url = self.target.api(path);
        let mut req = self.http.get(&url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let started = Instant::now();
        let resp = req.send().await.map_err(|e| classify(&url, e))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| classify(&url, e))?;
        Ok((status, body, started.elapsed()))
    }

    /// POSTs `body` to `path`: its status and JSON answer. An action may wait for a
    /// server to start (up to its own timeout), so it gets a minute, not a probe's
    /// few seconds.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), ProbeError> {
        let url = self.target.api(path);
        let mut req = self
            .http
            .post(&url)
            .json(body)
            .timeout(Duration::from_secs(60));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| classify(&url, e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| classify(&url, e))?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// `/api/health` and how long it took to answer.
    pub async fn health(&self) -> Result<(Health, Duration), ProbeError> {
        let url = self.target.api("/api/health");
        let (status, body, took) = self.get("/api/health").await?;
        if status != 200 {
            return Err(ProbeError::Http {
                url,
                status,
                body: body.chars().take(300).collect(),
            });
        }
        let health = serde_json::from_str(&body).map_err(|e| ProbeError::Other {
            url,
            reason: format!("not a hub health answer: {e}"),
        })?;
        Ok((health, took))
    }

    /// `/api/metrics`, or `None` from a hub that has none (mcp-hub).
    pub async fn metrics(&self) -> Result<Option<MetricsReport>, ProbeError> {
        let url = self.target.api("/api/metrics");
        let (status, body, _) = self.get("/api/metrics").await?;
        match status {
            200 => serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| ProbeError::Other {
                    url,
                    reason: format!("not JSON: {e}"),
                }),
            404 => Ok(None),
            _ => Err(ProbeError::Http {
                url,
                status,
                body: body.chars().take(300).collect(),
            }),
        }
    }

    /// `/metrics` in Prometheus text, or `None` from a hub that has none.
    pub async fn prometheus(&self) -> Result<Option<String>, ProbeError> {
        let (status, body, _) = self.get("/metrics").await?;
        Ok((status == 200).then_some(body))
    }
}

fn classify(url: &str, e: reqwest::Error) -> ProbeError {
    if e.is_timeout() {
        ProbeError::Timeout {
            url: url.to_owned(),
        }
    } else if e.is_connect() {
        ProbeError::NotRunning {
            url: url.to_owned(),
        }
    } else {
        ProbeError::Other {
            url: url.to_owned(),
            reason: e.to_string(),
        }
    }
}
