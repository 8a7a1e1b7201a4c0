//! What the hub lists to clients: the catalog with each tool's category and the
//! filter's verdicts on it, and what one client session may see of that.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::category::{Categorized, ToolBrief};
use crate::api::metrics::Exposure;
use crate::config::filtering::{DefaultExposure, FilterSettings, Mode};
use crate::hub::catalog::{Catalog, ExposedTool};
use crate::mcp::model::Tool;

/// The `_meta` key under which `tools/list` tells clients each tool's category.
pub const META_CATEGORY: &str = "mcphub/category";

/// What the hub lists to clients: the catalog, with each tool's category in its
/// `_meta`, and the filter's verdicts on it. Built whole and swapped in whole, so a
/// reader never sees a catalog with another catalog's verdicts.
#[derive(Debug, Default)]
pub struct Listing {
    pub catalog: Catalog,
    /// Each tool's category, by exposed name.
    pub categories: HashMap<String, Categorized>,
    /// Exposed names the hub-wide filter lets through (all of them when filtering is
    /// off); prompt-based sessions narrow this further.
    pub allowed: HashSet<String>,
    pub filtering_active: bool,
    /// The settings these were computed with: a change of them alone (exposure,
    /// prompt-based defaults) changes what sessions see.
    pub filter: Arc<FilterSettings>,
}

impl Listing {
    /// `tool` as `tools/list` shows it: under its exposed name, its category in its
    /// `_meta`.
    pub fn listed(&self, tool: &ExposedTool) -> Tool {
        let mut listed = tool.renamed();
        if let Some(category) = self.category(&tool.name) {
            listed
                .meta
                .get_or_insert_with(Default::default)
                .insert(META_CATEGORY.into(), Value::from(category));
        }
        listed
    }

    /// Whether a client listing tools would see the same in both: the same tools,
    /// definitions and categories (confidence and source are not shown).
    pub fn shows_same_tools(&self, other: &Listing) -> bool {
        self.catalog.tools == other.catalog.tools
            && self
                .catalog
                .tools
                .iter()
                .all(|t| self.category(&t.name) == other.category(&t.name))
    }

    fn category(&self, exposed: &str) -> Option<&str> {
        self.categories.get(exposed).map(|c| c.category.as_str())
    }

    /// What `/api/health` and `/api/metrics` say of the tools exposed.
    pub fn exposure(&self) -> Exposure {
        Exposure::new(
            self.catalog.tools.len(),
            self.allowed.len(),
            self.filtering_active,
        )
    }
}

/// Every tool of `catalog` as the categorizers see it (the server's own name), by
/// exposed name.
pub fn briefs(catalog: &Catalog) -> Vec<(String, ToolBrief)> {
    catalog
        .tools
        .iter()
        .filter_map(|t| {
            let route = catalog.tool(t.name.as_ref())?;
            Some((
                t.name.to_string(),
                ToolBrief {
                    server: route.server.clone(),
                    name: route.name.clone(),
                    description: t.description().to_owned(),
                    input_schema: Value::Object((*t.definition().input_schema).clone()),
                },
            ))
        })
        .collect()
}

/// What one client session may see and call, beyond the hub-wide filter.
#[derive(Debug, Clone, Default)]
pub struct SessionView {
    /// Prompt-based mode: the categories `hub__analyze_prompt` chose for this session.
    pub categories: Option<Vec<String>>,
}

impl SessionView {
    /// Whether this session may see and call the backend tool `exposed`.
    pub fn allows(&self, s: &FilterSettings, listing: &Listing, exposed: &str) -> bool {
        if !listing.allowed.contains(exposed) {
            return false;
        }
        if !(listing.filtering_active && s.mode == Mode::PromptBased) {
            return true;
        }
        let category = listing
            .categories
            .get(exposed)
            .map_or("other", |c| c.category.as_str());
        match &self.categories {
            Some(chosen) => chosen.iter().any(|c| c == category),
            None => match s.default_exposure {
                DefaultExposure::Zero | DefaultExposure::MetaOnly => false,
                DefaultExposure::Minimal => s.categories.iter().any(|c| c == category),
                DefaultExposure::All => true,
            },
        }
    }
}
