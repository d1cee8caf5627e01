//! Where things are in the configuration text: JSON pointer -> line:column, and the
//! duplicate keys that serde_json silently merges.
//!
//! serde_json keeps no positions, so the text is parsed a second time into jsonc-parser's
//! syntax tree, which does. That only happens after serde_json accepted the text, so the
//! nesting depth is bounded by serde_json's recursion limit.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use jsonc_parser::ast::{self, ObjectPropName};
use jsonc_parser::{CollectOptions, ParseOptions};

/// A place in the configuration text, 1-based, counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// A key that appears twice in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// Pointer to the key's value.
    pub pointer: String,
    /// The key itself.
    pub key: String,
    /// Where the first occurrence's key stands.
    pub first: Position,
    /// Where the repeated key stands.
    pub repeated: Position,
}

/// Positions in one configuration text.
///
/// The syntax tree costs many times the text's size, so it is built only when there is
/// something to locate: a valid file never pays for it.
pub struct SourceMap<'a> {
    text: &'a str,
    root: OnceCell<Option<ast::Value<'a>>>,
    line_starts: OnceCell<Vec<usize>>,
}

impl<'a> SourceMap<'a> {
    /// Prepares to locate things in `text`, which serde_json has already accepted as JSON.
    pub fn new(text: &'a str) -> Self {
        SourceMap {
            text,
            root: OnceCell::new(),
            line_starts: OnceCell::new(),
        }
    }

    fn root(&self) -> Option<&ast::Value<'a>> {
        self.root
            .get_or_init(|| {
                let parsed = jsonc_parser::parse_to_ast(
                    self.text,
                    &CollectOptions::default(),
                    &ParseOptions::default(),
                );
                parsed.ok().and_then(|parsed| parsed.value)
            })
            .as_ref()
    }

    /// The position of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        let line_starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let line = line_starts.partition_point(|&start| start <= offset);
        let start = line_starts[line - 1];
        let column = self.text[start..offset.min(self.text.len())]
            .chars()
            .count()
            + 1;
        Position { line, column }
    }

    /// Where the value at `pointer` starts; for a pointer that goes further than the text,
    /// the deepest value on the way. With `at_key`, where the key naming it stands instead.
    pub fn locate(&self, pointer: &str, at_key: bool) -> Position {
        let Some(mut node) = self.root() else {
            return Position { line: 1, column: 1 };
        };
        let mut offset = value_range(node).start;
        for segment in segments(pointer) {
            let next = match node {
                ast::Value::Object(object) => object
                    .properties
                    .iter()
                    .rev() // serde_json keeps the last of duplicated keys
                    .find(|prop| prop_name(&prop.name) == segment)
                    .map(|prop| (prop_name_start(&prop.name), &prop.value)),
                ast::Value::Array(array) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| array.elements.get(i))
                    .map(|element| (value_range(element).start, element)),
                _ => None,
            };
            let Some((key_start, value)) = next else {
                break;
            };
            node = value;
            offset = if at_key {
                key_start
            } else {
                value_range(value).start
            };
        }
        self.position(offset)
    }

    /// Every key that appears more than once in the same object, in text order.
    pub fn duplicate_keys(&self) -> Vec<DuplicateKey> {
        let mut found = Vec::new();
        // A streaming pass first: only a file that has duplicates needs the syntax tree.
        let has_duplicates = serde_json::from_str::<DuplicateProbe>(self.text).is_err();
        if let Some(root) = has_duplicates.then(|| self.root()).flatten() {
            self.collect_duplicates(root, &mut String::new(), &mut found);
        }
        found
    }

    fn collect_duplicates(
        &self,
        node: &ast::Value,
        pointer: &mut String,
        found: &mut Vec<DuplicateKey>,
    ) {
        let len = pointer.len();
        match node {
            ast::Value::Object(object) => {
                let mut seen = HashMap::with_capacity(object.properties.len());
                for prop in &object.properties {
                    let name = prop_name(&prop.name);
                    let start = prop_name_start(&prop.name);
                    push_segment(pointer, name);
                    if let Some(&first) = seen.get(name) {
                        found.push(DuplicateKey {
                            pointer: pointer.clone(),
                            key: name.to_owned(),
                            first: self.position(first),
                            repeated: self.position(start),
                        });
                    } else {
                        seen.insert(name, start);
                    }
                    self.collect_duplicates(&prop.value, pointer, found);
                    pointer.truncate(len);
                }
            }
            ast::Value::Array(array) => {
                for (i, element) in array.elements.iter().enumerate() {
                    push_segment(pointer, &i.to_string());
                    self.collect_duplicates(element, pointer, found);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }
}

/// Deserializes any JSON and fails on the first object that repeats a key.
struct DuplicateProbe;

impl<'de> Deserialize<'de> for DuplicateProbe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DuplicateProbe)
    }
}

impl<'de> Visitor<'de> for DuplicateProbe {
    type Value = DuplicateProbe;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value::<DuplicateProbe>()?;
        }
        Ok(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<DuplicateProbe>()?.is_some() {}
        Ok(self)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
}

/// Appends one reference token to a JSON pointer, escaped as RFC 6901 says.
pub fn push_segment(pointer: &mut String, segment: &str) {
    pointer.push('/');
    pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
}

/// The unescaped reference tokens of a JSON pointer.
fn segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
}

fn prop_name<'b>(name: &'b ObjectPropName) -> &'b str {
    match name {
        ObjectPropName::String(lit) => &lit.value,
        ObjectPropName::Word(word) => word.value,
    }
}

fn prop_name_start(name: &ObjectPropName) -> usize {
    match name {
        ObjectPropName::String(lit) => lit.range.start,
        ObjectPropName::Word(word) => word.range.start,
    }
}

fn value_range(value: &ast::Value) -> jsonc_parser::common::Range {
    match value {
        ast::Value::StringLit(v) => v.range,
        ast::Value::NumberLit(v) => v.range,
        ast::Value::BooleanLit(v) => v.range,
        ast::Value::Object(v) => v.range,
        ast::Value::Array(v) => v.range,
        ast::Value::NullKeyword(v) => v.range,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"a\": {\"b/c\": [1, 2]},\n  \"d\": 1,\n  \"d\": \"é\"\n}";

    #[test]
    fn locates_values_and_keys() {
        let map = SourceMap::new(TEXT);
        assert_eq!(map.locate("", false), Position { line: 1, column: 1 });
        assert_eq!(
            map.locate("/a/b~1c/1", false),
            Position {
                line: 2,
                column: 20
            }
        );
        assert_eq!(map.locate("/a/b~1c", true), Position { line: 2, column: 9 });
        // The last of two duplicated keys is the one serde_json keeps.
        assert_eq!(map.locate("/d", false), Position { line: 4, column: 8 });
        // A pointer beyond the text stops at the deepest value that exists.
        assert_eq!(
            map.locate("/a/missing", false),
            Position { line: 2, column: 8 }
        );
    }

    #[test]
    fn finds_duplicate_keys() {
        let map = SourceMap::new(TEXT);
        let duplicates = map.duplicate_keys();
        assert_eq!(duplicates.len(), 1);
        assert_eq!(duplicates[0].pointer, "/d");
        assert_eq!(duplicates[0].first, Position { line: 3, column: 3 });
        assert_eq!(duplicates[0].repeated, Position { line: 4, column: 3 });
    }
}
