//! The JSON Schema of the configuration file: generated from the types in `model`, and used
//! to check a file before it is deserialized, so that every problem is reported at once and
//! in plain words.

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::interpolate::CONTROL_API_NUMBERS;
use super::model::ConfigFile;
use super::source::{SourceMap, push_segment};
use crate::error::Diagnostic;
use crate::verify::VERIFIER_TYPES;
use crate::words::{closest, quoted};

/// The published schema, as generated from the configuration types.
pub fn generate() -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<ConfigFile>()
        .to_value();
    unwrap_descriptions(&mut schema);
    admit_variables(&mut schema);
    schema
}

/// Where a number may be given as a `${NAME}` string: the number arguments of every check
/// and the control API's port. The message for a wrong value stays the number's.
fn admit_variables(schema: &mut Value) {
    let defs = schema["$defs"].clone();
    let Some(defs_mut) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        return;
    };
    // Each kind's arguments, by the name of their definition, and the control API.
    let mut numbers: Vec<(String, &[&str])> = VERIFIER_TYPES
        .iter()
        .filter_map(|kind| {
            let mut generator = SchemaSettings::draft2020_12().into_generator();
            let reference = (kind.arguments_schema)(&mut generator);
            let name = reference
                .get("$ref")?
                .as_str()?
                .rsplit('/')
                .next()?
                .to_owned();
            Some((name, kind.number_arguments))
        })
        .collect();
    numbers.push(("HttpConfig".to_owned(), &CONTROL_API_NUMBERS));
    for (name, keys) in numbers {
        let Some(holder) = defs_mut.get_mut(&name) else {
            continue;
        };
        for key in keys {
            let Some(property) = holder.pointer_mut(&format!("/properties/{key}")) else {
                continue;
            };
            let Value::Object(mut number) = property.take() else {
                continue;
            };
            let mut wrapper = serde_json::Map::new();
            for moved in ["description", "default"] {
                if let Some(value) = number.remove(moved) {
                    wrapper.insert(moved.to_owned(), value);
                }
            }
            let referenced = number
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| defs.pointer(r.trim_start_matches('#').trim_start_matches("/$defs")));
            let message = match referenced.and_then(|d| d.get("errorMessage")) {
                Some(message) => message.clone(),
                None => json!(format!(
                    "expected an integer from {} to {}",
                    number["minimum"], number["maximum"]
                )),
            };
            wrapper.insert(
                "anyOf".to_owned(),
                json!([number, {"type": "string", "pattern": "\\$\\{",
                                "description": "A `${NAME}` that gives the number."}]),
            );
            wrapper.insert("errorMessage".to_owned(), message);
            *property = Value::Object(wrapper);
        }
    }
}

/// Doc comments are wrapped at 100 columns; editors show descriptions as flowing text, so
/// join the lines of each paragraph.
fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|paragraph| paragraph.replace('\n', " "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => unwrap_descriptions(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// The schema as committed in schema/rmanager.schema.json.
pub fn to_pretty_json() -> String {
    let mut text = serde_json::to_string_pretty(&generate()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// Checks configuration values against the schema.
pub struct SchemaChecker {
    schema: Value,
    validator: jsonschema::Validator,
}

impl SchemaChecker {
    pub fn new() -> Self {
        let schema = generate();
        let validator = jsonschema::validator_for(&schema)
            .expect("the generated schema is a valid JSON Schema (tested)");
        SchemaChecker { schema, validator }
    }

    /// The ways `instance` breaks the schema, located in `source`: all of them, up to `limit`.
    pub fn check(&self, instance: &Value, source: &SourceMap, limit: usize) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        for error in self.validator.iter_errors(instance).take(limit) {
            for (pointer, at_key, message) in self.describe(&error) {
                let at = source.locate(&pointer, at_key);
                diagnostics.push(Diagnostic {
                    line: at.line,
                    column: at.column,
                    pointer,
                    message,
                });
            }
        }
        diagnostics
    }

    /// The schema object that holds the keyword an error comes from.
    fn node(&self, error: &ValidationError) -> &Value {
        let path = error.schema_path().as_str();
        let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        self.schema.pointer(parent).unwrap_or(&Value::Null)
    }

    /// Turns one validation error into (pointer, point at the key, message) triples.
    fn describe(&self, error: &ValidationError) -> Vec<(String, bool, String)> {
        let pointer = error.instance_path().as_str().to_owned();
        let node = self.node(error);
        let found = describe_value(error.instance());
        // A key that is no name: at the key, said of the key, not of the object.
        if let ValidationErrorKind::PropertyNames { error: key } = error.kind() {
            let key = key.instance().as_str().unwrap_or_default();
            let names = node.get("propertyNames").unwrap_or(node);
            let expected = names.get("errorMessage").and_then(Value::as_str);
            let mut at = pointer;
            push_segment(&mut at, key);
            let message = format!(
                "{}, found {}",
                expected.unwrap_or("not an allowed key"),
                quoted(key)
            );
            return vec![(at, true, message)];
        }
        // A schema's own errorMessage (which VS Code shows too) says best what is allowed.
        if let Some(expected) = node.get("errorMessage").and_then(Value::as_str) {
            return vec![(pointer, false, format!("{expected}, found {found}"))];
        }
        let message = match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed: Vec<&str> = node
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|props| props.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                return unexpected
                    .iter()
                    .map(|key| {
                        let mut at = pointer.clone();
                        push_segment(&mut at, key);
                        (at, true, unknown_key_message(key, &allowed))
                    })
                    .collect();
            }
            ValidationErrorKind::Required { property } => {
                format!("missing required key {property}")
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => article(&t.to_string()),
                    TypeKind::Multiple(set) => set
                        .iter()
                        .map(|t| article(&t.to_string()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                format!("expected {expected}, found {found}")
            }
            ValidationErrorKind::Enum { options } => {
                let options: Vec<&Value> = options.as_array().into_iter().flatten().collect();
                one_of_message(&options, error.instance())
            }
            ValidationErrorKind::Constant { expected_value } => {
                format!("expected {expected_value}, found {found}")
            }
            ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
                let consts: Vec<&Value> = ["oneOf", "anyOf"]
                    .iter()
                    .filter_map(|k| node.get(*k).and_then(Value::as_array))
                    .flatten()
                    .filter_map(|branch| branch.get("const"))
                    .collect();
                if consts.is_empty() {
                    format!("{found} is not any of the allowed forms")
                } else {
                    one_of_message(&consts, error.instance())
                }
            }
            ValidationErrorKind::Minimum { limit } => {
                format!("expected a number >= {limit}, found {found}")
            }
            ValidationErrorKind::Maximum { limit } => {
                format!("expected a number <= {limit}, found {found}")
            }
            ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_owned(),
            ValidationErrorKind::MinProperties { limit } => {
                format!(
                    "must have at least {limit} entr{}",
                    if *limit == 1 { "y" } else { "ies" }
                )
            }
            _ => error.to_string(),
        };
        vec![(pointer, false, message)]
    }
}

impl Default for SchemaChecker {
    fn default() -> Self {
        Self::new()
    }
}

/// "unknown key", with the closest allowed key or else all of them.
pub fn unknown_key_message(key: &str, allowed: &[&str]) -> String {
    let mut message = format!("unknown key {}", quoted(key));
    if let Some(suggestion) = closest(key, allowed.iter().copied()) {
        message.push_str(&format!("; did you mean {}?", quoted(suggestion)));
    } else if !allowed.is_empty() {
        message.push_str("; allowed here: ");
        message.push_str(&allowed.join(", "));
    }
    message
}

/// A value as a user would recognise it in their file, kept short.
fn describe_value(value: &Value) -> String {
    match value {
        Value::Object(_) => "an object".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::String(s) => quoted(s),
        other => other.to_string(),
    }
}

/// "expected one of ...", with the likely intended value when the input is a near miss.
fn one_of_message(allowed: &[&Value], found: &Value) -> String {
    let mut message = format!(
        "expected one of {}, found {}",
        list(allowed),
        describe_value(found)
    );
    let candidates = allowed.iter().filter_map(|v| v.as_str());
    if let Some(suggestion) = found.as_str().and_then(|s| closest(s, candidates)) {
        message.push_str(&format!("; did you mean {}?", quoted(suggestion)));
    }
    message
}

fn article(type_name: &str) -> String {
    match type_name {
        "integer" | "array" | "object" => format!("an {type_name}"),
        "null" => "null".to_owned(),
        _ => format!("a {type_name}"),
    }
}

fn list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["executable", "arguments", "options", "verifier"];
        assert_eq!(closest("optoins", keys.into_iter()), Some("options"));
        assert_eq!(closest("Arguments", keys.into_iter()), Some("arguments"));
        assert_eq!(closest("colour", keys.into_iter()), None);
        assert_eq!(crate::words::edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn generated_schema_is_a_valid_draft_2020_12_schema() {
        jsonschema::meta::validate(&generate()).expect("valid against its meta-schema");
        SchemaChecker::new();
    }

    /// Editors complete a verifier's arguments from the `then` branch matching its type.
    #[test]
    fn each_verifier_type_describes_its_own_arguments() {
        let schema = generate();
        let branches = schema["$defs"]["Verifier"]["allOf"].as_array().unwrap();
        let arguments_of = |type_name: &str| {
            let branch = branches
                .iter()
                .find(|b| {
                    b["if"]["properties"]["type"]["enum"]
                        .as_array()
                        .unwrap()
                        .contains(&Value::from(type_name))
                })
                .unwrap_or_else(|| panic!("a branch for {type_name}"));
            let reference = branch["then"]["properties"]["arguments"]["$ref"]
                .as_str()
                .unwrap();
            let target = schema.pointer(reference.trim_start_matches('#')).unwrap();
            let mut keys: Vec<&str> = target["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort();
            keys
        };
        let http = ["headers", "interval", "method", "status", "timeout", "url"];
        assert_eq!(arguments_of("http"), http);
        assert_eq!(arguments_of("pymutils.http_verifier.HttpOkVerifier"), http);
        let exited = ["expect_code", "timeout"];
        assert_eq!(arguments_of("exited"), exited);
        assert_eq!(
            arguments_of("pymutils.exited_verifier.ExitedVerifier"),
            exited
        );
        assert_eq!(arguments_of("tcp"), ["host", "interval", "port", "timeout"]);
        assert_eq!(
            arguments_of("command"),
            ["command", "interval", "shell", "timeout"]
        );
        assert_eq!(arguments_of("log"), ["pattern", "timeout"]);
        assert_eq!(arguments_of("file"), ["interval", "path", "timeout"]);
    }
}
