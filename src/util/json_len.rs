//! The length of a value's compact JSON text (as `serde_json::to_vec` writes it),
//! counted without writing it, and without reading the strings: each counts as its
//! length plus its quotes, without the escapes serde_json adds for quotes, backslashes and
//! control characters (so a count is short by those, one to five bytes each).
//!
//! Written by hand because no crate counts JSON without producing it, and producing it
//! to count it (serde_json into a byte-counting writer) reads and escapes every string
//! a second time: for a `tools/list` page of 1,000 tools that was an eighth of the hub's
//! CPU for the page. Exact escapes would cost most of that again: reading 1 MB of
//! descriptions is the cost, not the arithmetic (it was measured).

use serde::ser::{self, Serialize};

/// How many bytes `serde_json::to_vec(value)` would hold, escapes aside. A value serde_json cannot
/// write (a map with keys that are not strings or numbers) counts what was counted
/// before the fault, as a writer would have received.
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = Counter::default();
    let _ = value.serialize(&mut counter);
    counter.len
}

/// The token serde_json's `RawValue` serializes under: its text goes out as it is.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

#[derive(Default)]
struct Counter {
    len: usize,
    /// Whether the last value counted was written as a JSON string: a map key that is
    /// not one (a number, a bool) is quoted by serde_json.
    quoted: bool,
    /// Inside a `RawValue`: its one string is counted as it is.
    raw: bool,
}

#[derive(Debug)]
struct Unwritable(String);

impl std::fmt::Display for Unwritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unwritable {}

impl ser::Error for Unwritable {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        Unwritable(msg.to_string())
    }
}

/// A float as serde_json writes it (its formatter's choice of digits and exponent):
/// floats are few in MCP messages, so they are written, to a counting sink.
fn float_len<F: Serialize>(v: F) -> usize {
    struct Sink(usize);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Sink(0);
    let _ = serde_json::to_writer(&mut sink, &v);
    sink.0
}

fn digits(mut n: u128) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

impl Counter {
    fn scalar(&mut self, len: usize) -> Result<(), Unwritable> {
        self.len += len;
        self.quoted = false;
        Ok(())
    }

    fn string(&mut self, s: &str) -> Result<(), Unwritable> {
        self.len += 2 + s.len();
        self.quoted = true;
        Ok(())
    }

    fn signed(&mut self, n: i128) -> Result<(), Unwritable> {
        self.scalar(digits(n.unsigned_abs()) + (n < 0) as usize)
    }

    /// `{"variant":` before a variant's value (its `}` is counted when it closes).
    fn open_variant(&mut self, variant: &str) {
        self.len += 1 + 2 + variant.len() + 1;
    }
}

/// One compound value (array or object) being counted: its separators and brackets.
struct Compound<'a> {
    counter: &'a mut Counter,
    first: bool,
    /// Closing brackets: 1, or 2 for a variant's (`]}` or `}}`).
    closing: usize,
}

impl Compound<'_> {
    fn separator(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.counter.len += 1;
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unwritable> {
        self.separator();
        value.serialize(&mut *self.counter)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Unwritable> {
        if self.closing == 0 {
            // A RawValue: its one field is the text itself.
            return value.serialize(&mut *self.counter);
        }
        self.separator();
        self.counter.len += 2 + key.len() + 1;
        value.serialize(&mut *self.counter)
    }

    fn close(self) -> Result<(), Unwritable> {
        self.counter.len += self.closing;
        self.counter.quoted = false;
        Ok(())
    }
}

impl<'a> Compound<'a> {
    fn open(counter: &'a mut Counter, closing: usize) -> Compound<'a> {
        counter.len += 1;
        Compound {
            counter,
            first: true,
            closing,
        }
    }
}

impl<'a> ser::Serializer for &'a mut Counter {
    type Ok = ();
    type Error = Unwritable;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Unwritable> {
        self.scalar(if v { 4 } else { 5 })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Unwritable> {
        self.signed(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Unwritable> {
        self.signed(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Unwritable> {
        self.signed(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Unwritable> {
        self.signed(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Unwritable> {
        self.signed(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Unwritable> {
        self.scalar(digits(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Unwritable> {
        self.scalar(digits(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Unwritable> {
        self.scalar(digits(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Unwritable> {
        self.scalar(digits(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<(), Unwritable> {
        self.scalar(digits(v))
    }
    fn serialize_f32(self, v: f32) -> Result<(), Unwritable> {
        self.scalar(float_len(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Unwritable> {
        self.scalar(float_len(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Unwritable> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Unwritable> {
        if std::mem::take(&mut self.raw) {
            return self.scalar(v.len());
        }
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unwritable> {
        let numbers: usize = v.iter().map(|&b| digits(b.into())).sum();
        self.scalar(2 + numbers + v.len().saturating_sub(1))
    }
    fn serialize_none(self) -> Result<(), Unwritable> {
        self.scalar(4)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unwritable> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unwritable> {
        self.scalar(4)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unwritable> {
        self.scalar(4)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unwritable> {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unwritable> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unwritable> {
        self.open_variant(variant);
        value.serialize(&mut *self)?;
        self.scalar(1)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Unwritable> {
        Ok(Compound::open(self, 1))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Unwritable> {
        Ok(Compound::open(self, 1))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Unwritable> {
        Ok(Compound::open(self, 1))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Unwritable> {
        self.open_variant(variant);
        Ok(Compound::open(self, 2))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Unwritable> {
        Ok(Compound::open(self, 1))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Unwritable> {
        if name == RAW_VALUE_TOKEN {
            self.raw = true;
            return Ok(Compound {
                counter: self,
                first: true,
                closing: 0,
            });
        }
        Ok(Compound::open(self, 1))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Unwritable> {
        self.open_variant(variant);
        Ok(Compound::open(self, 2))
    }
}

/// serde's four array-like compounds differ only in their names: each element is
/// counted the same way.
macro_rules! array_like {
    ($($compound:ident :: $add:ident),*) => {$(
        impl ser::$compound for Compound<'_> {
            type Ok = ();
            type Error = Unwritable;
            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unwritable> {
                self.element(value)
            }
            fn end(self) -> Result<(), Unwritable> {
                self.close()
            }
        }
    )*};
}

array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Unwritable;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unwritable> {
        self.separator();
        key.serialize(&mut *self.counter)?;
        if !self.counter.quoted {
            // serde_json writes a number or bool key in quotes.
            self.counter.len += 2;
        }
        self.counter.len += 1;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unwritable> {
        value.serialize(&mut *self.counter)
    }
    fn end(self) -> Result<(), Unwritable> {
        self.close()
    }
}

/// Structs and struct variants: each field counted the same way.
macro_rules! object_like {
    ($($compound:ident),*) => {$(
        impl ser::$compound for Compound<'_> {
            type Ok = ();
            type Error = Unwritable;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Unwritable> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Unwritable> {
                self.close()
            }
        }
    )*};
}

object_like!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::json_len;
    use serde_json::json;

    fn same_as_serde_json<T: serde::Serialize + ?Sized>(value: &T) {
        let text = serde_json::to_vec(value).unwrap();
        assert_eq!(
            json_len(value),
            text.len(),
            "{}",
            String::from_utf8_lossy(&text)
        );
    }

    #[test]
    fn counts_what_serde_json_writes() {
        same_as_serde_json(&json!(null));
        same_as_serde_json(&json!([]));
        same_as_serde_json(&json!({}));
        same_as_serde_json(
            &json!({"a": [1, -22, 333, true, false, null, 1.5, -0.0, 1e300, 0.1, 123456.789e-20]}),
        );
        same_as_serde_json(&json!({"unicode": "é 😀 \u{7f}"}));
        same_as_serde_json(&json!([u64::MAX, i64::MIN, 0, 10, 99, 100]));
        same_as_serde_json(&json!({"nested": {"deep": [[{}], [[]], {"x": {"y": []}}]}}));
        same_as_serde_json(&f64::NAN);
        same_as_serde_json(&'x');
        same_as_serde_json(&b"\x00\x0a\xff"[..]);
        let raw = serde_json::value::RawValue::from_string(r#"{"kept": [ 1 ,2 ]}"#.into());
        same_as_serde_json(&json!({"raw": raw.unwrap()}));
    }

    #[test]
    fn counts_enums_keys_and_skipped_fields() {
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(u8, String),
            Struct { a: Option<u8>, b: &'static str },
        }
        #[derive(serde::Serialize)]
        struct S {
            #[serde(skip_serializing_if = "Option::is_none")]
            gone: Option<u8>,
            kept: Option<u8>,
            #[serde(flatten)]
            more: std::collections::BTreeMap<u32, bool>,
            tuple: (i8, f32, char),
        }
        same_as_serde_json(&[
            E::Unit,
            E::New(7),
            E::Tuple(1, "t".into()),
            E::Struct { a: None, b: "b" },
        ]);
        same_as_serde_json(&S {
            gone: None,
            kept: None,
            more: [(1, true), (20, false)].into(),
            tuple: (-5, 0.1, 'x'),
        });
        let keys: std::collections::BTreeMap<i64, ()> = [(-3, ()), (44, ())].into();
        same_as_serde_json(&keys);
    }

    #[test]
    fn counts_the_protocol_messages_the_hub_sends() {
        let tool = json!({"name": "s__echo", "description": "Echoes text.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
            "annotations": {"readOnlyHint": true}, "_meta": {"mcphub/category": "other"}});
        let answer = json!({"jsonrpc": "2.0", "id": 7,
            "result": {"tools": [tool.clone(), tool], "nextCursor": "1000"}});
        let answer: rmcp::model::ServerJsonRpcMessage = serde_json::from_value(answer).unwrap();
        same_as_serde_json(&answer);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress",
            "params": {"progressToken": "t", "progress": 0.5, "total": 1.0}});
        let note: rmcp::model::ServerJsonRpcMessage = serde_json::from_value(note).unwrap();
        same_as_serde_json(&note);
    }

    #[test]
    fn strings_count_without_their_escapes() {
        for b in 0..=0x7fu8 {
            let s = format!("a{}z", b as char);
            let text = serde_json::to_string(&s).unwrap();
            let escapes = text.len() - (s.len() + 2);
            assert_eq!(json_len(&s) + escapes, text.len(), "{text}");
            // Only quotes, backslashes and control characters are escaped.
            assert_eq!(escapes > 0, b < 0x20 || b == b'"' || b == b'\\', "{text}");
        }
        assert_eq!(json_len("é😀"), 2 + "é😀".len());
    }
}
