//! What a backend offers (its tools, resources, templates and prompts), as the hub
//! keeps it between two listings.

use super::model::{Prompt, Resource, ResourceTemplate, Tool};

/// Everything the backend offers. An offer never changes once listed (a refresh lists
/// a new one), so its JSON, which every health poll sends for every server, is
/// rendered once.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
    pub(crate) json: std::sync::OnceLock<Box<serde_json::value::RawValue>>,
    /// The length of `json`, known without keeping it: a server whose lists an answer
    /// summarizes need not have them written out at all.
    pub(crate) json_len: std::sync::OnceLock<usize>,
}

/// mcp-hub's `capabilities` of a server, as serialized.
#[derive(serde::Serialize)]
struct CapabilitiesView<'a> {
    tools: &'a [Tool],
    resources: &'a [Resource],
    #[serde(rename = "resourceTemplates")]
    resource_templates: &'a [ResourceTemplate],
    prompts: &'a [Prompt],
}

impl Offer {
    fn view(&self) -> CapabilitiesView<'_> {
        CapabilitiesView {
            tools: &self.tools,
            resources: &self.resources,
            resource_templates: &self.templates,
            prompts: &self.prompts,
        }
    }

    /// `{"tools", "resources", "resourceTemplates", "prompts"}`: mcp-hub's
    /// `capabilities` of a server.
    pub fn json(&self) -> &serde_json::value::RawValue {
        self.json.get_or_init(|| {
            serde_json::value::to_raw_value(&self.view())
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
        })
    }

    /// How long `json` is, in bytes (escapes aside until it is made: see `json_len`).
    pub fn json_len(&self) -> usize {
        if let Some(json) = self.json.get() {
            return json.get().len();
        }
        *self
            .json_len
            .get_or_init(|| crate::util::json_len::json_len(&self.view()))
    }
}
