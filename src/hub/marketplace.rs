//! mcp-hub's marketplace: the public registry of MCP servers editors offer to install
//! (`GET /api/marketplace`, `POST /api/marketplace/details`), fetched on first use and
//! kept for an hour in the state directory, in mcp-hub's cache format.
//!
//! Unlike mcp-hub, the hub does not fetch the registry at start (a hub on a plane
//! starts as fast as one online), and a registry it cannot reach is answered from the
//! cache however old, rather than failing while a copy is on disk.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::hub::error::HubError;

/// Where mcp-hub 4.2.1 reads the registry; `--marketplace-url` points elsewhere.
pub const DEFAULT_REGISTRY_URL: &str = "https://ravitemer.github.io/mcp-registry/registry.json";
/// Where a server's README is read from when its entry names a GitHub repository.
const README_BASE: &str = "https://raw.githubusercontent.com";
/// mcp-hub's: the registry is rebuilt daily, an hour old is fresh enough.
const TTL: Duration = Duration::from_secs(60 * 60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /api/marketplace`'s query, as mcp-hub reads it.
#[derive(Debug, Default, Deserialize)]
pub struct Query {
    pub search: Option<String>,
    pub category: Option<String>,
    /// Comma-separated; a server must have them all.
    pub tags: Option<String>,
    /// `stars`, `name`, or `newest` (the default).
    pub sort: Option<String>,
}

/// The cache file, field for field mcp-hub's `registry.json` (times in ms since the
/// epoch), so that a user can carry one over.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    registry: Option<Registry>,
    #[serde(rename = "lastFetchedAt")]
    last_fetched_at: Option<i64>,
    #[serde(rename = "serverDocumentation", default)]
    server_documentation: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Registry {
    servers: Vec<Value>,
    /// The rest of the registry (version, generatedAt, …), kept as it came.
    #[serde(flatten)]
    rest: Map<String, Value>,
}

pub struct Marketplace {
    url: String,
    readme_base: String,
    cache_file: PathBuf,
    /// Made at the first fetch: a client reads and parses the system's whole
    /// certificate store (some 150 files here), which a hub whose marketplace is never
    /// asked would pay for at every start, in time and resident memory.
    client: std::sync::OnceLock<reqwest::Client>,
    /// Held across a fetch, so that concurrent requests fetch once.
    cache: Mutex<Option<Cache>>,
    /// When a fetch last failed: while a kept copy answers, the registry is not
    /// asked again for a minute (each try may wait out the fetch timeout).
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long a failed fetch is not retried while a kept copy answers.
const RETRY_AFTER: Duration = Duration::from_secs(60);

impl Marketplace {
    pub fn new(url: String, cache_file: PathBuf) -> Marketplace {
        Marketplace::with_readme_base(url, README_BASE.into(), cache_file)
    }

    fn with_readme_base(url: String, readme_base: String, cache_file: PathBuf) -> Marketplace {
        Marketplace {
            url,
            readme_base,
            cache_file,
            client: std::sync::OnceLock::new(),
            cache: Mutex::new(None),
            failed_at: std::sync::Mutex::new(None),
        }
    }

    /// The registry's servers that match `q`, in its order.
    pub async fn catalog(&self, q: &Query) -> Result<Vec<Value>, HubError> {
        let mut cache = self.cache.lock().await;
        let registry = self.registry(&mut cache).await?;
        Ok(query(&registry.servers, q))
    }

    /// One server's entry and its README (`null` when it has none that can be read):
    /// mcp-hub's `{server, readmeContent}`. `None` when the registry has no such id.
    pub async fn details(&self, id: &str) -> Result<Option<Value>, HubError> {
        let mut cache = self.cache.lock().await;
        let registry = self.registry(&mut cache).await?;
        let Some(server) = registry
            .servers
            .iter()
            .find(|s| s.get("id").and_then(Value::as_str) == Some(id))
            .cloned()
        else {
            return Ok(None);
        };
        let cache = cache.get_or_insert_with(Cache::default);
        let now = now_ms();
        let cached = cache
            .server_documentation
            .get(id)
            .filter(|d| fresh(d.get("lastFetchedAt").and_then(Value::as_i64), now));
        let readme = match cached {
            Some(doc) => doc.get("content").and_then(Value::as_str).map(String::from),
            None => {
                let url = server.get("url").and_then(Value::as_str).unwrap_or("");
                let readme = self.readme(url).await;
                if let Some(text) = &readme {
                    cache.server_documentation.insert(
                        id.to_owned(),
                        serde_json::json!({"content": text, "lastFetchedAt": now}),
                    );
                    self.save(cache);
                }
                readme
            }
        };
        Ok(Some(
            serde_json::json!({"server": server, "readmeContent": readme}),
        ))
    }

    /// The registry: the cached one while fresh, else fetched; a stale copy when the
    /// fetch fails.
    async fn registry(&self, cache: &mut Option<Cache>) -> Result<Registry, HubError> {
        let cache = cache.get_or_insert_with(|| self.load());
        if let Some(r) = &cache.registry
            && !r.servers.is_empty()
            && fresh(cache.last_fetched_at, now_ms())
        {
            return Ok(r.clone());
        }
        let recently_failed = self
            .failed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < RETRY_AFTER);
        if recently_failed
            && let Some(stale) = cache.registry.as_ref().filter(|r| !r.servers.is_empty())
        {
            return Ok(stale.clone());
        }
        let fetched = self.fetch().await;
        *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) =
            fetched.is_err().then(std::time::Instant::now);
        match fetched {
            Ok(r) => {
                cache.registry = Some(r.clone());
                cache.last_fetched_at = Some(now_ms());
                self.save(cache);
                Ok(r)
            }
            Err(reason) => match &cache.registry {
                Some(stale) if !stale.servers.is_empty() => {
                    tracing::warn!(url = %self.url, error = %reason, "cannot refresh the marketplace registry: {reason}; answering from the copy fetched before");
                    Ok(stale.clone())
                }
                _ => Err(HubError::Marketplace {
                    url: self.url.clone(),
                    reason,
                }),
            },
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .user_agent(concat!("mcphub/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
    }

    async fn fetch(&self) -> Result<Registry, String> {
        let resp = self
            .client()
            .get(&self.url)
            .send()
            .await
            .map_err(|e| crate::telemetry::error_causes(&e).join(": "))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| crate::telemetry::error_causes(&e).join(": "))?;
        serde_json::from_slice::<Registry>(&body).map_err(|e| {
            format!("the answer is not a registry (a JSON object with a \"servers\" array): {e}")
        })
    }

    /// The README of a GitHub repository (its `main`, then its `master` branch).
    async fn readme(&self, repo_url: &str) -> Option<String> {
        let (owner, repo) = github_repo(repo_url)?;
        for branch in ["main", "master"] {
            let url = format!("{}/{owner}/{repo}/{branch}/README.md", self.readme_base);
            match self.client().get(&url).send().await {
                Ok(r) if r.status().is_success() => return r.text().await.ok(),
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => continue,
                Ok(r) => {
                    tracing::debug!(%url, status = %r.status(), "cannot read a marketplace README");
                    return None;
                }
                Err(e) => {
                    tracing::debug!(%url, error = %e, "cannot read a marketplace README");
                    return None;
                }
            }
        }
        None
    }

    fn load(&self) -> Cache {
        std::fs::read(&self.cache_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Best effort: a cache that cannot be written costs a fetch next time, nothing more.
    fn save(&self, cache: &Cache) {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.cache_file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let bytes = serde_json::to_vec_pretty(cache).map_err(std::io::Error::other)?;
            crate::state::write_atomic(&self.cache_file, &bytes)
        };
        if let Err(e) = write() {
            tracing::debug!(file = %self.cache_file.display(), error = %e, "cannot write the marketplace cache");
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn fresh(fetched_at: Option<i64>, now: i64) -> bool {
    fetched_at.is_some_and(|t| now.saturating_sub(t) < TTL.as_millis() as i64)
}

/// `owner` and `repo` of a `github.com/owner/repo…` URL.
fn github_repo(url: &str) -> Option<(&str, &str)> {
    let rest = &url[url.find("github.com/")? + "github.com/".len()..];
    let mut parts = rest.split('/');
    let owner = parts.next().filter(|s| !s.is_empty())?;
    let repo = parts.next().filter(|s| !s.is_empty())?;
    Some((owner, repo.trim_end_matches(".git")))
}

/// mcp-hub's filter and sort over the registry's entries.
fn query(servers: &[Value], q: &Query) -> Vec<Value> {
    let text = |s: &Value, k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let tags = |s: &Value| -> Vec<String> {
        s.get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let number = |s: &Value, k: &str| s.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let mut out: Vec<Value> = servers
        .iter()
        .filter(|s| match &q.search {
            Some(term) if !term.is_empty() => {
                let term = term.to_lowercase();
                text(s, "name").to_lowercase().contains(&term)
                    || text(s, "description").to_lowercase().contains(&term)
                    || tags(s).iter().any(|t| t.to_lowercase().contains(&term))
            }
            _ => true,
        })
        .filter(|s| match &q.category {
            Some(c) if !c.is_empty() => text(s, "category") == *c,
            _ => true,
        })
        .filter(|s| match &q.tags {
            Some(wanted) if !wanted.is_empty() => {
                let have = tags(s);
                wanted.split(',').all(|w| have.iter().any(|t| t == w))
            }
            _ => true,
        })
        .cloned()
        .collect();
    match q.sort.as_deref() {
        Some("stars") => out.sort_by(|a, b| number(b, "stars").total_cmp(&number(a, "stars"))),
        Some("name") => out.sort_by_key(|s| text(s, "name").to_lowercase()),
        _ => out.sort_by(|a, b| number(b, "lastCommit").total_cmp(&number(a, "lastCommit"))),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn servers() -> Vec<Value> {
        vec![
            json!({"id": "a", "name": "Alpha", "description": "files", "category": "fs", "tags": ["disk", "local"], "stars": 5, "lastCommit": 100}),
            json!({"id": "b", "name": "beta", "description": "Web search", "category": "web", "tags": ["http"], "stars": 50, "lastCommit": 300}),
            json!({"id": "c", "name": "Gamma", "description": "notes", "category": "fs", "tags": ["disk"], "stars": 1, "lastCommit": 200}),
        ]
    }

    fn ids(v: &[Value]) -> Vec<&str> {
        v.iter().map(|s| s["id"].as_str().unwrap()).collect()
    }

    #[test]
    fn query_filters_and_sorts_as_mcp_hub_does() {
        let s = servers();
        assert_eq!(ids(&query(&s, &Query::default())), ["b", "c", "a"]);
        let q = |search: &str, category: &str, tags: &str, sort: &str| Query {
            search: Some(search.into()),
            category: Some(category.into()),
            tags: Some(tags.into()),
            sort: Some(sort.into()),
        };
        assert_eq!(ids(&query(&s, &q("SEARCH", "", "", ""))), ["b"]);
        assert_eq!(ids(&query(&s, &q("", "fs", "", "stars"))), ["a", "c"]);
        assert_eq!(ids(&query(&s, &q("", "", "disk,local", ""))), ["a"]);
        assert_eq!(ids(&query(&s, &q("", "", "", "name"))), ["a", "b", "c"]);
    }

    #[test]
    fn github_urls_name_their_repository() {
        assert_eq!(github_repo("https://github.com/o/r"), Some(("o", "r")));
        assert_eq!(
            github_repo("https://github.com/o/r.git/tree/main"),
            Some(("o", "r"))
        );
        assert_eq!(github_repo("https://gitlab.com/o/r"), None);
        assert_eq!(github_repo("https://github.com/o"), None);
    }

    /// A loopback registry and README host whose answers the test changes.
    async fn serve(registry: std::sync::Arc<std::sync::Mutex<(u16, String)>>) -> String {
        use axum::routing::get;
        let app = axum::Router::new()
            .route(
                "/registry.json",
                get({
                    let registry = registry.clone();
                    move || {
                        let (status, body) = registry.lock().unwrap().clone();
                        async move { (axum::http::StatusCode::from_u16(status).unwrap(), body) }
                    }
                }),
            )
            .route("/o/r/master/README.md", get(|| async { "# R\n" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_registry_that_goes_away_is_answered_from_the_cache_and_its_readme_too() {
        let answer = std::sync::Arc::new(std::sync::Mutex::new((
            200,
            json!({"version": "1", "servers": [{"id": "r", "name": "R", "description": "", "tags": [], "url": "https://github.com/o/r"}]}).to_string(),
        )));
        let base = serve(answer.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache/marketplace.json");
        let m = Marketplace::with_readme_base(
            format!("{base}/registry.json"),
            base.clone(),
            file.clone(),
        );
        assert_eq!(ids(&m.catalog(&Query::default()).await.unwrap()), ["r"]);
        let d = m.details("r").await.unwrap().unwrap();
        assert_eq!(d["readmeContent"], "# R\n");
        assert_eq!(m.details("nope").await.unwrap(), None);

        // Offline, and the copy an hour old: a new hub answers from the file.
        *answer.lock().unwrap() = (503, String::new());
        let mut cache: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        cache["lastFetchedAt"] = json!(now_ms() - 2 * TTL.as_millis() as i64);
        std::fs::write(&file, cache.to_string()).unwrap();
        let m = Marketplace::with_readme_base(
            format!("{base}/registry.json"),
            base.clone(),
            file.clone(),
        );
        assert_eq!(ids(&m.catalog(&Query::default()).await.unwrap()), ["r"]);

        // Offline with nothing cached: an error that names the registry.
        let m = Marketplace::new(
            format!("{base}/registry.json"),
            dir.path().join("none.json"),
        );
        let e = m.catalog(&Query::default()).await.unwrap_err();
        assert!(e.to_string().contains("/registry.json"), "{e}");
        assert!(e.to_string().contains("HTTP 503"), "{e}");
    }
}
