//! What the hub lists to clients: the catalog with each tool's category and the
//! filter's verdicts on it, and what one client session may see of that.

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
    /// One per tool of `catalog.tools`, in the same order. Kept by position rather
    /// than by name: a `tools/list` page looks at every tool before it, and at 20,000
    /// tools hashing each name (twice: category, verdict) was a tenth of a page's CPU,
    /// besides two more copies of every name.
    verdicts: Vec<ToolVerdict>,
    allowed: usize,
    pub filtering_active: bool,
    /// The settings these were computed with: a change of them alone (exposure,
    /// prompt-based defaults) changes what sessions see.
    pub filter: Arc<FilterSettings>,
}

/// One tool's category, and whether the hub-wide filter lets it through (all tools
/// when filtering is off; prompt-based sessions narrow this further).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolVerdict {
    pub categorized: Categorized,
    pub allowed: bool,
}

impl Listing {
    /// `verdicts` holds one per tool of `catalog.tools`, in its order.
    pub fn new(
        catalog: Catalog,
        verdicts: Vec<ToolVerdict>,
        filtering_active: bool,
        filter: Arc<FilterSettings>,
    ) -> Listing {
        debug_assert_eq!(catalog.tools.len(), verdicts.len());
        let allowed = verdicts.iter().filter(|v| v.allowed).count();
        Listing {
            catalog,
            verdicts,
            allowed,
            filtering_active,
            filter,
        }
    }

    /// Each tool with its verdict, in the catalog's order.
    pub fn tools(&self) -> impl Iterator<Item = (&ExposedTool, &ToolVerdict)> {
        self.catalog.tools.iter().zip(&self.verdicts)
    }

    /// The verdict on the tool exposed as `exposed`.
    pub fn verdict(&self, exposed: &str) -> Option<&ToolVerdict> {
        self.verdicts.get(self.catalog.tool(exposed)?.at)
    }

    /// The category of the tool exposed as `exposed`.
    pub fn category(&self, exposed: &str) -> Option<&str> {
        self.verdict(exposed)
            .map(|v| v.categorized.category.as_str())
    }

    /// Whether the hub-wide filter lets the tool exposed as `exposed` through.
    pub fn allows(&self, exposed: &str) -> bool {
        self.verdict(exposed).is_some_and(|v| v.allowed)
    }

    /// `tool` as `tools/list` shows it: under its exposed name, its category in its
    /// `_meta`.
    pub fn listed(&self, tool: &ExposedTool, verdict: &ToolVerdict) -> Tool {
        let mut listed = tool.renamed();
        listed.meta.get_or_insert_with(Default::default).insert(
            META_CATEGORY.into(),
            Value::from(verdict.categorized.category.as_str()),
        );
        listed
    }

    /// `listed`, written as JSON for a client of a revision before 2026-07-28 (whose
    /// tools' output schemas are objects): from the tool's text where it can be.
    pub fn write_listed(&self, tool: &ExposedTool, verdict: &ToolVerdict, out: &mut Vec<u8>) {
        let category = verdict.categorized.category.as_str();
        if tool
            .definition()
            .write_listed(out, &tool.name, (META_CATEGORY, category))
        {
            return;
        }
        let mut listed = self.listed(tool, verdict);
        // As the SDK's server does for such a client.
        listed
            .output_schema
            .take_if(|schema| schema.get("type").and_then(Value::as_str) != Some("object"));
        // A tool of JSON values with string keys always serializes.
        let _ = serde_json::to_writer(out, &listed);
    }

    /// The tool at `at` in the catalog, and its verdict.
    pub fn tool_at(&self, at: usize) -> Option<(&ExposedTool, &ToolVerdict)> {
        Some((self.catalog.tools.get(at)?, self.verdicts.get(at)?))
    }

    /// The tool exposed as `exposed` as `tools/list` shows it.
    pub fn listed_named(&self, exposed: &str) -> Option<Tool> {
        let at = self.catalog.tool(exposed)?.at;
        Some(self.listed(self.catalog.tools.get(at)?, self.verdicts.get(at)?))
    }

    /// Whether a client listing tools would see the same in both: the same tools,
    /// definitions and categories (confidence and source are not shown).
    pub fn shows_same_tools(&self, other: &Listing) -> bool {
        self.catalog.tools == other.catalog.tools
            && self
                .verdicts
                .iter()
                .zip(&other.verdicts)
                .all(|(a, b)| a.categorized.category == b.categorized.category)
    }

    /// Whether the hub-wide filter lets the same tools through in both.
    pub fn lets_same_tools_through(&self, other: &Listing) -> bool {
        fn through(l: &Listing) -> impl Iterator<Item = &str> {
            l.tools().filter(|(_, v)| v.allowed).map(|(t, _)| &*t.name)
        }
        self.allowed == other.allowed && through(self).eq(through(other))
    }

    /// What `/api/health` and `/api/metrics` say of the tools exposed.
    pub fn exposure(&self) -> Exposure {
        Exposure::new(
            self.catalog.tools.len(),
            self.allowed,
            self.filtering_active,
        )
    }
}

/// `tool` of `catalog` as the categorizers see it (the server's own name).
pub fn brief(tool: &ExposedTool) -> ToolBrief {
    ToolBrief {
        server: tool.server().to_owned(),
        name: tool.definition().name().to_string(),
        description: tool.description().to_owned(),
        input_schema: Value::Object(tool.definition().input_schema()),
    }
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
        listing
            .verdict(exposed)
            .is_some_and(|v| self.allows_verdict(s, listing, v))
    }

    /// `allows`, for a tool whose verdict is at hand.
    pub fn allows_verdict(
        &self,
        s: &FilterSettings,
        listing: &Listing,
        verdict: &ToolVerdict,
    ) -> bool {
        if !verdict.allowed {
            return false;
        }
        if !(listing.filtering_active && s.mode == Mode::PromptBased) {
            return true;
        }
        let category = verdict.categorized.category.as_str();
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
