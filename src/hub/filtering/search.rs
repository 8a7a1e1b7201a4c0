//! `search_tools`: BM25 over each tool's name words, description and category, built
//! offline from the catalog (no embeddings service). Hand-written: the index is a few
//! hundred short documents, and BM25 is twenty lines; a search-engine crate would
//! bring an on-disk index and a tokenizer pipeline this does not need.

use std::collections::HashMap;

/// One searchable tool.
#[derive(Debug, Clone)]
pub struct Doc {
    pub name: String,
    pub description: String,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub index: usize,
    pub score: f64,
}

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Lower-case words of letters and digits; `snake_case`, `camelCase` and
/// `kebab-case` names split into their words.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            cur.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub struct Index {
    docs: Vec<HashMap<String, f64>>,
    lengths: Vec<f64>,
    avg_len: f64,
    df: HashMap<String, usize>,
}

impl Index {
    pub fn build(docs: &[Doc]) -> Index {
        let mut index = Index {
            docs: Vec::with_capacity(docs.len()),
            lengths: Vec::with_capacity(docs.len()),
            avg_len: 0.0,
            df: HashMap::new(),
        };
        for d in docs {
            let mut tf: HashMap<String, f64> = HashMap::new();
            // The name and category say what a tool is; they count double.
            for w in words(&d.name).into_iter().chain(words(&d.category)) {
                *tf.entry(w).or_default() += 2.0;
            }
            for w in words(&d.description) {
                *tf.entry(w).or_default() += 1.0;
            }
            for w in tf.keys() {
                *index.df.entry(w.clone()).or_default() += 1;
            }
            index.lengths.push(tf.values().sum());
            index.docs.push(tf);
        }
        let n = index.docs.len().max(1) as f64;
        index.avg_len = index.lengths.iter().sum::<f64>() / n;
        index
    }

    /// Documents matching any word of `query`, best first; ties keep catalog order.
    pub fn search(&self, query: &str) -> Vec<Hit> {
        let n = self.docs.len() as f64;
        let mut terms = words(query);
        terms.sort();
        terms.dedup();
        let mut hits: Vec<Hit> = self
            .docs
            .iter()
            .enumerate()
            .filter_map(|(i, tf)| {
                let mut score = 0.0;
                for t in &terms {
                    let Some(f) = tf.get(t) else { continue };
                    let df = self.df.get(t).copied().unwrap_or(0) as f64;
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    let norm = K1 * (1.0 - B + B * self.lengths[i] / self.avg_len.max(1.0));
                    score += idf * f * (K1 + 1.0) / (f + norm);
                }
                (score > 0.0).then_some(Hit { index: i, score })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, description: &str, category: &str) -> Doc {
        Doc {
            name: name.into(),
            description: description.into(),
            category: category.into(),
        }
    }

    #[test]
    fn splits_names_into_words() {
        assert_eq!(words("fs__readFile"), ["fs", "read", "file"]);
        assert_eq!(words("list-open_PRs v2"), ["list", "open", "prs", "v2"]);
    }

    #[test]
    fn ranks_the_tool_that_names_the_words_first() {
        let docs = [
            doc(
                "memory__create_entities",
                "Create multiple new entities in the knowledge graph",
                "database",
            ),
            doc(
                "filesystem__read_file",
                "Read the complete contents of a file from the file system",
                "filesystem",
            ),
            doc(
                "filesystem__write_file",
                "Create a new file or overwrite an existing file",
                "filesystem",
            ),
        ];
        let idx = Index::build(&docs);
        let hits = idx.search("read a file");
        assert_eq!(hits[0].index, 1);
        assert!(hits.iter().all(|h| h.index != 0), "no shared word, no hit");
        assert_eq!(idx.search("knowledge graph")[0].index, 0);
        assert!(idx.search("").is_empty());
        assert!(idx.search("zebra").is_empty());
    }
}
