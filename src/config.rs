//! The servers file: mcp-hub's `mcpServers` format read as mcp-hub reads it (JSON5,
//! VS Code's `servers`, placeholders), several files merged in order, plus mcphub's
//! optional extras (`prefix`, `timeoutMs`, `restart`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

pub mod filtering;
pub mod placeholders;

pub use placeholders::Placeholders;

/// Per-call timeout when a server sets no `timeoutMs` (mcp-hub's request timeout).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest message a stdio server may send when it sets no `maxMessageBytes`: the
/// protocol SDK's own line limit, which it enforces by dropping the line silently.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {reason}")]
    Read { file: PathBuf, reason: String },
    #[error("{file}:{line}:{column}: {reason}")]
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{file}: {reason}")]
    Invalid { file: PathBuf, reason: String },
}

/// The files the hub reads its servers from.
#[derive(Debug, Clone)]
pub enum ConfigFiles {
    /// Named with `-c`, in merge order: each must exist.
    Given(Vec<PathBuf>),
    /// None named: the default file, read when it exists, so that a hub started before
    /// it was written takes it in on `POST /api/restart` or, with `--watch`, when it
    /// appears. `None` where there is no home directory to put it in.
    Default {
        file: Option<PathBuf>,
        /// Once read, the file missing is an error (an editor saving by rename, a
        /// mistake), not "no servers": the running ones are kept.
        read: std::sync::Arc<std::sync::atomic::AtomicBool>,
    },
}

impl ConfigFiles {
    pub fn from_args(given: Vec<PathBuf>) -> ConfigFiles {
        if given.is_empty() {
            ConfigFiles::Default {
                file: default_config_path(),
                read: Default::default(),
            }
        } else {
            ConfigFiles::Given(given)
        }
    }

    /// The files to watch for changes, the default one even before it exists.
    pub fn watched(&self) -> Vec<PathBuf> {
        match self {
            ConfigFiles::Given(files) => files.clone(),
            ConfigFiles::Default { file, .. } => file.iter().cloned().collect(),
        }
    }

    /// The files read now (what `workspaces.json` and the log name).
    pub fn present(&self) -> Vec<PathBuf> {
        match self {
            ConfigFiles::Given(files) => files.clone(),
            ConfigFiles::Default { file, .. } => {
                file.iter().filter(|p| p.exists()).cloned().collect()
            }
        }
    }

    pub fn load(&self) -> Result<HubConfig, ConfigError> {
        use std::sync::atomic::Ordering;
        let ConfigFiles::Default {
            file: Some(file),
            read,
        } = self
        else {
            return HubConfig::load(&self.present());
        };
        if file.exists() {
            let config = HubConfig::load(std::slice::from_ref(file))?;
            read.store(true, Ordering::Relaxed);
            Ok(config)
        } else if read.load(Ordering::Relaxed) {
            Err(ConfigError::Read {
                file: file.clone(),
                reason: "it is gone since it was read; the running servers are kept".into(),
            })
        } else {
            Ok(HubConfig::default())
        }
    }
}

/// The merged configuration of every `-c` file.
#[derive(Debug, Clone, Default)]
pub struct HubConfig {
    pub files: Vec<PathBuf>,
    pub servers: BTreeMap<String, ServerEntry>,
    /// Top-level keys other than the servers map (`toolFiltering`, `toolExposure`, …),
    /// later files winning per key, kept for the modules that read them.
    pub extras: Map<String, Value>,
    /// `toolFiltering` and `toolExposure` of the merged files, read once here.
    pub filtering: filtering::FilterSettings,
}

/// One server as written in the file, before placeholders are resolved. Resolution
/// happens when the server starts so that a bad placeholder fails that server only.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEntry {
    pub name: String,
    pub source: PathBuf,
    pub raw: Map<String, Value>,
}

/// How to reach a server, with every placeholder resolved.
#[derive(Clone, PartialEq)]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
    Http {
        url: String,
        headers: BTreeMap<String, String>,
        mode: RemoteMode,
        oauth: OAuthClient,
    },
}

/// A remote server's `oauth` block: a client registered with its authorization server
/// beforehand (`client_id`, `client_secret`, placeholders resolved), and `scopes` to
/// ask for. Without it the hub registers itself where the server allows it.
#[derive(Clone, Default, PartialEq)]
pub struct OAuthClient {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OAuthClient {
    // Hand-written: the secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<hidden>"),
            )
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Which HTTP transport a remote server speaks (`type` in its entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteMode {
    /// Streamable HTTP, falling back to the old HTTP+SSE when the server does not
    /// take it (no `type`, as mcp-hub does).
    Auto,
    /// `"type": "streamable-http"` (or `"http"`): streamable HTTP only.
    Streamable,
    /// `"type": "sse"`: the 2024-11-05 HTTP+SSE transport only.
    Sse,
}

impl RemoteMode {
    fn of(raw: &Map<String, Value>) -> Result<RemoteMode, String> {
        match raw.get("type").and_then(Value::as_str) {
            None => Ok(RemoteMode::Auto),
            Some("streamable-http" | "streamableHttp" | "http") => Ok(RemoteMode::Streamable),
            Some("sse") => Ok(RemoteMode::Sse),
            Some(other) => Err(format!(
                "`type` `{other}` is not a remote transport: use \"streamable-http\", \"sse\", or leave it out to try both"
            )),
        }
    }
}

impl std::fmt::Debug for Transport {
    // Hand-written so that env and header values (secrets) can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Stdio {
                command, args, env, ..
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env_keys", &env.keys().collect::<Vec<_>>())
                .finish(),
            Transport::Http {
                url,
                headers,
                mode,
                oauth,
            } => f
                .debug_struct("Http")
                .field("url", url)
                .field("mode", mode)
                .field("oauth", oauth)
                .field("header_names", &headers.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl Transport {
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Stdio { .. } => "stdio",
            Transport::Http {
                mode: RemoteMode::Sse,
                ..
            } => "sse",
            Transport::Http { .. } => "streamable-http",
        }
    }
}

/// Restart policy for a server that dies: exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    pub enabled: bool,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            enabled: true,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

/// mcp-hub's `dev` block of a stdio server: restart it when one of its source files
/// changes, for its author's edit-and-try loop.
#[derive(Debug, Clone, PartialEq)]
pub struct DevSettings {
    /// Globs, relative to `cwd`.
    pub watch: Vec<String>,
    pub cwd: PathBuf,
}

/// mcp-hub's default globs: a server's sources in the languages servers are written in.
const DEV_WATCH_DEFAULT: [&str; 4] = ["**/*.js", "**/*.ts", "**/*.py", "**/*.json"];

/// A server's `dev` block checked as mcp-hub checks it: `None` when it is off.
fn parse_dev(name: &str, dev: &Value) -> Result<Option<DevSettings>, String> {
    let Value::Object(dev) = dev else {
        return Err(format!(
            "server `{name}`: `dev` must be an object like {{\"cwd\": \"/abs/path\", \"watch\": [\"src/**/*.js\"]}}"
        ));
    };
    let enabled = match dev.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(format!(
                "server `{name}`: `dev.enabled` must be true or false"
            ));
        }
    };
    let watch = match dev.get("watch") {
        None => DEV_WATCH_DEFAULT.iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(_) => {
            return Err(format!(
                "server `{name}`: `dev.watch` must be an array of globs, e.g. [\"src/**/*.ts\"]"
            ));
        }
    };
    let cwd = match dev.get("cwd").and_then(Value::as_str) {
        Some(c) if Path::new(c).is_absolute() => PathBuf::from(c),
        _ => {
            return Err(format!(
                "server `{name}`: `dev.cwd` must be an absolute path: the directory `dev.watch` is relative to"
            ));
        }
    };
    Ok(enabled.then_some(DevSettings { watch, cwd }))
}

impl ServerEntry {
    /// The `dev` block of a stdio server, when it is on (checked when the file was read).
    pub fn dev(&self) -> Option<DevSettings> {
        if !self.raw.contains_key("command") {
            return None;
        }
        parse_dev(&self.name, self.raw.get("dev")?).ok().flatten()
    }

    pub fn disabled(&self) -> bool {
        self.raw
            .get("disabled")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn display_name(&self) -> String {
        self.str_field("name")
            .or_else(|| self.str_field("displayName"))
            .unwrap_or_else(|| self.name.clone())
    }

    pub fn description(&self) -> Option<String> {
        self.str_field("description")
    }

    /// Tool namespace: `prefix` when given (`""` means none), else the server name as
    /// mcp-hub writes it in names (every character but ASCII letters and digits an
    /// `_`), so that a tool keeps the name clients of mcp-hub saved: `my-server`'s
    /// `fetch` is `my_server__fetch` on both hubs.
    pub fn prefix(&self) -> String {
        self.str_field("prefix").unwrap_or_else(|| {
            self.name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        })
    }

    pub fn timeout(&self) -> Duration {
        self.raw
            .get("timeoutMs")
            .and_then(Value::as_u64)
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The largest message the server may send (`maxMessageBytes`): a larger answer
    /// fails its call at once, with both sizes.
    pub fn max_message_bytes(&self) -> usize {
        self.raw
            .get("maxMessageBytes")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .map_or(DEFAULT_MAX_MESSAGE_BYTES, |n| n as usize)
    }

    /// Calls a second the hub makes to this server at most (`rateLimit`); `None`, the
    /// default, is no limit.
    pub fn rate_limit(&self) -> Option<f64> {
        self.raw
            .get("rateLimit")
            .and_then(Value::as_f64)
            .filter(|r| *r > 0.0)
    }

    pub fn restart_policy(&self) -> RestartPolicy {
        let mut policy = RestartPolicy::default();
        match self.raw.get("restart") {
            Some(Value::Bool(enabled)) => policy.enabled = *enabled,
            Some(Value::String(s)) => policy.enabled = s != "never",
            Some(Value::Object(o)) => {
                if let Some(e) = o.get("enabled").and_then(Value::as_bool) {
                    policy.enabled = e;
                }
                if let Some(ms) = o.get("initialDelayMs").and_then(Value::as_u64) {
                    policy.initial = Duration::from_millis(ms.max(1));
                }
                if let Some(ms) = o.get("maxDelayMs").and_then(Value::as_u64) {
                    policy.max = Duration::from_millis(ms.max(1));
                }
            }
            _ => {}
        }
        policy
    }

    /// The `oauth` block with placeholders resolved.
    fn oauth_client(&self, ph: &Placeholders) -> Result<OAuthClient, String> {
        let Some(block) = self.raw.get("oauth") else {
            return Ok(OAuthClient::default());
        };
        let Value::Object(block) = block else {
            return Err("`oauth` must be an object like {\"client_id\": \"…\", \"client_secret\": \"${env:SECRET}\"}".into());
        };
        let empty = BTreeMap::new();
        let field = |k: &str| -> Result<Option<String>, String> {
            match block.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(v)) => ph
                    .resolve(v, &empty)
                    .map(Some)
                    .map_err(|e| format!("oauth.{k}: {e}")),
                Some(_) => Err(format!("oauth.{k} must be a string")),
            }
        };
        let scopes = match block.get("scopes") {
            None => vec![],
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(String::from).collect(),
            Some(_) => return Err("oauth.scopes must be an array of scope names".into()),
        };
        Ok(OAuthClient {
            client_id: field("client_id")?,
            client_secret: field("client_secret")?,
            scopes,
        })
    }

    /// The transport as configured: `stdio`, `sse` when forced, else
    /// `streamable-http` (a server that turns out to speak only SSE shows `sse` once
    /// connected).
    pub fn transport_kind(&self) -> &'static str {
        if !self.raw.contains_key("url") {
            "stdio"
        } else if RemoteMode::of(&self.raw) == Ok(RemoteMode::Sse) {
            "sse"
        } else {
            "streamable-http"
        }
    }

    fn str_field(&self, key: &str) -> Option<String> {
        self.raw.get(key).and_then(Value::as_str).map(str::to_owned)
    }

    /// Whether resolving this entry may run a `${cmd: …}` (any string with both `${`
    /// and `cmd:` counts: a false alarm only costs a thread).
    pub fn may_run_commands(&self) -> bool {
        fn any_string(v: &Value, f: &impl Fn(&str) -> bool) -> bool {
            match v {
                Value::String(s) => f(s),
                Value::Array(a) => a.iter().any(|v| any_string(v, f)),
                Value::Object(m) => m.values().any(|v| any_string(v, f)),
                _ => false,
            }
        }
        self.raw
            .values()
            .any(|v| any_string(v, &|s| s.contains("${") && s.contains("cmd:")))
    }

    /// Resolves placeholders and returns how to reach this server. `env` resolves
    /// first so that other fields may refer to the server's own env values.
    pub fn resolve(&self, ph: &Placeholders) -> Result<Transport, String> {
        if let Some(url) = self.raw.get("url") {
            let url = url
                .as_str()
                .ok_or_else(|| "`url` must be a string".to_owned())?;
            let empty = BTreeMap::new();
            let url = ph.resolve(url, &empty).map_err(|e| format!("url: {e}"))?;
            let mut headers = BTreeMap::new();
            for (k, v) in string_map(self.raw.get("headers"), "headers")? {
                let v = v.unwrap_or_default();
                let v = ph
                    .resolve(&v, &empty)
                    .map_err(|e| format!("headers.{k}: {e}"))?;
                headers.insert(k, v);
            }
            let mode = RemoteMode::of(&self.raw)?;
            let oauth = self.oauth_client(ph)?;
            return Ok(Transport::Http {
                url,
                headers,
                mode,
                oauth,
            });
        }
        let command = self
            .raw
            .get("command")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                "needs either `command` (a stdio server) or `url` (a remote server)".to_owned()
            })?;
        let mut env = BTreeMap::new();
        let none = BTreeMap::new();
        for (k, v) in ph.hub_env() {
            env.insert(k.clone(), v.clone());
        }
        for (k, v) in string_map(self.raw.get("env"), "env")? {
            // mcp-hub: a null or empty value means "take it from the hub's environment".
            let value = match v {
                Some(v) if !v.is_empty() => {
                    ph.resolve(&v, &none).map_err(|e| format!("env.{k}: {e}"))?
                }
                _ => ph
                    .lookup_env(&k)
                    .ok_or_else(|| format!("env.{k}: no value given and {k} is not set"))?,
            };
            env.insert(k, value);
        }
        let command = ph
            .resolve(command, &env)
            .map_err(|e| format!("command: {e}"))?;
        let mut args = Vec::new();
        if let Some(raw_args) = self.raw.get("args") {
            let list = raw_args
                .as_array()
                .ok_or_else(|| "`args` must be an array of strings".to_owned())?;
            for (i, a) in list.iter().enumerate() {
                let a = match a {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(format!("args[{i}] must be a string")),
                };
                let resolved = match a.strip_prefix('$').filter(|v| !v.starts_with('{')) {
                    Some(var) => ph.legacy(var, &env),
                    None => ph.resolve(&a, &env),
                };
                args.push(resolved.map_err(|e| format!("args[{i}]: {e}"))?);
            }
        }
        let cwd = match self.raw.get("cwd").and_then(Value::as_str) {
            Some(c) => Some(PathBuf::from(
                ph.resolve(c, &env).map_err(|e| format!("cwd: {e}"))?,
            )),
            None => None,
        };
        Ok(Transport::Stdio {
            command,
            args,
            env,
            cwd,
        })
    }
}

fn string_map(v: Option<&Value>, what: &str) -> Result<Vec<(String, Option<String>)>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), Some(s.clone()))),
                Value::Null => Ok((k.clone(), None)),
                Value::Number(n) => Ok((k.clone(), Some(n.to_string()))),
                Value::Bool(b) => Ok((k.clone(), Some(b.to_string()))),
                _ => Err(format!("{what}.{k} must be a string")),
            })
            .collect(),
        Some(_) => Err(format!("`{what}` must be an object of strings")),
    }
}

/// Reads a user's JSON settings file (threshold overrides), naming the file, line and
/// column of a mistake; serde's own message names an unknown key and the known ones.
pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
}

/// `$XDG_CONFIG_HOME/mcphub/servers.json` (or `~/.config/mcphub/servers.json`).
pub fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("mcphub").join("servers.json"))
}

/// Parses one file's text. Separate from I/O so that tests and fuzzers can drive it.
pub fn parse_file(file: &Path, text: &str) -> Result<Map<String, Value>, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let value: Value = json5::from_str(text).map_err(|e| {
        let (line, column) = e
            .position()
            .map(|p| (p.line + 1, p.column + 1))
            .unwrap_or((1, 1));
        let reason = e.to_string();
        // json5 appends its own "at line L column C"; the position is already in front.
        let reason = reason
            .split(" at line ")
            .next()
            .unwrap_or(&reason)
            .to_owned();
        ConfigError::Parse {
            file: file.to_owned(),
            line,
            column,
            reason,
        }
    })?;
    match value {
        Value::Object(m) => Ok(m),
        other => Err(ConfigError::Invalid {
            file: file.to_owned(),
            reason: format!(
                "the top level must be an object with `mcpServers`, found {}",
                json_kind(&other)
            ),
        }),
    }
}

/// Writes `"disabled": <disabled>` into `server`'s entry of `file`, as mcp-hub does when
/// its API disables or enables a server. The file is rewritten as plain JSON, so one
/// with JSON5's comments or trailing commas is refused rather than stripped of them.
pub fn set_disabled(file: &Path, server: &str, disabled: bool) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        file: file.to_owned(),
        reason,
    };
    let read_error = |e: std::io::Error| ConfigError::Read {
        file: file.to_owned(),
        reason: e.to_string(),
    };
    // The file itself, where a link points (a dotfiles checkout, say), keeping its mode.
    let real = std::fs::canonicalize(file).map_err(read_error)?;
    let mode = std::fs::metadata(&real).map_err(read_error)?.permissions();
    let text = std::fs::read_to_string(&real).map_err(read_error)?;
    let mut top: Map<String, Value> = serde_json::from_str(&text).map_err(|_| {
        invalid(format!(
            "cannot record `disabled` for `{server}`: the file is JSON5 (comments or trailing commas) \
             and rewriting it would lose them; set \"disabled\": {disabled} there by hand"
        ))
    })?;
    let key = ["mcpServers", "servers"]
        .into_iter()
        .find(|key| top.get(*key).and_then(|m| m.get(server)).is_some())
        .ok_or_else(|| invalid(format!("no server `{server}` in it")))?;
    let entry = top
        .get_mut(key)
        .and_then(|m| m.get_mut(server))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| invalid(format!("server `{server}` is not an object")))?;
    entry.insert("disabled".into(), Value::Bool(disabled));
    let mut out = serde_json::to_string_pretty(&top).unwrap_or_default();
    out.push('\n');
    crate::state::write_atomic(&real, out.as_bytes()).map_err(read_error)?;
    std::fs::set_permissions(&real, mode).map_err(read_error)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl HubConfig {
    /// The servers as mcp-hub's `config_changed` event shows them (`{mcpServers: {name:
    /// entry}}`, each with its `config_source`), env and header values and OAuth client
    /// secrets masked: the
    /// event goes to every client of `/api/events`, and secrets never leave the hub.
    pub fn public_view(&self) -> Value {
        let servers: Map<String, Value> = self
            .servers
            .iter()
            .map(|(name, e)| {
                let mut raw = e.raw.clone();
                for key in ["env", "headers"] {
                    if let Some(Value::Object(m)) = raw.get_mut(key) {
                        for v in m.values_mut() {
                            *v = Value::String("<hidden>".into());
                        }
                    }
                }
                if let Some(Value::Object(o)) = raw.get_mut("oauth")
                    && let Some(v) = o.get_mut("client_secret")
                {
                    *v = Value::String("<hidden>".into());
                }
                raw.insert(
                    "config_source".into(),
                    Value::String(e.source.display().to_string()),
                );
                (name.clone(), Value::Object(raw))
            })
            .collect();
        serde_json::json!({ "mcpServers": servers })
    }

    /// Reads and merges `files` in order: per server name, a later file wins.
    pub fn load(files: &[PathBuf]) -> Result<HubConfig, ConfigError> {
        let mut cfg = HubConfig {
            files: files.to_vec(),
            ..HubConfig::default()
        };
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Read {
                file: file.clone(),
                reason: e.to_string(),
            })?;
            cfg.merge(file, parse_file(file, &text)?)?;
        }
        // Each file's blocks were checked as it was merged; the merge of valid blocks
        // is valid (the config fuzz target holds this), so the last file is named.
        cfg.filtering =
            filtering::FilterSettings::from_top_level(&cfg.extras).map_err(|reason| {
                ConfigError::Invalid {
                    file: files.last().cloned().unwrap_or_default(),
                    reason,
                }
            })?;
        Ok(cfg)
    }

    pub fn merge(&mut self, file: &Path, top: Map<String, Value>) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            file: file.to_owned(),
            reason,
        };
        for (key, value) in top {
            if key != "mcpServers" && key != "servers" {
                if key == "toolFiltering" || key == "toolExposure" {
                    let mut one = Map::new();
                    one.insert(key.clone(), value.clone());
                    filtering::FilterSettings::from_top_level(&one).map_err(invalid)?;
                }
                self.extras.insert(key, value);
                continue;
            }
            let servers = match value {
                Value::Object(m) => m,
                Value::Null => continue,
                other => {
                    return Err(invalid(format!(
                        "`{key}` must be an object of servers, found {}",
                        json_kind(&other)
                    )));
                }
            };
            for (name, entry) in servers {
                let raw = match entry {
                    Value::Object(m) => m,
                    other => {
                        return Err(invalid(format!(
                            "server `{name}` must be an object, found {}",
                            json_kind(&other)
                        )));
                    }
                };
                if name.trim().is_empty() {
                    return Err(invalid("a server has an empty name".into()));
                }
                if !raw.contains_key("command") && !raw.contains_key("url") {
                    return Err(invalid(format!(
                        "server `{name}` needs either `command` (stdio) or `url` (remote)"
                    )));
                }
                if let Some(p) = raw.get("prefix")
                    && !p.is_string()
                {
                    return Err(invalid(format!(
                        "server `{name}`: `prefix` must be a string"
                    )));
                }
                if raw.contains_key("url") {
                    RemoteMode::of(&raw).map_err(|e| invalid(format!("server `{name}`: {e}")))?;
                }
                if let Some(dev) = raw.get("dev") {
                    parse_dev(&name, dev).map_err(invalid)?;
                }
                if let Some(t) = raw.get("timeoutMs")
                    && !t.is_u64()
                {
                    return Err(invalid(format!(
                        "server `{name}`: `timeoutMs` must be a positive whole number of milliseconds"
                    )));
                }
                if let Some(r) = raw.get("rateLimit")
                    && r.as_f64().is_none_or(|r| r <= 0.0)
                {
                    return Err(invalid(format!(
                        "server `{name}`: `rateLimit` must be a positive number of calls a second"
                    )));
                }
                if let Some(n) = raw.get("maxMessageBytes")
                    && n.as_u64().is_none_or(|n| n < 1024)
                {
                    return Err(invalid(format!(
                        "server `{name}`: `maxMessageBytes` must be a whole number of bytes, at least 1024 (default {DEFAULT_MAX_MESSAGE_BYTES})"
                    )));
                }
                self.servers.insert(
                    name.clone(),
                    ServerEntry {
                        name,
                        source: file.to_owned(),
                        raw,
                    },
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HubConfig, ConfigError> {
        let mut cfg = HubConfig::default();
        cfg.merge(Path::new("s.json"), parse_file(Path::new("s.json"), text)?)?;
        Ok(cfg)
    }

    #[test]
    fn a_whole_argument_dollar_var_is_mcp_hubs_legacy_placeholder() {
        let cfg = parse(
            r#"{"mcpServers": {"a": {"command": "x", "env": {"TOKEN": "t"},
                "args": ["$TOKEN", "${TOKEN}", "a$TOKEN", "${TOKEN}$"]}}}"#,
        )
        .unwrap();
        let ph = Placeholders::from_process().unwrap();
        match cfg.servers["a"].resolve(&ph).unwrap() {
            Transport::Stdio { args, .. } => assert_eq!(args, ["t", "t", "a$TOKEN", "t$"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_json5_with_comments_trailing_commas_and_vscode_servers() {
        let cfg = parse(
            r#"{
              // a comment
              servers: { a: { command: "x", args: ["1",], }, },
              toolFiltering: { enabled: true },
            }"#,
        )
        .unwrap();
        assert_eq!(cfg.servers.len(), 1);
        assert!(cfg.extras.contains_key("toolFiltering"));
    }

    #[test]
    fn parse_error_names_line_and_column() {
        let err = parse("{\n  \"mcpServers\": {\n    \"a\": { \"command\": }\n  }\n}").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("s.json:3:"), "{msg}");
    }

    #[test]
    fn later_file_wins_per_server() {
        let mut cfg = HubConfig::default();
        let a = parse_file(
            Path::new("a"),
            r#"{"mcpServers":{"x":{"command":"one"},"y":{"command":"y"}}}"#,
        )
        .unwrap();
        let b = parse_file(Path::new("b"), r#"{"mcpServers":{"x":{"command":"two"}}}"#).unwrap();
        cfg.merge(Path::new("a"), a).unwrap();
        cfg.merge(Path::new("b"), b).unwrap();
        assert_eq!(cfg.servers["x"].raw["command"], "two");
        assert_eq!(cfg.servers["x"].source, Path::new("b"));
        assert_eq!(cfg.servers["y"].source, Path::new("a"));
    }

    #[test]
    fn server_without_command_or_url_is_refused_with_its_name() {
        let err = parse(r#"{"mcpServers":{"broken":{"args":[]}}}"#).unwrap_err();
        assert!(err.to_string().contains("`broken`"), "{err}");
    }

    #[test]
    fn prefix_timeout_and_disabled() {
        let cfg = parse(
            r#"{"mcpServers":{"a":{"command":"x","prefix":"","timeoutMs":1500,"disabled":true},
                              "b":{"url":"http://h/mcp"},
                              "my-server.v2":{"command":"x"}}}"#,
        )
        .unwrap();
        let a = &cfg.servers["a"];
        assert_eq!(a.prefix(), "");
        assert_eq!(a.timeout(), Duration::from_millis(1500));
        assert!(a.disabled());
        let b = &cfg.servers["b"];
        assert_eq!(b.prefix(), "b");
        assert_eq!(cfg.servers["my-server.v2"].prefix(), "my_server_v2");
        assert_eq!(b.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(b.transport_kind(), "streamable-http");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let t = Transport::Stdio {
            command: "x".into(),
            args: vec![],
            env: BTreeMap::from([("TOKEN".into(), "s3cret".into())]),
            cwd: None,
        };
        let s = format!("{t:?}");
        assert!(s.contains("TOKEN") && !s.contains("s3cret"), "{s}");
    }
}
