//! The aggregated offer of every connected backend: tools and prompts renamed to
//! `<prefix>__<name>`, resources routed by URI, collisions resolved deterministically.

use std::collections::HashMap;
use std::sync::Arc;

use crate::mcp::model::{Prompt, Resource, ResourceTemplate, Tool};
use crate::mcp::offer::{Offer, OfferedTool};

/// Longest name MCP clients accept for a tool (and the charset below).
pub const MAX_NAME_LEN: usize = 64;
pub const SEPARATOR: &str = "__";

/// Items in one page of a list an MCP client asks for (`tools/list` and the others).
/// A list this long or shorter is one page, as it always was; a longer one comes in
/// pages, each naming the next (`nextCursor`, which clients follow as the protocol has
/// them do). 1000 tools are about 1 MB: a page stays quick to write and read, and well
/// within the SDKs' message limits (rmcp's client gives up on a 22 MB `tools/list`).
pub const LIST_PAGE: usize = 1000;

/// The page of `items` that starts at index `from`, each made by `make`, and where
/// the next one starts. Only the page's own items are made: a client reading the
/// last page of 20,000 tools does not pay for copying the 19,000 before it.
pub fn page<I: Iterator, T>(
    items: I,
    from: usize,
    make: impl FnMut(I::Item) -> T,
) -> (Vec<T>, Option<usize>) {
    let mut rest = items.skip(from);
    let page: Vec<T> = rest.by_ref().take(LIST_PAGE).map(make).collect();
    let next = rest.next().is_some().then_some(from + LIST_PAGE);
    (page, next)
}

/// Where an exposed prompt's name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub server: String,
    pub name: String,
    /// Where the exposed item is in the catalog's list (tools or prompts).
    pub at: usize,
}

/// Where an exposed tool's name leads: its server, the server's own name for it, and
/// its place in the catalog's tools. Borrowed from the catalog, which keeps each name
/// once (20,000 tools held six strings each where they now hold one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolRoute<'a> {
    pub server: &'a str,
    pub name: &'a str,
    pub at: usize,
}

/// A tool as the catalog lists it: the name clients see and its server, over the
/// backend's own definition, which stays in its offer. A copy per catalog would hold
/// every description and schema twice (20 MB for 20,000 tools of 1 kB).
#[derive(Debug, Clone)]
pub struct ExposedTool {
    /// Shared with the catalog's index of names.
    pub name: Arc<str>,
    /// One per server, shared by its tools.
    server: Arc<str>,
    offer: Arc<Offer>,
    at: usize,
}

impl ExposedTool {
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The backend's definition of the tool, under the server's own name.
    pub fn definition(&self) -> &OfferedTool {
        &self.offer.tools[self.at]
    }

    pub fn description(&self) -> &str {
        self.definition().description().unwrap_or_default()
    }

    /// The backend's offer the tool comes from, and its place in the offer's tools.
    pub fn source(&self) -> (&Arc<Offer>, usize) {
        (&self.offer, self.at)
    }

    /// The definition under the exposed name: what a client is shown.
    pub fn renamed(&self) -> Tool {
        let mut tool = self.definition().to_tool();
        tool.name = self.name.to_string().into();
        tool
    }
}

impl PartialEq for ExposedTool {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && ((Arc::ptr_eq(&self.offer, &other.offer) && self.at == other.at)
                || self.definition() == other.definition())
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub tools: Vec<ExposedTool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    /// Exposed name → its place in `tools`.
    tool_index: HashMap<Arc<str>, usize>,
    /// (server, its own tool name) → exposed name, for the tools whose exposed name
    /// is not the one their prefix makes (a collision's `_2`): REST calls name tools
    /// by server and own name.
    renamed: HashMap<(Arc<str>, String), Arc<str>>,
    prompt_routes: HashMap<String, Route>,
    resource_routes: HashMap<String, String>,
    /// (literal prefix of a URI template, server), longest prefix first.
    template_routes: Vec<(String, String)>,
    /// Servers with resources, for URIs that no list or template names.
    resource_servers: Vec<String>,
    /// `<prefix>__` → server, for URIs in mcp-hub's form (`<server>__<uri>`).
    resource_prefixes: HashMap<String, String>,
    /// Every connected server's tool namespace: who owns a name the hub has not
    /// listed, and how the server's own names are exposed.
    tool_namespaces: Vec<Namespace>,
    pub collisions: Vec<String>,
}

/// A server's tool namespace.
#[derive(Debug)]
struct Namespace {
    /// `<prefix>__`, sanitized as the names in it are; empty for a server exposed
    /// without a prefix.
    start: String,
    prefix: String,
    server: Arc<str>,
}

/// One connected backend's part of the catalog. Callers pass them sorted by server
/// name: that order is what makes collision resolution deterministic.
pub struct Part<'a> {
    pub server: &'a str,
    pub prefix: &'a str,
    pub offer: Arc<Offer>,
}

impl Catalog {
    pub fn build(parts: &[Part<'_>]) -> Catalog {
        let mut c = Catalog::default();
        let tools: usize = parts.iter().map(|p| p.offer.tools.len()).sum();
        c.tools.reserve_exact(tools);
        c.tool_index.reserve(tools);
        for part in parts {
            let server: Arc<str> = part.server.into();
            c.tool_namespaces.push(Namespace {
                start: if part.prefix.is_empty() {
                    String::new()
                } else {
                    exposed_name(part.prefix, "")
                },
                prefix: part.prefix.to_owned(),
                server: server.clone(),
            });
            for (at, tool) in part.offer.tools.iter().enumerate() {
                let wanted = exposed_name(part.prefix, tool.name());
                let exposed: Arc<str> = if c.tool_index.contains_key(wanted.as_str()) {
                    let name = unique_name(&wanted, |n| c.tool_index.contains_key(n));
                    collided(
                        part.server,
                        tool.name(),
                        &wanted,
                        &name,
                        "tool",
                        &mut c.collisions,
                    );
                    let name: Arc<str> = name.into();
                    c.renamed
                        .insert((server.clone(), tool.name().to_string()), name.clone());
                    name
                } else {
                    wanted.into()
                };
                c.tool_index.insert(exposed.clone(), c.tools.len());
                c.tools.push(ExposedTool {
                    name: exposed,
                    server: server.clone(),
                    offer: part.offer.clone(),
                    at,
                });
            }
            for prompt in &part.offer.prompts {
                let wanted = exposed_name(part.prefix, &prompt.name);
                let exposed = if c.prompt_routes.contains_key(&wanted) {
                    let name = unique_name(&wanted, |n| c.prompt_routes.contains_key(n));
                    collided(
                        part.server,
                        &prompt.name,
                        &wanted,
                        &name,
                        "prompt",
                        &mut c.collisions,
                    );
                    name
                } else {
                    wanted
                };
                let mut p = prompt.clone();
                p.name = exposed.clone();
                c.prompt_routes.insert(
                    exposed,
                    Route {
                        server: part.server.to_owned(),
                        name: prompt.name.clone(),
                        at: c.prompts.len(),
                    },
                );
                c.prompts.push(p);
            }
            // URIs are global identifiers; they are passed on unchanged and the first
            // server (in name order) that lists one owns it.
            for r in &part.offer.resources {
                if !c.resource_routes.contains_key(&r.uri) {
                    c.resource_routes
                        .insert(r.uri.clone(), part.server.to_owned());
                    c.resources.push(r.clone());
                }
            }
            for t in &part.offer.templates {
                let literal = t
                    .uri_template
                    .split('{')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                c.template_routes.push((literal, part.server.to_owned()));
                c.templates.push(t.clone());
            }
            if !part.offer.resources.is_empty() || !part.offer.templates.is_empty() {
                c.resource_servers.push(part.server.to_owned());
                if !part.prefix.is_empty() {
                    c.resource_prefixes.insert(
                        format!("{}{SEPARATOR}", part.prefix),
                        part.server.to_owned(),
                    );
                }
            }
        }
        c.template_routes
            .sort_by_key(|(lit, _)| std::cmp::Reverse(lit.len()));
        c
    }

    pub fn tool(&self, exposed: &str) -> Option<ToolRoute<'_>> {
        let at = *self.tool_index.get(exposed)?;
        let tool = &self.tools[at];
        Some(ToolRoute {
            server: &tool.server,
            name: tool.definition().name(),
            at,
        })
    }

    /// The server whose namespace holds `exposed`, a name no server listed, and the
    /// name to call it by there: the server with the longest `<prefix>__` it starts
    /// with, else the one server exposed without a prefix. None when no server's
    /// namespace holds it, or two unprefixed servers could.
    pub fn unlisted_tool<'n>(&self, exposed: &'n str) -> Option<(&str, &'n str)> {
        let prefixed = self
            .tool_namespaces
            .iter()
            .filter(|ns| !ns.start.is_empty() && exposed.len() > ns.start.len())
            .filter(|ns| exposed.starts_with(ns.start.as_str()))
            .max_by_key(|ns| ns.start.len());
        if let Some(ns) = prefixed {
            return Some((&ns.server, &exposed[ns.start.len()..]));
        }
        let mut unprefixed = self.tool_namespaces.iter().filter(|ns| ns.start.is_empty());
        match (unprefixed.next(), unprefixed.next()) {
            (Some(ns), None) => Some((&ns.server, exposed)),
            _ => None,
        }
    }

    /// The exposed tool named `exposed`.
    pub fn exposed_tool(&self, exposed: &str) -> Option<&ExposedTool> {
        self.tools.get(*self.tool_index.get(exposed)?)
    }

    /// The exposed name of `server`'s tool `tool`.
    pub fn exposed_tool_name(&self, server: &str, tool: &str) -> Option<&str> {
        let ns = self
            .tool_namespaces
            .iter()
            .find(|ns| &*ns.server == server)?;
        if let Some(t) = self.exposed_tool(&exposed_name(&ns.prefix, tool))
            && t.server() == server
            && t.definition().name() == tool
        {
            return Some(&t.name);
        }
        self.renamed
            .get(&(ns.server.clone(), tool.to_owned()))
            .map(|n| &**n)
    }

    pub fn prompt(&self, exposed: &str) -> Option<&Route> {
        self.prompt_routes.get(exposed)
    }

    /// A URI in mcp-hub's form, `<server>__<uri>` (what its `/mcp` lists; a client
    /// moved from mcp-hub may have kept one): the server and the server's own URI.
    /// mcphub lists resources by their own URIs, which tools' resource links name.
    pub fn resource_alias<'u>(&self, uri: &'u str) -> Option<(&str, &'u str)> {
        if self.resource_routes.contains_key(uri) {
            return None;
        }
        self.resource_prefixes
            .iter()
            .filter(|(p, _)| uri.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(p, server)| (server.as_str(), &uri[p.len()..]))
    }

    /// The servers to try for `uri`, best guess first.
    pub fn resource_servers(&self, uri: &str) -> Vec<String> {
        if let Some(s) = self.resource_routes.get(uri) {
            return vec![s.clone()];
        }
        let mut out: Vec<String> = self
            .template_routes
            .iter()
            .filter(|(lit, _)| !lit.is_empty() && uri.starts_with(lit.as_str()))
            .map(|(_, s)| s.clone())
            .collect();
        for s in &self.resource_servers {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    /// The exposed tool names of one server, in the order the server lists them.
    pub fn tool_names_of(&self, server: &str) -> Vec<&str> {
        self.tools
            .iter()
            .filter(|t| t.server() == server)
            .map(|t| &*t.name)
            .collect()
    }

    pub fn tool_name_set(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.tools.iter().map(|t| &*t.name).collect();
        v.sort_unstable();
        v
    }
}

/// `<prefix>__<name>` (or `name` when the prefix is empty), restricted to
/// `[A-Za-z0-9_.-]` and 64 characters; a name that had to be shortened ends in a hash
/// of the full name so that two long names stay distinct.
pub fn exposed_name(prefix: &str, name: &str) -> String {
    let full = if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}{SEPARATOR}{name}")
    };
    let clean: String = full
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = if clean.is_empty() {
        "_".to_owned()
    } else {
        clean
    };
    if clean.len() <= MAX_NAME_LEN {
        return clean;
    }
    let hash = format!("{:08x}", fnv1a(full.as_bytes()) as u32);
    format!("{}_{hash}", &clean[..MAX_NAME_LEN - 9])
}

/// `wanted`, which is taken, made unique with the first free `_2`, `_3`…
fn unique_name(wanted: &str, taken: impl Fn(&str) -> bool) -> String {
    for n in 2.. {
        let suffix = format!("_{n}");
        let base = if wanted.len() + suffix.len() > MAX_NAME_LEN {
            &wanted[..MAX_NAME_LEN - suffix.len()]
        } else {
            wanted
        };
        let candidate = format!("{base}{suffix}");
        if !taken(&candidate) {
            return candidate;
        }
    }
    unreachable!("the integers are not exhausted")
}

/// Logs and keeps the collision that renamed `server`'s `original` to `exposed`.
fn collided(
    server: &str,
    original: &str,
    wanted: &str,
    exposed: &str,
    kind: &str,
    collisions: &mut Vec<String>,
) {
    let msg = format!(
        "{kind} `{original}` of server `{server}` would be `{wanted}`, which is taken; exposed as `{exposed}`"
    );
    tracing::warn!(
        event = crate::api::events::TOOL_NAME_COLLISION,
        server,
        tool = original,
        exposed,
        "{msg}"
    );
    collisions.push(msg);
}

/// FNV-1a, 64-bit: stable across runs and platforms (names, cache keys).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> OfferedTool {
        serde_json::from_value(serde_json::json!({
            "name": name, "inputSchema": {"type": "object"}
        }))
        .unwrap()
    }

    fn part<'a>(server: &'a str, prefix: &'a str, tools: &[&str]) -> Part<'a> {
        Part {
            server,
            prefix,
            offer: Arc::new(Offer {
                tools: tools.iter().map(|t| tool(t)).collect(),
                ..Offer::default()
            }),
        }
    }

    #[test]
    fn names_are_namespaced_sanitized_and_bounded() {
        assert_eq!(
            exposed_name("github", "create_issue"),
            "github__create_issue"
        );
        assert_eq!(exposed_name("", "echo"), "echo");
        assert_eq!(exposed_name("my server", "do/it"), "my_server__do_it");
        let long = exposed_name("a-very-long-server-name-indeed", &"x".repeat(80));
        assert_eq!(long.len(), MAX_NAME_LEN);
        let other = exposed_name("a-very-long-server-name-indeed", &"x".repeat(81));
        assert_ne!(long, other, "truncated names keep distinct hashes");
    }

    #[test]
    fn a_name_no_server_listed_belongs_to_the_namespace_it_is_in() {
        let c = Catalog::build(&[
            part("git", "git", &["log"]),
            part("git hub", "git hub", &[]),
            part("time", "", &["now"]),
        ]);
        assert_eq!(c.unlisted_tool("git__blame"), Some(("git", "blame")));
        assert_eq!(c.unlisted_tool("git_hub__pr"), Some(("git hub", "pr")));
        assert_eq!(c.unlisted_tool("zone"), Some(("time", "zone")));
        assert_eq!(c.unlisted_tool("git__"), Some(("time", "git__")));
        let two_unprefixed = Catalog::build(&[part("a", "", &[]), part("b", "", &[])]);
        assert_eq!(two_unprefixed.unlisted_tool("zone"), None);
        let all_prefixed = Catalog::build(&[part("git", "git", &["log"])]);
        assert_eq!(all_prefixed.unlisted_tool("blame"), None);
    }

    #[test]
    fn collisions_resolve_deterministically_and_route_correctly() {
        let parts = [part("a", "", &["echo", "x"]), part("b", "", &["echo"])];
        let c = Catalog::build(&parts);
        assert_eq!(c.tool_name_set(), vec!["echo", "echo_2", "x"]);
        assert_eq!(c.tool("echo").unwrap().server, "a");
        let r = c.tool("echo_2").unwrap();
        assert_eq!((r.server, r.name), ("b", "echo"));
        assert_eq!(c.collisions.len(), 1);
        let again = Catalog::build(&parts);
        assert_eq!(again.tool_name_set(), c.tool_name_set());
    }
}

/// Which server each task a 2026-07-28 backend made of a call belongs to, so that the
/// client's `tasks/get`, `tasks/update` and `tasks/cancel` reach it. Bounded: the
/// oldest of [`TASKS_KEPT`] goes first (a client polls a task while it runs, not
/// forever).
#[derive(Debug, Default)]
pub struct TaskRoutes {
    owners: HashMap<String, String>,
    order: std::collections::VecDeque<String>,
}

pub const TASKS_KEPT: usize = 4096;

impl TaskRoutes {
    pub fn record(&mut self, task: &str, server: &str) {
        if self
            .owners
            .insert(task.to_owned(), server.to_owned())
            .is_none()
        {
            self.order.push_back(task.to_owned());
            if self.order.len() > TASKS_KEPT
                && let Some(old) = self.order.pop_front()
            {
                self.owners.remove(&old);
            }
        }
    }

    pub fn owner(&self, task: &str) -> Option<&str> {
        self.owners.get(task).map(String::as_str)
    }
}

#[cfg(test)]
mod task_tests {
    use super::*;

    #[test]
    fn task_routes_remember_the_newest_tasks_only() {
        let mut routes = TaskRoutes::default();
        routes.record("t0", "a");
        for i in 1..=TASKS_KEPT {
            routes.record(&format!("t{i}"), "b");
        }
        assert_eq!(routes.owner("t0"), None, "the oldest went");
        assert_eq!(routes.owner("t1"), Some("b"));
        assert_eq!(routes.owner(&format!("t{TASKS_KEPT}")), Some("b"));
        assert_eq!(routes.order.len(), TASKS_KEPT);
        assert_eq!(routes.owners.len(), TASKS_KEPT);
    }

    #[test]
    fn a_page_makes_its_own_items_only_and_names_the_next() {
        let mut made = 0;
        let (items, next) = page(0..2500, 1000, |i| {
            made += 1;
            i
        });
        assert_eq!(
            (items.first(), items.last(), next),
            (Some(&1000), Some(&1999), Some(2000))
        );
        assert_eq!(made, LIST_PAGE);
        let (last, next) = page(0..2500, 2000, |i| i);
        assert_eq!((last.len(), next), (500, None));
        // A list of exactly one page has no next one.
        assert_eq!(page(0..LIST_PAGE, 0, |i| i).1, None);
    }
}
