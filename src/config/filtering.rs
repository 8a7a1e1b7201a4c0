//! `toolFiltering` and `toolExposure`, read from the top level of the servers file
//! exactly as the filtering fork of mcp-hub writes them, so that its users migrate
//! without an edit. Unknown keys are ignored; a known key with a wrong value is refused
//! with the key's path and what it accepts.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};

/// Below this heuristic confidence a tool is sent to the LLM (when one is configured).
pub const DEFAULT_CONFIDENCE_THRESHOLD: f32 = 0.6;
/// Tools waiting for the LLM at most; more wait for room (see `engine`).
pub const DEFAULT_MAX_QUEUE: usize = 1000;

/// The categories every hub knows; `customMappings` may add more.
pub const BUILTIN_CATEGORIES: [&str; 10] = [
    "filesystem",
    "web",
    "search",
    "database",
    "version-control",
    "docker",
    "cloud",
    "development",
    "communication",
    "other",
];

/// Which API the provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI's chat completions, or any compatible server (Ollama, vLLM, LiteLLM, …).
    OpenAi,
    Anthropic,
    Gemini,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::Gemini];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
        }
    }

    /// The base URL used when the settings give none.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com",
            Provider::Gemini => "https://generativelanguage.googleapis.com",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Provider, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai" => Ok(Provider::OpenAi),
            "anthropic" => Ok(Provider::Anthropic),
            "gemini" => Ok(Provider::Gemini),
            other => Err(format!(
                "unknown LLM provider `{other}`: expected openai, anthropic or gemini \
                 (use openai with a base URL for OpenAI-compatible servers)"
            )),
        }
    }
}

/// How to reach the provider and how hard to try.
#[derive(Clone, PartialEq)]
pub struct LlmSettings {
    pub provider: Provider,
    /// Never in logs, errors or `Debug` output.
    pub api_key: Option<String>,
    pub model: String,
    /// `None`: the provider's public endpoint ([`Provider::default_base_url`]).
    pub base_url: Option<String>,
    /// Per attempt, from sending the request to the end of the answer.
    pub request_timeout: Duration,
    /// Retries after the first attempt.
    pub retry_count: u32,
    /// Delay before retry n (0-based) = min(base · 2ⁿ, max_backoff), plus up to 10%.
    pub backoff_base: Duration,
    pub max_backoff: Duration,
    /// Consecutive failed attempts that open the circuit (0 is taken as 1).
    pub circuit_threshold: u32,
    /// How long the circuit stays open before one half-open probe.
    pub circuit_timeout: Duration,
}

impl LlmSettings {
    /// Settings with the usual defaults: 30 s per attempt, 2 retries from 1 s (at most
    /// 30 s), circuit opened by 5 consecutive failures for 60 s.
    pub fn new(provider: Provider, model: impl Into<String>) -> LlmSettings {
        LlmSettings {
            provider,
            api_key: None,
            model: model.into(),
            base_url: None,
            request_timeout: Duration::from_secs(30),
            retry_count: 2,
            backoff_base: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            circuit_threshold: 5,
            circuit_timeout: Duration::from_secs(60),
        }
    }

    /// The base URL in use, without a trailing slash.
    pub fn effective_base_url(&self) -> String {
        self.base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(self.provider.default_base_url())
            .trim_end_matches('/')
            .to_owned()
    }
}

impl fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmSettings")
            .field("provider", &self.provider)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("request_timeout", &self.request_timeout)
            .field("retry_count", &self.retry_count)
            .field("backoff_base", &self.backoff_base)
            .field("max_backoff", &self.max_backoff)
            .field("circuit_threshold", &self.circuit_threshold)
            .field("circuit_timeout", &self.circuit_timeout)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ServerAllowlist,
    Category,
    Hybrid,
    PromptBased,
}

impl Mode {
    pub const ALL: [&'static str; 4] = ["server-allowlist", "category", "hybrid", "prompt-based"];

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "server-allowlist" | "server" => Some(Mode::ServerAllowlist),
            "category" => Some(Mode::Category),
            "hybrid" => Some(Mode::Hybrid),
            "prompt-based" => Some(Mode::PromptBased),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ServerAllowlist => "server-allowlist",
            Mode::Category => "category",
            Mode::Hybrid => "hybrid",
            Mode::PromptBased => "prompt-based",
        }
    }
}

/// What a prompt-based session sees before it has described its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultExposure {
    /// No backend tool (only the meta-tool, when enabled).
    Zero,
    /// Only the meta-tool.
    MetaOnly,
    /// The meta-tool plus the tools of `categoryFilter.categories`.
    Minimal,
    /// Every tool, plus the meta-tool.
    All,
}

/// `toolExposure`: the full (filtered) list, or three meta-tools to search it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    All,
    Search,
}

/// `llmCategorization`: how to reach the provider, and how the queue uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// The API key in here is as written (it may hold a `${VAR}` placeholder,
    /// resolved when the client starts).
    pub client: LlmSettings,
    pub cache_ttl: Duration,
    pub max_concurrent: usize,
    pub batch_size: usize,
    pub max_queue: usize,
    pub confidence_threshold: f32,
}

impl LlmConfig {
    /// The client's settings, with the API key's placeholders resolved.
    pub fn client_settings(&self, api_key: Option<String>) -> LlmSettings {
        LlmSettings {
            api_key,
            ..self.client.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FilterSettings {
    /// `enabled` as written; absent means off unless `autoEnableThreshold` is passed.
    pub enabled: Option<bool>,
    pub mode: Mode,
    /// `serverFilter`: allowlist (true) or denylist, and its servers.
    pub server_allow: bool,
    pub servers: Vec<String>,
    pub categories: Vec<String>,
    /// `customMappings`: `<server>__<tool>` globs → category, in the order written.
    pub custom_mappings: Vec<(String, String)>,
    pub auto_enable_threshold: Option<usize>,
    pub default_exposure: DefaultExposure,
    pub meta_tools: bool,
    pub llm: Option<LlmConfig>,
    pub exposure: Exposure,
}

impl Default for FilterSettings {
    fn default() -> Self {
        FilterSettings {
            enabled: None,
            mode: Mode::Category,
            server_allow: true,
            servers: Vec::new(),
            categories: Vec::new(),
            custom_mappings: Vec::new(),
            auto_enable_threshold: None,
            default_exposure: DefaultExposure::MetaOnly,
            meta_tools: true,
            llm: None,
            exposure: Exposure::All,
        }
    }
}

impl FilterSettings {
    /// Reads `toolFiltering` and `toolExposure` from the merged top-level keys.
    pub fn from_top_level(extras: &Map<String, Value>) -> Result<FilterSettings, String> {
        let mut s = FilterSettings::default();
        if let Some(v) = extras.get("toolExposure") {
            s.exposure = parse_exposure(v)?;
        }
        let tf = match extras.get("toolFiltering") {
            None | Some(Value::Null) => return Ok(s),
            Some(Value::Object(o)) => o,
            Some(_) => return Err("`toolFiltering` must be an object".into()),
        };
        s.enabled = opt_bool(tf, "enabled", "toolFiltering.enabled")?;
        if let Some(m) = tf.get("mode") {
            let m = m.as_str().unwrap_or_default();
            s.mode = Mode::parse(m).ok_or_else(|| {
                format!(
                    "toolFiltering.mode: `{m}` is not a mode; use one of {}",
                    Mode::ALL.join(", ")
                )
            })?;
        }
        if let Some(sf) = object(tf, "serverFilter", "toolFiltering.serverFilter")? {
            if let Some(m) = sf.get("mode") {
                s.server_allow = match m.as_str() {
                    Some("allowlist") => true,
                    Some("denylist") => false,
                    _ => {
                        return Err(
                            "toolFiltering.serverFilter.mode: use \"allowlist\" or \"denylist\""
                                .into(),
                        );
                    }
                };
            }
            s.servers = strings(sf, "servers", "toolFiltering.serverFilter.servers")?;
        }
        if let Some(cf) = object(tf, "categoryFilter", "toolFiltering.categoryFilter")? {
            s.categories = strings(cf, "categories", "toolFiltering.categoryFilter.categories")?
                .into_iter()
                .map(|c| c.trim().to_ascii_lowercase())
                .collect();
            if let Some(cm) = object(
                cf,
                "customMappings",
                "toolFiltering.categoryFilter.customMappings",
            )? {
                for (pattern, category) in cm {
                    let category = category.as_str().ok_or_else(|| {
                        format!("toolFiltering.categoryFilter.customMappings.{pattern}: the value must be a category name (a string)")
                    })?;
                    s.custom_mappings
                        .push((pattern.clone(), category.trim().to_ascii_lowercase()));
                }
            }
        }
        if let Some(v) = tf.get("autoEnableThreshold") {
            s.auto_enable_threshold = Some(
                v.as_u64()
                    .ok_or("toolFiltering.autoEnableThreshold: must be a whole number of tools")?
                    as usize,
            );
        }
        if let Some(pb) = object(
            tf,
            "promptBasedFiltering",
            "toolFiltering.promptBasedFiltering",
        )? {
            if let Some(e) = pb.get("defaultExposure") {
                s.default_exposure = match e.as_str() {
                    Some("zero") => DefaultExposure::Zero,
                    Some("meta-only") => DefaultExposure::MetaOnly,
                    Some("minimal") => DefaultExposure::Minimal,
                    Some("all") => DefaultExposure::All,
                    _ => return Err("toolFiltering.promptBasedFiltering.defaultExposure: use one of zero, meta-only, minimal, all".into()),
                };
            }
            if let Some(b) = opt_bool(
                pb,
                "enableMetaTools",
                "toolFiltering.promptBasedFiltering.enableMetaTools",
            )? {
                s.meta_tools = b;
            }
        }
        if let Some(llm) = object(tf, "llmCategorization", "toolFiltering.llmCategorization")? {
            s.llm = parse_llm(llm)?;
        }
        Ok(s)
    }

    /// Whether filtering applies now, given how many tools the hub has in all.
    pub fn active(&self, total_tools: usize) -> bool {
        match (self.enabled, self.auto_enable_threshold) {
            (Some(e), _) => e,
            (None, Some(t)) => total_tools > t,
            (None, None) => false,
        }
    }

    /// Every category a setting names: the built-in ones plus custom ones.
    pub fn known_categories(&self) -> Vec<String> {
        let mut all: Vec<String> = BUILTIN_CATEGORIES.iter().map(|c| c.to_string()).collect();
        for c in self
            .custom_mappings
            .iter()
            .map(|(_, c)| c)
            .chain(&self.categories)
        {
            if !all.contains(c) {
                all.push(c.clone());
            }
        }
        all
    }
}

fn parse_exposure(v: &Value) -> Result<Exposure, String> {
    match v.as_str() {
        Some("all") => Ok(Exposure::All),
        Some("search") => Ok(Exposure::Search),
        _ => Err(format!(
            "toolExposure: `{v}` is not valid; use \"all\" (every allowed tool) or \"search\" (three meta-tools: search_tools, describe_tool, call_tool)"
        )),
    }
}

fn parse_llm(o: &Map<String, Value>) -> Result<Option<LlmConfig>, String> {
    let at = |k: &str| format!("toolFiltering.llmCategorization.{k}");
    if opt_bool(o, "enabled", &at("enabled"))? == Some(false) {
        return Ok(None);
    }
    let provider = match o.get("provider") {
        None => Provider::OpenAi,
        Some(p) => p
            .as_str()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{}: use \"openai\" (any OpenAI-compatible endpoint via baseURL), \"anthropic\" or \"gemini\"", at("provider")))?,
    };
    let default_model = match provider {
        Provider::OpenAi => "gpt-4o-mini",
        Provider::Anthropic => "claude-3-5-haiku-latest",
        Provider::Gemini => "gemini-2.0-flash",
    };
    // At most a day: longer waits are mistakes, and would overflow a deadline.
    let ms = |k: &str, default: u64| -> Result<Duration, String> {
        match o.get(k) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= 86_400_000)
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    format!(
                        "{}: must be a whole number of milliseconds, at most 86400000",
                        at(k)
                    )
                }),
        }
    };
    let count = |k: &str, default: u64, min: u64, max: u64| -> Result<u64, String> {
        match o.get(k) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| format!("{}: must be a whole number from {min} to {max}", at(k))),
        }
    };
    let text = |k: &str| -> Result<Option<String>, String> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{}: must be a string", at(k))),
        }
    };
    let threshold = match o.get("confidenceThreshold") {
        None => DEFAULT_CONFIDENCE_THRESHOLD,
        Some(v) => v
            .as_f64()
            .filter(|t| (0.0..=1.0).contains(t))
            .ok_or_else(|| {
                format!(
                    "{}: must be a number from 0 to 1",
                    at("confidenceThreshold")
                )
            })? as f32,
    };
    Ok(Some(LlmConfig {
        client: LlmSettings {
            provider,
            api_key: text("apiKey")?,
            model: text("model")?.unwrap_or_else(|| default_model.to_owned()),
            base_url: text("baseURL")?.or(text("baseUrl")?),
            request_timeout: ms("timeout", 30_000)?,
            retry_count: count("retryCount", 3, 0, 100)? as u32,
            backoff_base: ms("backoffBase", 1_000)?,
            max_backoff: ms("maxBackoff", 30_000)?,
            circuit_threshold: count("circuitBreakerThreshold", 5, 1, 1_000_000)? as u32,
            circuit_timeout: ms("circuitBreakerTimeout", 30_000)?,
        },
        // cacheTTL is in seconds in the fork's files.
        cache_ttl: Duration::from_secs(count("cacheTTL", 86_400, 0, 10 * 365 * 86_400)?),
        max_concurrent: count("maxConcurrent", 5, 1, 1_000)? as usize,
        batch_size: count("batchSize", 20, 1, 1_000)? as usize,
        max_queue: count("maxQueueSize", DEFAULT_MAX_QUEUE as u64, 1, 1_000_000)? as usize,
        confidence_threshold: threshold,
    }))
}

fn opt_bool(o: &Map<String, Value>, k: &str, path: &str) -> Result<Option<bool>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("{path}: must be true or false")),
    }
}

fn object<'a>(
    o: &'a Map<String, Value>,
    k: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(format!("{path}: must be an object")),
    }
}

fn strings(o: &Map<String, Value>, k: &str, path: &str) -> Result<Vec<String>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{path}: must be a list of names (strings)"))
            })
            .collect(),
        Some(_) => Err(format!("{path}: must be a list of names (strings)")),
    }
}

/// `*` (any run) and `?` (one character) glob over the whole name. Hand-written:
/// twenty lines beat a dependency for the one pattern form `customMappings` uses.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: Value) -> Result<FilterSettings, String> {
        FilterSettings::from_top_level(v.as_object().unwrap())
    }

    #[test]
    fn reads_the_forks_block_as_written() {
        let s = settings(json!({
            "toolFiltering": {
                "enabled": true, "mode": "hybrid",
                "serverFilter": {"mode": "denylist", "servers": ["github"]},
                "categoryFilter": {"categories": ["Filesystem"], "customMappings": {"github__*": "version-control"}},
                "llmCategorization": {"enabled": true, "provider": "anthropic", "apiKey": "${KEY}", "cacheTTL": 60, "batchSize": 7},
                "somethingNew": 1
            },
            "toolExposure": "search"
        }))
        .unwrap();
        assert_eq!(s.mode, Mode::Hybrid);
        assert!(!s.server_allow);
        assert_eq!(s.categories, ["filesystem"]);
        assert_eq!(
            s.custom_mappings,
            [("github__*".into(), "version-control".into())]
        );
        let llm = s.llm.unwrap();
        assert_eq!(llm.client.provider, Provider::Anthropic);
        assert_eq!(llm.cache_ttl, Duration::from_secs(60));
        assert_eq!(llm.batch_size, 7);
        assert_eq!(s.exposure, Exposure::Search);
    }

    #[test]
    fn wrong_values_name_the_key_and_the_choices() {
        let e = settings(json!({"toolFiltering": {"mode": "smart"}})).unwrap_err();
        assert!(
            e.contains("toolFiltering.mode") && e.contains("prompt-based"),
            "{e}"
        );
        let e = settings(json!({"toolFiltering": {"llmCategorization": {"provider": "llama"}}}))
            .unwrap_err();
        assert!(e.contains("llmCategorization.provider"), "{e}");
        let e = settings(json!({"toolFiltering": {"llmCategorization": {"maxConcurrent": 3e18}}}))
            .unwrap_err();
        assert!(e.contains("maxConcurrent") && e.contains("1000"), "{e}");
        let e = settings(json!({"toolExposure": "some"})).unwrap_err();
        assert!(e.contains("toolExposure"), "{e}");
    }

    #[test]
    fn absent_enabled_follows_the_auto_enable_threshold() {
        let s = settings(json!({"toolFiltering": {"autoEnableThreshold": 100}})).unwrap();
        assert!(!s.active(100) && s.active(101));
        assert!(!settings(json!({})).unwrap().active(10_000));
    }

    #[test]
    fn globs() {
        assert!(glob_match("github__*", "github__create_issue"));
        assert!(!glob_match("github__*", "gitlab__create_issue"));
        assert!(glob_match("*__read_?ile", "fs__read_file"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "acb_"));
    }
}
