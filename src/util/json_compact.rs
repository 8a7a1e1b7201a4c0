//! JSON trees cut to their sizes once they are built and will not grow.
//!
//! serde_json (with `preserve_order`) keeps an object's entries in a vector that its
//! first insert sizes for three, and arrays grow by doubling. A tool's schema is
//! mostly objects of one or two entries (`{"type": "string"}`), so a catalog of
//! 20,000 tools held about 10 MB of room no entry would ever use: an eighth of the
//! hub. serde_json has no `shrink_to_fit`, so each object is rebuilt at its exact
//! size, its keys and values moved, not copied.

use serde_json::{Map, Value};

/// Cuts every object and array in `value` to its size.
pub fn compact(value: &mut Value) {
    match value {
        Value::Object(map) => compact_map(map),
        Value::Array(items) => {
            items.iter_mut().for_each(compact);
            items.shrink_to_fit();
        }
        _ => {}
    }
}

/// [`compact`] for an object.
pub fn compact_map(map: &mut Map<String, Value>) {
    let mut exact = Map::with_capacity(map.len());
    for (key, mut value) in std::mem::take(map) {
        compact(&mut value);
        exact.insert(key, value);
    }
    *map = exact;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_compacted_tree_is_the_same_json_in_the_same_order() {
        let text = r#"{"type":"object","required":["b","a"],"properties":{"b":{"type":"string","enum":["x","y"]},"a":{"type":"array","items":{"type":"integer"}}},"additionalProperties":false}"#;
        let mut value: Value = serde_json::from_str(text).unwrap();
        compact(&mut value);
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
        let mut scalar = json!("s");
        compact(&mut scalar);
        assert_eq!(scalar, json!("s"));
    }
}
