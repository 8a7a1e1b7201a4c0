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

mod table;
mod vocabulary;

use super::category::{Guess, ToolBrief};
use crate::config::filtering::BUILTIN_CATEGORIES;
use crate::mcp::offer::{PARAMS_READ, Param};
use table::{Entry, LEN, MAX_WORD, lookup};
use vocabulary::{CATS, OTHER};

// ---------------------------------------------------------------------------
// Words: ASCII letters and digits; a change from lower to upper case also splits
// ("getFileInfo", "HTTPServer" → "HTTP", "Server"). Anything else separates.

/// What a byte is to the word splitter.
const SEPARATOR: u8 = 0;
const LOWER: u8 = 1;
const UPPER: u8 = 2;
const DIGIT: u8 = 3;

/// Each byte's class, read once per byte: the splitter runs over every word of
/// 20,000 descriptions when a hundred servers start, and one table read per byte
/// in place of several range tests made the whole guess about a seventh faster on
/// the bench's tools.
static CLASS: [u8; 256] = {
    let mut t = [SEPARATOR; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b'a'..=b'z' => LOWER,
            b'A'..=b'Z' => UPPER,
            b'0'..=b'9' => DIGIT,
            _ => SEPARATOR,
        };
        b += 1;
    }
    t
};

/// Calls `f(position, byte range, the word in lower case)` for each of the first
/// `max_words` words of `text`; the lower-case form is `None` for a word longer than
/// any keyword. Splitting and lower-casing are one pass over the bytes.
fn each_word(
    text: &str,
    max_words: usize,
    mut f: impl FnMut(usize, std::ops::Range<usize>, Option<&[u8]>),
) {
    let s = text.as_bytes();
    let class = |i: usize| CLASS[usize::from(s[i])];
    let mut buf = [0u8; MAX_WORD];
    let mut i = 0;
    for n in 0..max_words {
        while i < s.len() && class(i) == SEPARATOR {
            i += 1;
        }
        if i >= s.len() {
            return;
        }
        let start = i;
        let mut prev = class(i);
        buf[0] = s[i].to_ascii_lowercase();
        i += 1;
        while i < s.len() {
            let c = class(i);
            if c == SEPARATOR
                || (c == UPPER
                    // "HTTPServer": the last capital starts the next word.
                    && (prev == LOWER
                        || (prev == UPPER && i + 1 < s.len() && class(i + 1) == LOWER)))
            {
                break;
            }
            if let Some(d) = buf.get_mut(i - start) {
                *d = s[i].to_ascii_lowercase();
            }
            prev = c;
            i += 1;
        }
        let len = i - start;
        f(n, start..i, (len <= MAX_WORD).then(|| &buf[..len]));
    }
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
    each_word(text, max_words, |n, range, lower| {
        let Some(w) = lower.filter(|w| w.len() >= 2) else {
            return;
        };
        let (first, found) = lookup(w);
        if !found.is_empty() && seen.mark(first) {
            f(n, &text[range], found);
        }
    });
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
fn scores(tool: &ToolText<'_>) -> [f32; CATS] {
    let mut scores = [0f32; CATS];
    let mut seen = Seen::new();
    scan(tool.name, W_NAME, 16, 16, &mut seen, &mut scores);
    seen.clear();
    scan(tool.server, W_SERVER, 8, 8, &mut seen, &mut scores);
    seen.clear();
    scan(tool.description, W_DESC, 16, 320, &mut seen, &mut scores);
    let mut seen_names = Seen::new();
    seen.clear();
    for p in tool.params.iter().take(PARAMS_READ) {
        scan(&p.name, W_PARAM, 8, 8, &mut seen_names, &mut scores);
        if let Some(d) = &p.description {
            scan(d, W_PARAM_DESC, 24, 48, &mut seen, &mut scores);
        }
    }
    scores
}

/// The category of `tool`. Never fails; an unclear tool is `other` with a low
/// confidence (the LLM, when configured, gets those).
pub fn guess(tool: &ToolBrief) -> Guess {
    let params: Vec<Param> = tool
        .input_schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|props| {
            props
                .iter()
                .take(PARAMS_READ)
                .map(|(name, p)| Param {
                    name: name.into(),
                    description: p
                        .get("description")
                        .and_then(|d| d.as_str())
                        .map(Into::into),
                })
                .collect()
        })
        .unwrap_or_default();
    guess_text(&ToolText {
        server: &tool.server,
        name: &tool.name,
        description: &tool.description,
        params: &params,
    })
}

/// What the heuristic reads of a tool, borrowed from wherever the tool is kept.
pub struct ToolText<'a> {
    pub server: &'a str,
    /// The server's own name for it.
    pub name: &'a str,
    pub description: &'a str,
    /// Its input schema's parameters, in order.
    pub params: &'a [Param<'a>],
}

/// `guess`, for a tool borrowed (no brief made).
pub fn guess_text(tool: &ToolText<'_>) -> Guess {
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
    use super::table::TABLE;
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
            let mut words = Vec::new();
            each_word(s, usize::MAX, |_, range, _| {
                words.push(s[range].to_string())
            });
            words
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
