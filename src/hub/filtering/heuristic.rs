//! The fast categorizer: keywords in a tool's name, description, schema and server
//! name, weighted, with a confidence that says how clear the winner is.
//!
//! There is no list of known tools here, only vocabulary: for each category the
//! words (and a few product names) that speak for it, with a weight. The text of a
//! tool is split into words (snake_case, camelCase, kebab-case and prose alike),
//! each word is looked up (with light plural/-ing/-ed stripping) in one table,
//! sorted and hashed at compile time, and the weights add up per category, scaled by
//! where the word was found: the tool's name and its server's name count most,
//! the start of the description more than its tail, parameter names more than
//! parameter descriptions. A keyword counts once per field.
//!
//! The same table answers [`categories_for_prompt`]: which categories a task
//! written in plain words needs.

use super::category::{Guess, ToolBrief};
use crate::config::filtering::BUILTIN_CATEGORIES;

const FS: u8 = 0;
const WEB: u8 = 1;
const SEARCH: u8 = 2;
const DB: u8 = 3;
const VCS: u8 = 4;
const DOCKER: u8 = 5;
const CLOUD: u8 = 6;
const DEV: u8 = 7;
const COMM: u8 = 8;
const OTHER: u8 = 9;
const CATS: usize = BUILTIN_CATEGORIES.len();

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// The indices above are positions in `BUILTIN_CATEGORIES`.
const _: () = {
    let names = [
        (FS, "filesystem"),
        (WEB, "web"),
        (SEARCH, "search"),
        (DB, "database"),
        (VCS, "version-control"),
        (DOCKER, "docker"),
        (CLOUD, "cloud"),
        (DEV, "development"),
        (COMM, "communication"),
        (OTHER, "other"),
    ];
    let mut i = 0;
    while i < names.len() {
        assert!(same(BUILTIN_CATEGORIES[names[i].0 as usize], names[i].1));
        i += 1;
    }
};

// ---------------------------------------------------------------------------
// Vocabulary: (word, weight in tenths). A word may appear under several
// categories (e.g. "branch" for git and for database branches); the lookup
// credits each of them. Words are lower case ASCII; the lookup also finds their
// plural, -ing and -ed forms, so only irregular forms are listed.

const V_FILESYSTEM: &[(&str, u8)] = &[
    ("file", 14),
    ("filename", 18),
    ("filepath", 20),
    ("filesystem", 30),
    ("directory", 24),
    ("subdirectory", 24),
    ("dir", 18),
    ("folder", 18),
    ("mkdir", 25),
    ("path", 9),
    ("disk", 14),
    ("local", 4),
    ("symlink", 25),
    ("glob", 14),
    ("ripgrep", 14),
    ("grep", 8),
    ("edit", 6),
    ("overwrite", 8),
    ("append", 5),
    ("rename", 5),
    ("move", 5),
    ("copy", 4),
    ("tree", 4),
    ("pdf", 8),
    ("docx", 14),
    ("xlsx", 14),
    ("excel", 10),
    ("spreadsheet", 8),
    ("txt", 10),
    ("csv", 6),
    ("encoding", 6),
    ("utf", 5),
    ("mime", 5),
    ("absolute", 6),
    ("relative", 4),
    ("tilde", 10),
    ("home", 3),
    ("mount", 3),
    ("line", 3),
    ("metadata", 2),
    ("permission", 3),
    ("modified", 4),
    ("size", 2),
    ("media", 5),
    ("read", 3),
    ("write", 3),
];

const V_WEB: &[(&str, u8)] = &[
    ("web", 10),
    ("website", 24),
    ("webpage", 24),
    ("page", 10),
    ("url", 14),
    ("uri", 6),
    ("http", 12),
    ("https", 10),
    ("html", 18),
    ("markdown", 5),
    ("browser", 25),
    ("browse", 15),
    ("navigate", 20),
    ("navigation", 15),
    ("click", 20),
    ("hover", 20),
    ("scroll", 15),
    ("drag", 12),
    ("keyboard", 12),
    ("press", 8),
    ("screenshot", 20),
    ("viewport", 15),
    ("dom", 15),
    ("selector", 18),
    ("css", 12),
    ("element", 10),
    ("iframe", 15),
    ("dialog", 10),
    ("tab", 8),
    ("form", 6),
    ("fill", 8),
    ("cookie", 12),
    ("playwright", 25),
    ("puppeteer", 25),
    ("chrome", 18),
    ("chromium", 20),
    ("headless", 18),
    ("scrape", 25),
    ("scraper", 25),
    ("scraping", 25),
    ("crawl", 25),
    ("crawler", 25),
    ("fetch", 10),
    ("download", 3),
    ("link", 6),
    ("site", 14),
    ("sitemap", 20),
    ("readable", 8),
    ("readability", 12),
    ("extract", 6),
    ("extraction", 6),
    ("accessibility", 10),
    ("proxy", 6),
    ("robots", 10),
    ("maps", 14),
    ("map", 4),
    ("geocode", 25),
    ("geocoding", 25),
    ("address", 6),
    ("place", 10),
    ("directions", 14),
    ("distance", 6),
    ("elevation", 14),
    ("latitude", 10),
    ("longitude", 10),
    ("coordinates", 8),
    ("location", 5),
    ("nominatim", 20),
    ("openstreetmap", 20),
];

const V_SEARCH: &[(&str, u8)] = &[
    ("search", 9),
    ("engine", 8),
    ("google", 14),
    ("bing", 20),
    ("brave", 16),
    ("duckduckgo", 25),
    ("exa", 14),
    ("tavily", 22),
    ("perplexity", 22),
    ("serper", 20),
    ("searxng", 25),
    ("kagi", 22),
    ("news", 14),
    ("research", 10),
    ("researcher", 10),
    ("paper", 12),
    ("arxiv", 25),
    ("scholar", 20),
    ("academic", 15),
    ("citation", 14),
    ("wikipedia", 25),
    ("encyclopedia", 20),
    ("article", 9),
    ("snippet", 6),
    ("result", 4),
    ("ranked", 6),
    ("relevance", 6),
    ("recency", 10),
    ("freshness", 12),
    ("safesearch", 25),
    ("answer", 6),
    ("factual", 8),
    ("fact", 5),
    ("topic", 6),
    ("knowledge", 4),
    ("retrieve", 3),
    ("retrieval", 6),
    ("query", 3),
    ("suggestion", 5),
    ("internet", 10),
    ("online", 6),
    ("business", 6),
];

const V_DATABASE: &[(&str, u8)] = &[
    ("database", 25),
    ("db", 20),
    ("sql", 28),
    ("nosql", 25),
    ("query", 7),
    ("table", 14),
    ("column", 14),
    ("row", 10),
    ("record", 6),
    ("schema", 5),
    ("postgres", 30),
    ("postgresql", 30),
    ("psql", 25),
    ("mysql", 30),
    ("mariadb", 30),
    ("sqlite", 30),
    ("mongodb", 30),
    ("mongo", 25),
    ("redis", 30),
    ("neon", 18),
    ("supabase", 10),
    ("clickhouse", 30),
    ("elasticsearch", 25),
    ("opensearch", 25),
    ("dynamodb", 30),
    ("dynamo", 25),
    ("cassandra", 30),
    ("snowflake", 20),
    ("bigquery", 25),
    ("qdrant", 25),
    ("pinecone", 25),
    ("d1", 12),
    ("kv", 22),
    ("collection", 12),
    ("document", 4),
    ("index", 7),
    ("indices", 10),
    ("insert", 12),
    ("upsert", 14),
    ("aggregate", 10),
    ("aggregation", 10),
    ("migration", 12),
    ("ddl", 25),
    ("dml", 25),
    ("transaction", 12),
    ("statement", 5),
    ("key", 5),
    ("value", 3),
    ("hash", 6),
    ("ttl", 12),
    ("expire", 8),
    ("expiration", 6),
    ("cache", 6),
    ("vector", 8),
    ("embedding", 4),
    ("entity", 10),
    ("entities", 12),
    ("relation", 10),
    ("observation", 12),
    ("graph", 6),
    ("node", 3),
    ("memory", 8),
    ("connection", 5),
    ("bson", 25),
    ("ejson", 20),
    ("cursor", 3),
    ("field", 2),
    ("drop", 6),
    ("truncate", 5),
    ("join", 5),
    ("partition", 5),
    ("primary", 4),
    ("data", 3),
    ("dataset", 4),
    ("modeling", 6),
];

const V_VCS: &[(&str, u8)] = &[
    ("git", 30),
    ("github", 30),
    ("gitlab", 30),
    ("bitbucket", 30),
    ("gitea", 30),
    ("repo", 25),
    ("repository", 25),
    ("commit", 25),
    ("branch", 14),
    ("merge", 14),
    ("pull", 8),
    ("pr", 25),
    ("prs", 25),
    ("diff", 14),
    ("staged", 25),
    ("unstaged", 25),
    ("stage", 8),
    ("checkout", 20),
    ("rebase", 12),
    ("cherry", 12),
    ("tag", 5),
    ("release", 6),
    ("fork", 20),
    ("star", 8),
    ("starred", 14),
    ("gist", 25),
    ("blame", 25),
    ("sha", 14),
    ("ref", 10),
    ("head", 4),
    ("owner", 9),
    ("review", 10),
    ("reviewer", 14),
    ("issue", 9),
    ("milestone", 14),
    ("label", 4),
    ("assignee", 10),
    ("collaborator", 14),
    ("dependabot", 30),
    ("copilot", 12),
    ("upstream", 10),
    ("origin", 6),
    ("clone", 14),
    ("push", 6),
    ("discussion", 6),
    ("codeowners", 25),
    ("changeset", 14),
    ("revision", 4),
    ("hub", 2),
];

const V_DOCKER: &[(&str, u8)] = &[
    ("docker", 30),
    ("dockerfile", 30),
    ("container", 25),
    ("containerized", 15),
    ("image", 7),
    ("compose", 22),
    ("volume", 14),
    ("podman", 30),
    ("registry", 10),
    ("entrypoint", 18),
    ("prune", 18),
    ("daemon", 8),
    ("swarm", 18),
    ("detach", 10),
    ("port", 4),
    ("network", 4),
    ("bridge", 6),
    ("exec", 5),
    ("finch", 15),
    ("buildx", 25),
];

const V_CLOUD: &[(&str, u8)] = &[
    ("cloud", 18),
    ("aws", 25),
    ("amazon", 15),
    ("azure", 25),
    ("gcp", 25),
    ("gcloud", 25),
    ("cloudflare", 25),
    ("vercel", 30),
    ("heroku", 30),
    ("netlify", 30),
    ("supabase", 12),
    ("fly", 4),
    ("kubernetes", 30),
    ("k8s", 30),
    ("kubectl", 30),
    ("kube", 20),
    ("helm", 25),
    ("pod", 22),
    ("namespace", 10),
    ("cluster", 12),
    ("node", 3),
    ("deployment", 14),
    ("deploy", 14),
    ("rollout", 18),
    ("replica", 14),
    ("ingress", 22),
    ("manifest", 8),
    ("eks", 30),
    ("ecs", 22),
    ("ec2", 25),
    ("lambda", 15),
    ("serverless", 18),
    ("cloudwatch", 30),
    ("cloudformation", 30),
    ("cdk", 12),
    ("terraform", 28),
    ("iam", 20),
    ("vpc", 22),
    ("arn", 18),
    ("s3", 22),
    ("r2", 12),
    ("bucket", 14),
    ("region", 12),
    ("zone", 3),
    ("dns", 18),
    ("cdn", 18),
    ("worker", 10),
    ("edge", 8),
    ("infrastructure", 18),
    ("provision", 10),
    ("instance", 6),
    ("grafana", 30),
    ("prometheus", 30),
    ("promql", 30),
    ("loki", 30),
    ("logql", 30),
    ("tempo", 25),
    ("traceql", 30),
    ("pyroscope", 30),
    ("alloy", 12),
    ("datadog", 30),
    ("sentry", 30),
    ("observability", 25),
    ("monitoring", 18),
    ("monitor", 6),
    ("metric", 14),
    ("alert", 10),
    ("alerting", 18),
    ("alarm", 14),
    ("dashboard", 14),
    ("panel", 8),
    ("datasource", 20),
    ("incident", 14),
    ("oncall", 20),
    ("trace", 10),
    ("tracing", 14),
    ("span", 8),
    ("telemetry", 18),
    ("log", 6),
    ("insight", 4),
    ("uptime", 14),
    ("latency", 8),
    ("dsn", 20),
    ("replay", 6),
    ("profiling", 10),
    ("quota", 10),
    ("billing", 14),
    ("cost", 8),
    ("pricing", 10),
    ("subscription", 3),
    ("organization", 3),
    ("secret", 5),
    ("environment", 2),
    ("resource", 4),
    ("service", 3),
    ("hosting", 12),
    ("queue", 8),
    ("analytics", 6),
    ("scale", 8),
    ("context", 2),
    ("slug", 3),
    ("silence", 6),
];

const V_DEV: &[(&str, u8)] = &[
    ("code", 9),
    ("source", 3),
    ("script", 8),
    ("python", 14),
    ("javascript", 10),
    ("typescript", 14),
    ("node", 2),
    ("compile", 18),
    ("compiler", 18),
    ("build", 5),
    ("test", 14),
    ("testing", 14),
    ("flaky", 25),
    ("coverage", 12),
    ("debug", 12),
    ("debugger", 20),
    ("lint", 25),
    ("linter", 25),
    ("eslint", 30),
    ("refactor", 18),
    ("syntax", 8),
    ("ast", 12),
    ("library", 10),
    ("sdk", 6),
    ("api", 2),
    ("package", 9),
    ("npm", 14),
    ("pip", 14),
    ("dependency", 6),
    ("terminal", 18),
    ("shell", 16),
    ("command", 6),
    ("process", 12),
    ("pid", 18),
    ("repl", 25),
    ("stdin", 14),
    ("stdout", 14),
    ("interpreter", 20),
    ("sandbox", 10),
    ("execute", 4),
    ("run", 3),
    ("program", 6),
    ("programming", 14),
    ("thinking", 20),
    ("thought", 20),
    ("reasoning", 8),
    ("hypothesis", 14),
    ("reflect", 8),
    ("ci", 20),
    ("circleci", 30),
    ("jenkins", 30),
    ("pipeline", 8),
    ("job", 5),
    ("artifact", 8),
    ("workflow", 4),
    ("rollback", 5),
    ("benchmark", 14),
    ("profiler", 12),
    ("stacktrace", 14),
    ("exception", 8),
    ("bug", 8),
    ("fix", 4),
    ("semgrep", 30),
    ("vulnerability", 4),
    ("notebook", 18),
    ("jupyter", 30),
    ("kernel", 8),
    ("ide", 18),
    ("vscode", 25),
    ("developer", 6),
    ("types", 4),
    ("function", 3),
    ("virtualenv", 20),
    ("venv", 20),
    ("conda", 20),
    ("environment", 3),
    ("session", 3),
];

const V_COMM: &[(&str, u8)] = &[
    ("message", 14),
    ("messaging", 20),
    ("chat", 20),
    ("channel", 14),
    ("slack", 30),
    ("discord", 30),
    ("telegram", 30),
    ("whatsapp", 30),
    ("signal", 6),
    ("teams", 4),
    ("email", 25),
    ("mail", 18),
    ("gmail", 30),
    ("outlook", 25),
    ("inbox", 25),
    ("imap", 30),
    ("smtp", 30),
    ("sms", 25),
    ("twilio", 25),
    ("send", 8),
    ("reply", 14),
    ("thread", 10),
    ("reaction", 12),
    ("emoji", 15),
    ("dm", 18),
    ("recipient", 20),
    ("subject", 6),
    ("cc", 14),
    ("bcc", 25),
    ("attachment", 8),
    ("draft", 8),
    ("forum", 14),
    ("post", 5),
    ("webhook", 8),
    ("mention", 10),
    ("contact", 10),
    ("conversation", 14),
    ("dialog", 8),
    ("guild", 20),
    ("spam", 14),
    ("unread", 14),
    ("notify", 6),
    ("announcement", 10),
    ("avatar", 6),
    ("username", 4),
    ("user", 2),
    ("workspace", 2),
    ("phone", 8),
];

const V_OTHER: &[(&str, u8)] = &[
    ("time", 10),
    ("timezone", 30),
    ("clock", 14),
    ("date", 5),
    ("utc", 12),
    ("iana", 20),
    ("dst", 14),
    ("weather", 30),
    ("forecast", 24),
    ("temperature", 18),
    ("precipitation", 20),
    ("wind", 10),
    ("calculate", 14),
    ("calculator", 30),
    ("math", 20),
    ("mathematical", 20),
    ("arithmetic", 25),
    ("expression", 6),
    ("sum", 8),
    ("echo", 15),
    ("random", 6),
    ("demo", 12),
    ("demonstrate", 15),
    ("simulated", 10),
    ("simulate", 10),
    ("sample", 4),
    ("task", 8),
    ("todo", 15),
    ("planning", 8),
    ("approve", 8),
    ("approval", 8),
    ("progress", 5),
    ("feedback", 6),
    ("translate", 14),
    ("translation", 14),
    ("currency", 15),
    ("art", 8),
    ("generate", 1),
    ("logo", 8),
    ("tiny", 3),
    ("config", 3),
    ("configuration", 3),
    ("usage", 3),
    ("ping", 8),
    ("insight", 3),
    ("memo", 10),
];

const VOCAB: [&[(&str, u8)]; CATS] = {
    let mut v: [&[(&str, u8)]; CATS] = [&[]; CATS];
    v[FS as usize] = V_FILESYSTEM;
    v[WEB as usize] = V_WEB;
    v[SEARCH as usize] = V_SEARCH;
    v[DB as usize] = V_DATABASE;
    v[VCS as usize] = V_VCS;
    v[DOCKER as usize] = V_DOCKER;
    v[CLOUD as usize] = V_CLOUD;
    v[DEV as usize] = V_DEV;
    v[COMM as usize] = V_COMM;
    v[OTHER as usize] = V_OTHER;
    v
};

// ---------------------------------------------------------------------------
// The table: every (word, category, weight), sorted by word at compile time.

#[derive(Clone, Copy)]
struct Entry {
    word: &'static str,
    cat: u8,
    weight: u8,
}

const fn vocab_len() -> usize {
    let mut n = 0;
    let mut c = 0;
    while c < CATS {
        n += VOCAB[c].len();
        c += 1;
    }
    n
}

const LEN: usize = vocab_len();

/// `a < b`, bytewise (the order `[u8]` has at run time).
const fn less(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

const fn min(a: usize, b: usize) -> usize {
    if a < b { a } else { b }
}

const fn build_table() -> [Entry; LEN] {
    let blank = Entry {
        word: "",
        cat: 0,
        weight: 0,
    };
    let mut out = [blank; LEN];
    let mut k = 0;
    let mut c = 0;
    while c < CATS {
        let list = VOCAB[c];
        let mut i = 0;
        while i < list.len() {
            assert!(list[i].0.len() >= 2, "keywords have two bytes at least");
            out[k] = Entry {
                word: list[i].0,
                cat: c as u8,
                weight: list[i].1,
            };
            k += 1;
            i += 1;
        }
        c += 1;
    }
    // Bottom-up merge sort (stable).
    let mut buf = [blank; LEN];
    let mut width = 1;
    while width < LEN {
        let mut lo = 0;
        while lo < LEN {
            let mid = min(lo + width, LEN);
            let hi = min(lo + 2 * width, LEN);
            let (mut i, mut j, mut t) = (lo, mid, lo);
            while t < hi {
                if i < mid && (j >= hi || !less(out[j].word.as_bytes(), out[i].word.as_bytes())) {
                    buf[t] = out[i];
                    i += 1;
                } else {
                    buf[t] = out[j];
                    j += 1;
                }
                t += 1;
            }
            lo = hi;
        }
        out = buf;
        width *= 2;
    }
    out
}

static TABLE: [Entry; LEN] = build_table();

/// The class of a keyword byte: 0..26 for letters, 26..36 for digits, 36 otherwise.
const fn class(b: u8) -> usize {
    match b {
        b'a'..=b'z' => (b - b'a') as usize,
        b'0'..=b'9' => 26 + (b - b'0') as usize,
        _ => 36,
    }
}

const PAIR_BITS: usize = 37 * 37;

/// Which two-byte beginnings some keyword has: most words of a text are no keyword
/// and are turned away here, stems and all, without a search.
static PAIRS: [u64; PAIR_BITS.div_ceil(64)] = {
    let mut bits = [0u64; PAIR_BITS.div_ceil(64)];
    let mut i = 0;
    while i < LEN {
        let w = TABLE[i].word.as_bytes();
        let bit = class(w[0]) * 37 + class(w[1]);
        bits[bit / 64] |= 1 << (bit % 64);
        i += 1;
    }
    bits
};

const fn fnv1a(w: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < w.len() {
        h ^= w[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h as usize
}

const SLOTS: usize = 4096;
const _: () = assert!(
    LEN * 2 < SLOTS,
    "the vocabulary outgrew its hash table: raise SLOTS"
);

/// An open-addressing hash of the table's distinct words: each slot holds one
/// plus the index of the first entry of its word (zero: empty).
static HASH: [u16; SLOTS] = {
    let mut slots = [0u16; SLOTS];
    let mut i = 0;
    while i < LEN {
        if i == 0 || !same(TABLE[i - 1].word, TABLE[i].word) {
            let mut slot = fnv1a(TABLE[i].word.as_bytes()) % SLOTS;
            while slots[slot] != 0 {
                slot = (slot + 1) % SLOTS;
            }
            slots[slot] = (i + 1) as u16;
        }
        i += 1;
    }
    slots
};

/// Where the entries for exactly `w` are in the table, if it has any.
fn entries(w: &[u8]) -> Option<(usize, &'static [Entry])> {
    let mut slot = fnv1a(w) % SLOTS;
    loop {
        let start = usize::from(HASH[slot]).checked_sub(1)?;
        if TABLE[start].word.as_bytes() == w {
            let mut end = start + 1;
            while end < LEN && TABLE[end].word.as_bytes() == w {
                end += 1;
            }
            return Some((start, &TABLE[start..end]));
        }
        slot = (slot + 1) % SLOTS;
    }
}

/// The entries for a lower-case word or for its stem: plural, -ing and -ed forms
/// are tried when the word itself is unknown. The index of the first entry comes
/// along, so callers can remember which keywords they already counted.
fn lookup(w: &[u8]) -> (usize, &'static [Entry]) {
    const MAXW: usize = 32;
    let n = w.len();
    if n < 2 {
        return (0, &[]);
    }
    let pair = class(w[0]) * 37 + class(w[1]);
    if PAIRS[pair / 64] & (1 << (pair % 64)) == 0 {
        return (0, &[]);
    }
    let hit = entries;
    if let Some(h) = hit(w) {
        return h;
    }
    if !(4..=MAXW).contains(&n) {
        return (0, &[]);
    }
    let ends = |suffix: &[u8]| w.ends_with(suffix);
    let mut buf = [0u8; MAXW];
    // plural: files, branches, entities
    if ends(b"ies") && n > 4 {
        buf[..n - 3].copy_from_slice(&w[..n - 3]);
        buf[n - 3] = b'y';
        if let Some(h) = hit(&buf[..n - 2]) {
            return h;
        }
    }
    if ends(b"s") && !ends(b"ss") && !ends(b"us") && !ends(b"is") {
        if let Some(h) = hit(&w[..n - 1]) {
            return h;
        }
        if ends(b"es")
            && let Some(h) = hit(&w[..n - 2])
        {
            return h;
        }
    }
    // -ing: crawling, scraping (scrape), running is not worth it
    if ends(b"ing") && n > 5 {
        let stem = &w[..n - 3];
        if let Some(h) = hit(stem) {
            return h;
        }
        buf[..n - 3].copy_from_slice(stem);
        buf[n - 3] = b'e';
        if let Some(h) = hit(&buf[..n - 2]) {
            return h;
        }
    }
    // -ed: crawled, created (create)
    if ends(b"ed") && n > 4 {
        if let Some(h) = hit(&w[..n - 2]) {
            return h;
        }
        if let Some(h) = hit(&w[..n - 1]) {
            return h;
        }
    }
    (0, &[])
}

// ---------------------------------------------------------------------------
// Words: ASCII letters and digits; a change from lower to upper case also splits
// ("getFileInfo", "HTTPServer" → "HTTP", "Server"). Anything else separates.

struct Words<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Words<'a> {
    fn new(s: &'a str) -> Self {
        Words {
            s: s.as_bytes(),
            i: 0,
        }
    }
}

impl<'a> Iterator for Words<'a> {
    /// The byte range of the word in the text (always on ASCII boundaries).
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let s = self.s;
        while self.i < s.len() && !s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        if self.i >= s.len() {
            return None;
        }
        let start = self.i;
        self.i += 1;
        while self.i < s.len() {
            let b = s[self.i];
            if !b.is_ascii_alphanumeric() {
                break;
            }
            let prev = s[self.i - 1];
            if b.is_ascii_uppercase() {
                if prev.is_ascii_lowercase() {
                    break;
                }
                // "HTTPServer": the last capital starts the next word.
                if prev.is_ascii_uppercase()
                    && self.i + 1 < s.len()
                    && s[self.i + 1].is_ascii_lowercase()
                {
                    break;
                }
            }
            self.i += 1;
        }
        Some((start, self.i))
    }
}

/// Lower-cases `w` into `buf`; `None` when it is too long to be a keyword.
fn lower<'b>(w: &[u8], buf: &'b mut [u8; 32]) -> Option<&'b [u8]> {
    if w.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(w) {
        *d = s.to_ascii_lowercase();
    }
    Some(&buf[..w.len()])
}

/// Which table entries a field already counted.
struct Seen([u64; LEN.div_ceil(64)]);

impl Seen {
    fn new() -> Self {
        Seen([0; LEN.div_ceil(64)])
    }
    /// Marks `i`; true if it was not marked yet.
    fn mark(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let fresh = self.0[w] & b == 0;
        self.0[w] |= b;
        fresh
    }
    fn clear(&mut self) {
        self.0 = [0; LEN.div_ceil(64)];
    }
}

/// Calls `f(position, word as written, its entries)` for each vocabulary word among
/// the first `max_words` words of `text`, once per word across one `seen`.
fn for_each_keyword<'t>(
    text: &'t str,
    max_words: usize,
    seen: &mut Seen,
    mut f: impl FnMut(usize, &'t str, &'static [Entry]),
) {
    let mut buf = [0u8; 32];
    for (n, (a, b)) in Words::new(text).enumerate().take(max_words) {
        let Some(w) = lower(&text.as_bytes()[a..b], &mut buf) else {
            continue;
        };
        if w.len() < 2 {
            continue;
        }
        let (first, found) = lookup(w);
        if found.is_empty() || !seen.mark(first) {
            continue;
        }
        f(n, &text[a..b], found);
    }
}

/// Adds the keywords of `text` to `scores`. The first `lead` words weigh `weight`,
/// the next ones less, and nothing past `max_words` counts.
fn scan(
    text: &str,
    weight: f32,
    lead: usize,
    max_words: usize,
    seen: &mut Seen,
    scores: &mut [f32; CATS],
) {
    for_each_keyword(text, max_words, seen, |n, _, found| {
        let factor = if n < lead {
            weight
        } else if n < lead * 4 {
            weight * 0.6
        } else {
            weight * 0.3
        };
        for e in found {
            scores[e.cat as usize] += f32::from(e.weight) / 10.0 * factor;
        }
    });
}

/// Field weights.
const W_NAME: f32 = 3.0;
const W_SERVER: f32 = 2.0;
const W_DESC: f32 = 1.0;
const W_PARAM: f32 = 1.2;
const W_PARAM_DESC: f32 = 0.4;
/// Below this much evidence the winner is not trusted: `other`, low confidence.
const MIN_EVIDENCE: f32 = 1.2;

/// The per-category scores of `tool`.
fn scores(tool: &ToolBrief) -> [f32; CATS] {
    let mut scores = [0f32; CATS];
    let mut seen = Seen::new();
    scan(&tool.name, W_NAME, 16, 16, &mut seen, &mut scores);
    seen.clear();
    scan(&tool.server, W_SERVER, 8, 8, &mut seen, &mut scores);
    seen.clear();
    scan(&tool.description, W_DESC, 16, 320, &mut seen, &mut scores);
    if let Some(props) = tool
        .input_schema
        .get("properties")
        .and_then(|p| p.as_object())
    {
        let mut seen_names = Seen::new();
        seen.clear();
        for (name, prop) in props.iter().take(48) {
            scan(name, W_PARAM, 8, 8, &mut seen_names, &mut scores);
            if let Some(d) = prop.get("description").and_then(|d| d.as_str()) {
                scan(d, W_PARAM_DESC, 24, 48, &mut seen, &mut scores);
            }
        }
    }
    scores
}

/// The category of `tool`. Never fails; an unclear tool is `other` with a low
/// confidence (the LLM, when configured, gets those).
pub fn guess(tool: &ToolBrief) -> Guess {
    let scores = scores(tool);
    let (mut best, mut best_score, mut second_score) = (OTHER as usize, 0f32, 0f32);
    for (c, &s) in scores.iter().enumerate() {
        if s > best_score {
            second_score = best_score;
            (best, best_score) = (c, s);
        } else if s > second_score {
            second_score = s;
        }
    }
    if best_score < MIN_EVIDENCE {
        return Guess {
            category: "other".into(),
            confidence: (0.1 * best_score / MIN_EVIDENCE).clamp(0.0, 0.1),
        };
    }
    // How far ahead the winner is, times how much evidence there is at all.
    let margin = (best_score - second_score) / best_score;
    let strength = best_score / (best_score + 3.0);
    let confidence = (margin.sqrt() * strength * 1.15).clamp(0.0, 1.0);
    Guess {
        category: BUILTIN_CATEGORIES[best].to_string(),
        confidence,
    }
}

/// For a task described in plain words, the categories it needs with a short
/// reason naming the words that matched (`"repo", "PR" → version-control`), best
/// first, at most 4; empty when nothing matched.
pub fn categories_for_prompt(prompt: &str) -> Vec<(String, String)> {
    const MAX_WORDS_SHOWN: usize = 4;
    const THRESHOLD: f32 = 1.0;
    let mut scores = [0f32; CATS];
    let mut words: [[&str; MAX_WORDS_SHOWN]; CATS] = [[""; MAX_WORDS_SHOWN]; CATS];
    let mut counts = [0usize; CATS];
    let mut seen = Seen::new();
    // A prompt is prose: every word weighs the same, up to a generous length.
    for_each_keyword(prompt, 2000, &mut seen, |_, original, found| {
        for e in found {
            let c = e.cat as usize;
            scores[c] += f32::from(e.weight) / 10.0;
            if counts[c] < MAX_WORDS_SHOWN
                && !words[c][..counts[c]]
                    .iter()
                    .any(|seen| seen.eq_ignore_ascii_case(original))
            {
                words[c][counts[c]] = original;
                counts[c] += 1;
            }
        }
    });
    let mut order: Vec<usize> = (0..CATS).filter(|&c| scores[c] >= THRESHOLD).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(4);
    order
        .into_iter()
        .map(|c| {
            let mut reason = String::new();
            for (i, w) in words[c][..counts[c]].iter().enumerate() {
                if i > 0 {
                    reason.push_str(", ");
                }
                reason.push('"');
                reason.push_str(w);
                reason.push('"');
            }
            reason.push_str(" → ");
            reason.push_str(BUILTIN_CATEGORIES[c]);
            (BUILTIN_CATEGORIES[c].to_string(), reason)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn brief(server: &str, name: &str, description: &str, schema: Value) -> ToolBrief {
        ToolBrief {
            server: server.into(),
            name: name.into(),
            description: description.into(),
            input_schema: schema,
        }
    }

    #[derive(serde::Deserialize)]
    struct Labelled {
        #[serde(flatten)]
        tool: ToolBrief,
        category: String,
    }

    fn dataset() -> Vec<Labelled> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/tool-categories.json"
        );
        let text = std::fs::read_to_string(path).expect("the labelled dataset");
        serde_json::from_str(&text).expect("the labelled dataset parses")
    }

    fn accuracy(set: &[Labelled], neutral_server: bool) -> (f64, Vec<(String, String, Guess)>) {
        let mut right = 0;
        let mut wrong = Vec::new();
        for l in set {
            let mut t = l.tool.clone();
            if neutral_server {
                t.server = "s".into();
            }
            let g = guess(&t);
            if g.category == l.category {
                right += 1;
            } else {
                wrong.push((
                    format!("{}/{}", l.tool.server, l.tool.name),
                    l.category.clone(),
                    g,
                ));
            }
        }
        (right as f64 / set.len() as f64, wrong)
    }

    #[test]
    fn the_table_is_sorted_and_has_no_duplicate() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].word <= pair[1].word,
                "{} > {}",
                pair[0].word,
                pair[1].word
            );
            assert!(
                !(pair[0].word == pair[1].word && pair[0].cat == pair[1].cat),
                "{} twice under {}",
                pair[0].word,
                BUILTIN_CATEGORIES[pair[0].cat as usize]
            );
        }
        for e in &TABLE {
            assert!(
                e.word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{:?} is not a lower-case word",
                e.word
            );
        }
    }

    #[test]
    fn words_split_every_case_style() {
        let split = |s: &str| {
            Words::new(s)
                .map(|(a, b)| s[a..b].to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(split("get_file_info"), ["get", "file", "info"]);
        assert_eq!(split("getFileInfo"), ["get", "File", "Info"]);
        assert_eq!(split("HTTPServer-list"), ["HTTP", "Server", "list"]);
        assert_eq!(split("r2_list_buckets"), ["r2", "list", "buckets"]);
        assert_eq!(split("  é—ü "), Vec::<String>::new());
    }

    #[test]
    fn stems_are_found() {
        assert!(!lookup(b"directories").1.is_empty());
        assert!(!lookup(b"branches").1.is_empty());
        assert!(!lookup(b"crawling").1.is_empty());
        assert!(!lookup(b"scraping").1.is_empty());
        assert!(!lookup(b"containers").1.is_empty());
        assert!(lookup(b"the").1.is_empty());
    }

    #[test]
    fn accuracy_on_the_labelled_set() {
        let set = dataset();
        assert!(set.len() >= 320, "only {} labelled tools", set.len());
        for l in &set {
            assert!(
                BUILTIN_CATEGORIES.contains(&l.category.as_str()),
                "{}/{}: {} is not a builtin category",
                l.tool.server,
                l.tool.name,
                l.category
            );
        }
        let (acc, wrong) = accuracy(&set, false);
        let (neutral, _) = accuracy(&set, true);

        // Per category precision / recall.
        let mut per = String::new();
        for cat in BUILTIN_CATEGORIES {
            let mut tp = 0;
            let mut guessed = 0;
            let mut actual = 0;
            for l in &set {
                let g = guess(&l.tool);
                if g.category == cat {
                    guessed += 1;
                }
                if l.category == cat {
                    actual += 1;
                    if g.category == cat {
                        tp += 1;
                    }
                }
            }
            let p = if guessed == 0 {
                1.0
            } else {
                tp as f64 / guessed as f64
            };
            let r = if actual == 0 {
                1.0
            } else {
                tp as f64 / actual as f64
            };
            per.push_str(&format!(
                "  {cat:<16} n={actual:<4} precision={p:.2} recall={r:.2}\n"
            ));
        }
        // Confident vs unsure.
        let (mut conf_n, mut conf_ok, mut low_n, mut low_ok) = (0, 0, 0, 0);
        for l in &set {
            let g = guess(&l.tool);
            let ok = g.category == l.category;
            if g.confidence >= 0.6 {
                conf_n += 1;
                conf_ok += usize::from(ok);
            } else {
                low_n += 1;
                low_ok += usize::from(ok);
            }
        }
        let ratio = |ok: usize, n: usize| if n == 0 { 1.0 } else { ok as f64 / n as f64 };
        let conf_acc = ratio(conf_ok, conf_n);
        let low_acc = ratio(low_ok, low_n);
        eprintln!(
            "heuristic on {} labelled tools: accuracy {:.3}; with every server named \"s\": {:.3}\n\
             confidence >= 0.6: {} tools, accuracy {:.3}; below: {} tools, accuracy {:.3}\n{}",
            set.len(),
            acc,
            neutral,
            conf_n,
            conf_acc,
            low_n,
            low_acc,
            per
        );
        let listing = wrong
            .iter()
            .map(|(t, want, g)| {
                format!(
                    "  {t}: labelled {want}, guessed {} ({:.2})",
                    g.category, g.confidence
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        if std::env::var_os("HEURISTIC_SHOW_MISSES").is_some() {
            eprintln!("misclassified:\n{listing}");
        }
        assert!(
            acc >= 0.85,
            "accuracy {acc:.3} < 0.85; misclassified:\n{listing}"
        );
        assert!(
            neutral >= 0.70,
            "accuracy without server names {neutral:.3} < 0.70"
        );
        assert!(
            conf_acc >= acc,
            "confident guesses ({conf_acc:.3}) are less accurate than all ({acc:.3})"
        );
    }

    #[test]
    fn an_empty_tool_is_other_and_unsure() {
        let g = guess(&brief("", "", "", Value::Null));
        assert_eq!(g.category, "other");
        assert!(g.confidence < 0.3, "{g:?}");
    }

    #[test]
    fn read_file_with_a_path_is_filesystem() {
        let g = guess(&brief(
            "tools",
            "read_file",
            "Read the complete contents of a file.",
            json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        ));
        assert_eq!(g.category, "filesystem", "{g:?}");
        assert!(g.confidence > 0.3, "{g:?}");
    }

    #[test]
    fn a_prompt_about_a_postgres_table_needs_the_database_first() {
        let got = categories_for_prompt("query the orders table in postgres");
        assert_eq!(
            got.first().map(|(c, _)| c.as_str()),
            Some("database"),
            "{got:?}"
        );
        assert!(got[0].1.contains("\"postgres\""), "{got:?}");
        assert!(got[0].1.ends_with("→ database"), "{got:?}");
    }

    #[test]
    fn a_prompt_about_a_repo_and_a_pr() {
        let got = categories_for_prompt("find the failing test in my repo and open a PR");
        let cats: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(cats.first(), Some(&"version-control"), "{got:?}");
        assert!(cats.contains(&"development"), "{got:?}");
        assert_eq!(got[0].1, "\"repo\", \"PR\" → version-control");
        assert!(categories_for_prompt("hello there").is_empty());
        assert!(categories_for_prompt("").is_empty());
        assert!(got.len() <= 4);
    }

    #[test]
    fn garbage_does_not_panic() {
        let huge = "docker ".repeat(200_000) + &"é".repeat(100_000);
        let odd = "\u{0}\u{ffff}aB_c-D😀😀x".repeat(1000);
        let long_word = "a".repeat(10_000) + "ies";
        for schema in [
            Value::Null,
            json!(42),
            json!("properties"),
            json!([1, 2, 3]),
            json!({"properties": 7}),
            json!({"properties": {"x": 1, "y": {"description": 5}, "": {"description": "file"}}}),
        ] {
            for text in [
                huge.as_str(),
                odd.as_str(),
                long_word.as_str(),
                "",
                "s",
                "ies",
                "ing",
                "ed",
            ] {
                let g = guess(&brief(text, text, text, schema.clone()));
                assert!(BUILTIN_CATEGORIES.contains(&g.category.as_str()));
                assert!((0.0..=1.0).contains(&g.confidence), "{g:?}");
                let p = categories_for_prompt(text);
                assert!(p.len() <= 4);
            }
        }
        assert_eq!(guess(&brief("", &huge, "", Value::Null)).category, "docker");
    }
}
