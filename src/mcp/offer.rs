//! What a backend offers (its tools, resources, templates and prompts), as the hub
//! keeps it between two listings.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::model::{JsonObject, Prompt, Resource, ResourceTemplate, Tool};

/// Everything the backend offers. An offer never changes once listed (a refresh lists
/// a new one), so its JSON, which every health poll sends for every server, is
/// rendered once.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    pub tools: Vec<OfferedTool>,
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
    tools: &'a [OfferedTool],
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
        *self.json_len.get_or_init(|| {
            // The tools are counted from their text, not serialized: the health
            // summary asks this of every offer as it comes.
            let without_tools = crate::util::json_len::json_len(&CapabilitiesView {
                tools: &[],
                ..self.view()
            });
            let tools: usize = self.tools.iter().map(OfferedTool::json_len).sum();
            without_tools + tools + self.tools.len().saturating_sub(1)
        })
    }
}

/// A backend's tool as the hub keeps it: its definition as JSON text, in one block of
/// text per offer, its name and description beside it to be read as they are.
///
/// Why text: as the SDK's objects (an ordered map per object, a string per key) a
/// schema takes 10 to 25 times its text, 1.4 kB for a 54-byte one; 20,000 tools held
/// 29 MB of objects that way. Why one block: parsed tools are made among the lists'
/// other transient objects, so any piece that outlives them (even a name) pins the
/// heap's pages half empty (13 to 33 MB of free heap stayed resident at 20,000 tools
/// while the schemas alone were text); a block per offer is one allocation, given
/// back whole when the offer is replaced. The objects are made again when a client
/// is shown the tool (`to_tool`) or the LLM categorizer reads it (`input_schema`).
#[derive(Debug, Clone)]
pub struct OfferedTool {
    /// The texts of every tool of the offer.
    texts: Arc<str>,
    /// The definition as the SDK serializes it, without its description.
    definition: Range<usize>,
    /// Where in the definition the SDK writes the description (before
    /// `"inputSchema"`), for `Serialize` to put it back without parsing.
    description_at: usize,
    name: Range<usize>,
    description: Option<Range<usize>>,
    /// Without `_meta` or `outputSchema`, the two fields a listing may change (a
    /// category added, a schema an earlier revision cannot read taken out): such a
    /// tool is listed straight from its text (`write_listed`).
    plain: bool,
}

/// What follows the description in the SDK's serialization of a tool.
const INPUT_SCHEMA_KEY: &[u8] = br#","inputSchema":"#;

/// What the description follows in it.
const DESCRIPTION_KEY: &str = r#","description":"#;

/// How the SDK's serialization of a tool begins: its name comes first.
const NAME_KEY: &str = r#"{"name":"#;

/// Reads only the input schema of a definition.
#[derive(Deserialize)]
struct InputSchema {
    #[serde(rename = "inputSchema", default)]
    input_schema: JsonObject,
}

/// A parameter of a tool's input schema: its name and its description, borrowed from
/// the tool's text unless an escape is in the way.
#[derive(Debug, PartialEq)]
pub struct Param<'a> {
    pub name: Cow<'a, str>,
    pub description: Option<Cow<'a, str>>,
}

/// How many of a schema's parameters `OfferedTool::params` reads: the categorizer
/// reads no more.
pub const PARAMS_READ: usize = 48;

/// Reads only the input schema's `properties` of a definition, as raw text.
#[derive(Deserialize)]
struct Properties<'a> {
    #[serde(rename = "inputSchema", borrow)]
    input_schema: Option<SchemaProperties<'a>>,
}

#[derive(Deserialize)]
struct SchemaProperties<'a> {
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
}

/// A string, borrowed when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct ParamDescription<'a> {
    #[serde(borrow)]
    description: Option<&'a RawValue>,
}

/// The first `PARAMS_READ` entries of a `properties` object, in order. The text is
/// the SDK's serialization of an object, so no name comes twice.
struct Params<'a>(Vec<Param<'a>>);

impl<'de> Deserialize<'de> for Params<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Params<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of parameters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut params = Vec::new();
                while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
                    if params.len() == PARAMS_READ {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        continue;
                    }
                    // A parameter that is not an object, or a description that is
                    // not a string, has no description.
                    let raw: &'de RawValue = map.next_value()?;
                    let description = serde_json::from_str::<ParamDescription>(raw.get())
                        .ok()
                        .and_then(|p| p.description)
                        .and_then(|d| serde_json::from_str::<Text>(d.get()).ok())
                        .map(|Text(d)| d);
                    params.push(Param { name, description });
                }
                Ok(Params(params))
            }
        }
        d.deserialize_map(Entries)
    }
}

impl OfferedTool {
    /// Every tool of one list, kept as text. The SDK's objects are dropped one tool
    /// at a time as their text is written.
    pub fn all(tools: Vec<Tool>) -> Vec<OfferedTool> {
        let mut texts = Vec::new();
        let mut spans = Vec::with_capacity(tools.len());
        for mut tool in tools {
            let start = texts.len();
            let description = tool.description.take();
            let plain = tool.meta.is_none() && tool.output_schema.is_none();
            // A definition of JSON values with string keys always serializes.
            if serde_json::to_writer(&mut texts, &tool).is_err() {
                texts.truncate(start);
            }
            let definition = start..texts.len();
            // The key, its quotes unescaped, cannot be inside a string of the text.
            let description_at = texts[definition.clone()]
                .windows(INPUT_SCHEMA_KEY.len())
                .position(|w| w == INPUT_SCHEMA_KEY)
                .unwrap_or(definition.len().saturating_sub(1));
            let mut append = |text: &str| {
                let start = texts.len();
                texts.extend_from_slice(text.as_bytes());
                start..texts.len()
            };
            let name = append(&tool.name);
            let description = description.map(|d| append(&d));
            spans.push((definition, description_at, name, description, plain));
        }
        // Names and descriptions are `str`s and serde_json writes UTF-8: the lossy
        // path is never taken.
        let texts: Arc<str> = match String::from_utf8(texts) {
            Ok(t) => t.into(),
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into(),
        };
        spans
            .into_iter()
            .map(
                |(definition, description_at, name, description, plain)| OfferedTool {
                    texts: texts.clone(),
                    definition,
                    description_at,
                    name,
                    description,
                    plain,
                },
            )
            .collect()
    }

    /// The server's own name for the tool.
    pub fn name(&self) -> &str {
        &self.texts[self.name.clone()]
    }

    pub fn description(&self) -> Option<&str> {
        self.description.clone().map(|r| &self.texts[r])
    }

    fn definition(&self) -> &str {
        &self.texts[self.definition.clone()]
    }

    /// The input schema, as objects made for the caller.
    pub fn input_schema(&self) -> JsonObject {
        serde_json::from_str::<InputSchema>(self.definition())
            .map(|s| s.input_schema)
            .unwrap_or_default()
    }

    /// The input schema's parameters, in order, up to `PARAMS_READ` of them, read
    /// from the text without making the schema's objects: the categorizer reads
    /// these of every tool a server lists.
    pub fn params(&self) -> Vec<Param<'_>> {
        serde_json::from_str::<Properties>(self.definition())
            .ok()
            .and_then(|p| p.input_schema?.properties)
            .and_then(|p| serde_json::from_str::<Params>(p.get()).ok())
            .map(|p| p.0)
            .unwrap_or_default()
    }

    /// How long the tool's JSON is, in bytes, without writing it.
    fn json_len(&self) -> usize {
        self.definition().len()
            + self.description().map_or(0, |d| {
                DESCRIPTION_KEY.len() + crate::util::json_len::json_len(d)
            })
    }

    /// Writes the tool as the SDK would write it renamed `name`, with `_meta` holding
    /// only `meta`, straight from its text: a `tools/list` page of 1000 tools made
    /// as the SDK's objects and written again took about 2 ms more than the text.
    /// False, with nothing written, for a tool that is not `plain`: its listing is
    /// made as objects.
    pub fn write_listed(&self, out: &mut Vec<u8>, name: &str, meta: (&str, &str)) -> bool {
        let definition = self.definition();
        // Names are `str`s: they always serialize.
        let own = serde_json::to_string(self.name()).unwrap_or_default();
        let name_end = NAME_KEY.len() + own.len();
        let well_formed = definition.starts_with(NAME_KEY)
            && definition[NAME_KEY.len()..].starts_with(&own)
            && definition.len() > name_end
            && definition.ends_with('}');
        if !self.plain || !well_formed {
            return false;
        }
        out.extend_from_slice(NAME_KEY.as_bytes());
        let _ = serde_json::to_writer(&mut *out, name);
        self.write_text(out, name_end..definition.len() - 1);
        out.extend_from_slice(br#","_meta":{"#);
        let _ = serde_json::to_writer(&mut *out, meta.0);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, meta.1);
        out.extend_from_slice(b"}}");
        true
    }

    /// The part `span` of the definition's text, with the description put back in its
    /// place if that falls in it: the SDK's serialization of the tool, for the whole.
    fn write_text(&self, out: &mut Vec<u8>, span: Range<usize>) {
        let definition = self.definition().as_bytes();
        let at = self.description_at.clamp(span.start, span.end);
        out.extend_from_slice(&definition[span.start..at]);
        if let Some(description) = self.description() {
            out.extend_from_slice(DESCRIPTION_KEY.as_bytes());
            // A `str` always serializes.
            let _ = serde_json::to_writer(&mut *out, description);
        }
        out.extend_from_slice(&definition[at..span.end]);
    }

    /// The whole definition, as the SDK holds it.
    pub fn to_tool(&self) -> Tool {
        // The text was written from a `Tool`, so it reads back as one.
        let mut tool: Tool = serde_json::from_str(self.definition()).unwrap_or_else(|_| {
            let mut t = Tool::default();
            t.name = self.name().to_owned().into();
            t
        });
        tool.description = self.description().map(|d| d.to_owned().into());
        tool
    }
}

impl From<Tool> for OfferedTool {
    fn from(tool: Tool) -> Self {
        let mut one = OfferedTool::all(vec![tool]);
        one.pop().expect("one tool in, one out")
    }
}

impl PartialEq for OfferedTool {
    fn eq(&self, other: &Self) -> bool {
        self.definition() == other.definition()
            && self.name() == other.name()
            && self.description() == other.description()
    }
}

/// As the SDK's `Tool` serializes, written from the text: `/api/servers` and the
/// health summary's sizes go through here for every tool of every offer.
impl Serialize for OfferedTool {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut json = Vec::with_capacity(self.json_len());
        self.write_text(&mut json, 0..self.definition().len());
        let json = String::from_utf8(json).map_err(serde::ser::Error::custom)?;
        RawValue::from_string(json)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// As the SDK's `Tool` reads.
impl<'de> Deserialize<'de> for OfferedTool {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Tool::deserialize(deserializer).map(OfferedTool::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn every_field() -> serde_json::Value {
        json!({
            "name": "search",
            "title": "Search",
            "description": "Searches the \"docs\"",
            "inputSchema": {"type": "object", "properties": {"q": {"type": "string", "description": "what, é"}}, "required": ["q"]},
            "outputSchema": {"type": "object", "properties": {"hits": {"type": "array"}}},
            "annotations": {"title": "Search docs", "readOnlyHint": true},
            "icons": [{"src": "https://example.com/i.png", "mimeType": "image/png"}],
            "_meta": {"vendor/x": 1}
        })
    }

    #[test]
    fn a_tool_kept_as_text_shows_the_same_as_the_sdk_would() {
        let sdk: Tool = serde_json::from_value(every_field()).unwrap();
        let kept: OfferedTool = serde_json::from_value(every_field()).unwrap();
        assert_eq!(kept.to_tool(), sdk);
        assert_eq!(
            serde_json::to_string(&kept).unwrap(),
            serde_json::to_string(&sdk).unwrap()
        );
        assert_eq!(kept.name(), "search");
        assert_eq!(kept.description(), Some("Searches the \"docs\""));
        assert_eq!(kept.input_schema(), *sdk.input_schema);
    }

    #[test]
    fn every_tool_of_a_list_keeps_its_own_texts() {
        let sdk: Vec<Tool> = (0..3)
            .map(|i| {
                let mut t = every_field();
                t["name"] = json!(format!("t{i}"));
                t["description"] = json!(format!("number {i}, é"));
                t["inputSchema"]["properties"] = json!({format!("p{i}"): {"type": "string"}});
                if i == 0 {
                    t["title"] = json!(r#"looks like a key: ,"inputSchema":{}"#);
                }
                if i == 1 {
                    t.as_object_mut().unwrap().remove("description");
                    t.as_object_mut().unwrap().remove("outputSchema");
                }
                serde_json::from_value(t).unwrap()
            })
            .collect();
        let kept = OfferedTool::all(sdk.clone());
        assert_eq!(
            kept.iter().map(OfferedTool::to_tool).collect::<Vec<_>>(),
            sdk
        );
        assert_eq!(
            serde_json::to_string(&kept).unwrap(),
            serde_json::to_string(&sdk).unwrap()
        );
        assert_eq!(kept[1].description(), None);
        assert_eq!(kept[2].name(), "t2");
        assert_eq!(kept[2].description(), Some("number 2, é"));
        assert_eq!(
            Value::Object(kept[2].input_schema()),
            json!({"type": "object", "properties": {"p2": {"type": "string"}}, "required": ["q"]})
        );
        let offer = Offer {
            tools: kept,
            ..Offer::default()
        };
        assert_eq!(
            offer.json_len(),
            serde_json::to_string(
                &json!({"tools": sdk, "resources": [], "resourceTemplates": [], "prompts": []})
            )
            .unwrap()
            .len()
        );
        assert_eq!(offer.json_len(), offer.json().get().len());
    }

    /// What `write_listed` must write: the SDK's tool, renamed, `_meta` added.
    fn listed_by_the_sdk(tool: &Tool, name: &str, meta: (&str, &str)) -> String {
        let mut t = tool.clone();
        t.name = name.to_owned().into();
        t.meta
            .get_or_insert_with(Default::default)
            .insert(meta.0.into(), Value::from(meta.1));
        serde_json::to_string(&t).unwrap()
    }

    #[test]
    fn a_plain_tool_is_listed_from_its_text_as_the_sdk_would_list_it() {
        let mut plain = every_field();
        plain.as_object_mut().unwrap().remove("_meta");
        plain.as_object_mut().unwrap().remove("outputSchema");
        let variants = [
            plain.clone(),
            json!({"name": "bare", "inputSchema": {"type": "object"}}),
            json!({"name": "no \"schema\" é", "description": "d", "inputSchema": {}}),
            {
                let mut t = plain.clone();
                t.as_object_mut().unwrap().remove("description");
                t["title"] = json!(r#"looks like a key: ,"inputSchema":{}"#);
                t
            },
        ];
        let sdk: Vec<Tool> = variants
            .iter()
            .map(|v| serde_json::from_value(v.clone()).unwrap())
            .collect();
        for (tool, kept) in sdk.iter().zip(OfferedTool::all(sdk.clone())) {
            for (name, meta) in [
                ("srv__x", ("mcphub/category", "search")),
                ("s\"q\"__\u{1}", ("k", "v \" é")),
            ] {
                let mut out = Vec::new();
                assert!(kept.write_listed(&mut out, name, meta), "{tool:?}");
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    listed_by_the_sdk(tool, name, meta)
                );
            }
        }
    }

    #[test]
    fn a_tool_with_its_own_meta_or_output_schema_is_not_listed_from_text() {
        for field in ["_meta", "outputSchema"] {
            let mut t = every_field();
            t.as_object_mut().unwrap().remove(if field == "_meta" {
                "outputSchema"
            } else {
                "_meta"
            });
            let kept: OfferedTool = serde_json::from_value(t).unwrap();
            let mut out = Vec::new();
            assert!(!kept.write_listed(&mut out, "n", ("k", "v")), "{field}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn a_changed_schema_is_a_changed_tool() {
        let kept: OfferedTool = serde_json::from_value(every_field()).unwrap();
        assert_eq!(kept, kept.clone());
        let mut changed = every_field();
        changed["inputSchema"]["required"] = json!([]);
        let changed: OfferedTool = serde_json::from_value(changed).unwrap();
        assert_ne!(kept, changed);
        let mut no_output = every_field();
        no_output.as_object_mut().unwrap().remove("outputSchema");
        assert_ne!(kept, serde_json::from_value(no_output).unwrap());
    }

    #[test]
    fn a_tools_params_are_read_from_its_text_as_from_its_schema() {
        let mut props = serde_json::Map::new();
        props.insert(
            "path".into(),
            json!({"type": "string", "description": "The \"file\"\nto read"}),
        );
        props.insert(
            "plain".into(),
            json!({"type": "string", "description": "no escapes"}),
        );
        props.insert("flag".into(), json!(true));
        props.insert("count".into(), json!({"description": 5}));
        for i in 0..60 {
            props.insert(
                format!("p{i}"),
                json!({"description": format!("param {i}")}),
            );
        }
        let tool = |properties: Value| {
            let t: OfferedTool = serde_json::from_value(json!({
                "name": "t",
                "description": "d",
                "inputSchema": {"type": "object", "properties": properties}
            }))
            .unwrap();
            t
        };
        // What the schema's objects say, the way the categorizer read them before.
        let from_schema = |t: &OfferedTool| -> Vec<(String, Option<String>)> {
            let schema = t.input_schema();
            let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
                return Vec::new();
            };
            props
                .iter()
                .take(PARAMS_READ)
                .map(|(k, v)| {
                    let d = v.get("description").and_then(|d| d.as_str());
                    (k.clone(), d.map(str::to_owned))
                })
                .collect()
        };
        let from_text = |t: &OfferedTool| -> Vec<(String, Option<String>)> {
            t.params()
                .into_iter()
                .map(|p| (p.name.into_owned(), p.description.map(Cow::into_owned)))
                .collect()
        };
        let many = tool(Value::Object(props));
        let read = from_text(&many);
        assert_eq!(read.len(), PARAMS_READ);
        assert_eq!(
            read[0],
            ("path".into(), Some("The \"file\"\nto read".into()))
        );
        assert_eq!(read[2], ("flag".into(), None));
        assert_eq!(read[3], ("count".into(), None));
        assert_eq!(read, from_schema(&many));
        for odd in [json!([1, 2]), json!(null), json!("x"), json!({})] {
            assert_eq!(from_text(&tool(odd.clone())), Vec::new(), "{odd}");
        }
    }
}
