//! `${NAME}` in a configuration file: the forms, the two rules (values rmanager reads
//! itself, and the command lines a shell or program reads), and where each applies.
//!
//! Variables come from rmanager's environment, the top-level `env_file`s and
//! `environment`, and the `ports`, in that order of precedence (the last wins).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;

use super::dotenv;
use super::source::{SourceMap, push_segment};
use crate::error::Diagnostic;
use crate::verify::VerifierType;
use crate::words::{closest, quoted};

/// How `$` is read in a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// A value rmanager reads itself (a path, a check's argument, an `environment` value):
    /// every form is replaced, `$$` writes `$`, and an unset `${NAME}` is an error.
    Every,
    /// `executable` and `arguments`, which a shell or the program may read: only `${...}`
    /// forms naming one of the file's own variables are replaced, `$${` writes `${`, and
    /// every other `$` text is passed on untouched, as a pymanager file means it.
    FileVariablesOnly,
}

/// The variables a string may name.
#[derive(Debug, Default)]
pub struct Scope {
    values: HashMap<String, String>,
    /// The names the file itself defines (ports, top-level environment and env files).
    own: BTreeSet<String>,
}

impl Scope {
    /// rmanager's environment (what is not Unicode cannot be named, and is left out).
    pub fn from_environment() -> Scope {
        Scope {
            values: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            own: BTreeSet::new(),
        }
    }

    /// Adds (or overrides) the file's own variables.
    pub fn define(&mut self, variables: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in variables {
            self.own.insert(name.clone());
            self.values.insert(name, value);
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// A string with its variables replaced.
#[derive(Debug, Default, PartialEq)]
pub struct Expansion {
    pub text: String,
    /// The variables it named, replaced.
    pub used: Vec<String>,
    /// `${NAME}` left as it was while one of the file's variables has a name close to it:
    /// (written, meant).
    pub near_misses: Vec<(String, String)>,
}

/// `text` with its `${...}` forms replaced under `rules`; an error says which form could
/// not be, and why.
pub fn expand(text: &str, scope: &Scope, rules: Rules) -> Result<Expansion, String> {
    expand_within(text, scope, rules, 0)
}

/// How deep defaults may hold forms of their own: far beyond any use, and far from the
/// stack's end.
const MAX_DEPTH: usize = 16;

fn expand_within(
    text: &str,
    scope: &Scope,
    rules: Rules,
    depth: usize,
) -> Result<Expansion, String> {
    if depth > MAX_DEPTH {
        return Err(format!("forms nested more than {MAX_DEPTH} deep"));
    }
    let mut expansion = Expansion::default();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        expansion.text.push_str(&rest[..at]);
        rest = &rest[at..];
        let escape = match rules {
            Rules::Every => rest.starts_with("$$").then_some(("$$", "$")),
            Rules::FileVariablesOnly if rest.starts_with("$${") => Some(("$${", "${")),
            // `$$` is the shell's pid, passed on (and must not start a `${` below).
            Rules::FileVariablesOnly => rest.starts_with("$$").then_some(("$$", "$$")),
        };
        if let Some((written, meant)) = escape {
            expansion.text.push_str(meant);
            rest = &rest[written.len()..];
            continue;
        }
        if !rest.starts_with("${") {
            expansion.text.push('$');
            rest = &rest[1..];
            continue;
        }
        let Some(close) = closing_brace(rest) else {
            if rules == Rules::Every {
                return Err(format!(
                    "{} has no closing }} (write $$ for a literal $)",
                    quoted(rest)
                ));
            }
            expansion.text.push_str(rest);
            return Ok(expansion);
        };
        let whole = &rest[..=close];
        let form = Form::parse(&rest[2..close]);
        match (rules, form) {
            (Rules::Every, None) => {
                return Err(format!(
                    "{} is not a form rmanager replaces: ${{NAME}}, ${{NAME:-default}}, \
                     ${{NAME-default}} or ${{NAME:?message}} (write $$ for a literal $)",
                    quoted(whole)
                ));
            }
            (Rules::FileVariablesOnly, Some(form)) if !scope.own.contains(form.name) => {
                let meant = closest(form.name, scope.own.iter().map(String::as_str));
                if let Some(meant) = meant.filter(|m| *m != form.name) {
                    expansion
                        .near_misses
                        .push((form.name.to_owned(), meant.to_owned()));
                }
                expansion.text.push_str(whole);
            }
            (Rules::FileVariablesOnly, None) => expansion.text.push_str(whole),
            (_, Some(form)) => {
                let value = form.value(scope, rules, depth)?;
                expansion.used.push(form.name.to_owned());
                expansion.used.extend(value.used);
                expansion.text.push_str(&value.text);
            }
        }
        rest = &rest[close + 1..];
    }
    expansion.text.push_str(rest);
    Ok(expansion)
}

/// Where the `}` that closes the `${` at the start of `text` is (a default may hold
/// forms of its own).
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// What is between `${` and `}`.
struct Form<'t> {
    name: &'t str,
    kind: FormKind<'t>,
}

enum FormKind<'t> {
    Plain,
    /// `:-`: the default when unset or empty.
    DefaultIfEmpty(&'t str),
    /// `-`: the default when unset.
    DefaultIfUnset(&'t str),
    /// `:?`: an error with this message when unset or empty.
    Required(&'t str),
}

impl<'t> Form<'t> {
    fn parse(inner: &'t str) -> Option<Form<'t>> {
        let end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let (name, rest) = inner.split_at(end);
        if !dotenv::is_name(name) {
            return None;
        }
        let kind = if rest.is_empty() {
            FormKind::Plain
        } else if let Some(default) = rest.strip_prefix(":-") {
            FormKind::DefaultIfEmpty(default)
        } else if let Some(message) = rest.strip_prefix(":?") {
            FormKind::Required(message)
        } else if let Some(default) = rest.strip_prefix('-') {
            FormKind::DefaultIfUnset(default)
        } else {
            return None;
        };
        Some(Form { name, kind })
    }

    fn value(&self, scope: &Scope, rules: Rules, depth: usize) -> Result<Expansion, String> {
        let set = scope.get(self.name);
        let name = self.name;
        let text = |value: &str| {
            Ok(Expansion {
                text: value.to_owned(),
                ..Expansion::default()
            })
        };
        match (&self.kind, set) {
            (FormKind::Plain, Some(value)) => text(value),
            (FormKind::Plain, None) => Err(format!("${{{name}}} is not set")),
            (FormKind::DefaultIfEmpty(_), Some(value)) if !value.is_empty() => text(value),
            (FormKind::DefaultIfUnset(_), Some(value)) => text(value),
            (FormKind::DefaultIfEmpty(default) | FormKind::DefaultIfUnset(default), _) => {
                expand_within(default, scope, rules, depth + 1)
            }
            (FormKind::Required(_), Some(value)) if !value.is_empty() => text(value),
            (FormKind::Required(message), value) => Err(format!(
                "${{{name}}} is {}: {message}",
                if value.is_some() { "empty" } else { "not set" }
            )),
        }
    }
}

/// The keys of `http` that take a number, which a `${...}` may give: the schema admits
/// such a string there, and it becomes a number once replaced. A check's kind names its
/// own (`VerifierType::number_arguments`).
pub const CONTROL_API_NUMBERS: [&str; 1] = ["port"];

/// How the ports a file asks for (0: a free one) are given out.
pub type Allocate<'a> = &'a mut dyn FnMut(&IndexMap<String, u16>) -> IndexMap<String, u16>;

/// What replacing a file's variables found.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The top-level env files' variables, then `environment`'s, in order.
    pub environment: Vec<(String, String)>,
    /// Each process's own: its env files', then its `environment`'s.
    pub process_environments: Vec<Vec<(String, String)>>,
    /// The file's variables each process names, in its entry.
    pub uses: Vec<BTreeSet<String>>,
    /// A number came from a variable: the schema must look again.
    pub numbers_replaced: bool,
    pub warnings: Vec<Diagnostic>,
}

/// Replaces the variables in `config` (checked by the schema), where each rule applies.
/// `allocate` turns the requested ports into the ports given out.
pub fn resolve(
    config: &mut Value,
    source: &SourceMap,
    allocate: Allocate,
) -> Result<Resolved, Vec<Diagnostic>> {
    let mut walk = Walk {
        source,
        scope: Scope::from_environment(),
        errors: Vec::new(),
        resolved: Resolved::default(),
        used: BTreeSet::new(),
    };
    let requested: IndexMap<String, u16> = config
        .get("ports")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, port)| Some((name.clone(), u16::try_from(port.as_u64()?).ok()?)))
        .collect();
    let ports = allocate(&requested);
    let port_variables = || ports.iter().map(|(k, v)| (k.clone(), v.to_string()));
    // Each layer is read with the ones below it, and the ports over all.
    walk.scope.define(port_variables());
    let files = walk.env_files(config, "");
    walk.scope.define(files.clone());
    walk.scope.define(port_variables());
    let environment = walk.environment(config, "");
    walk.scope.define(environment.clone());
    walk.scope.define(port_variables());
    walk.resolved.environment = [files, environment].concat();

    if let Some(http) = config.get_mut("http") {
        walk.strings(http, "/http", &["host", "port"], &CONTROL_API_NUMBERS);
    }
    let names: Vec<String> = config
        .get("processes")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for name in names {
        let mut at = "/processes".to_owned();
        push_segment(&mut at, &name);
        let process = &mut config["processes"][&name];
        walk.used.clear();
        let own = [walk.env_files(process, &at), walk.environment(process, &at)].concat();
        walk.resolved.process_environments.push(own);
        if let Some(executable) = process.get_mut("executable") {
            walk.string(
                executable,
                &format!("{at}/executable"),
                Rules::FileVariablesOnly,
            );
        }
        if let Some(Value::Array(arguments)) = process.get_mut("arguments") {
            for (i, argument) in arguments.iter_mut().enumerate() {
                walk.string(
                    argument,
                    &format!("{at}/arguments/{i}"),
                    Rules::FileVariablesOnly,
                );
            }
        }
        if let Some(options) = process.get_mut("options") {
            let at = format!("{at}/options");
            walk.strings(options, &at, &["working_directory", "redirect_output"], &[]);
        }
        let kind = process
            .pointer("/verifier/type")
            .and_then(Value::as_str)
            .and_then(VerifierType::find);
        if let Some(arguments) = process.pointer_mut("/verifier/arguments") {
            let at = format!("{at}/verifier/arguments");
            walk.everything(arguments, &at, Rules::Every, kind);
        }
        let used = std::mem::take(&mut walk.used);
        walk.resolved.uses.push(used);
    }
    match walk.errors.is_empty() {
        true => Ok(walk.resolved),
        false => Err(walk.errors),
    }
}

struct Walk<'s, 't> {
    source: &'s SourceMap<'t>,
    scope: Scope,
    errors: Vec<Diagnostic>,
    resolved: Resolved,
    /// The file's variables the current process names.
    used: BTreeSet<String>,
}

impl Walk<'_, '_> {
    fn report(&mut self, pointer: &str, message: String, warning: bool) {
        let at = self.source.locate(pointer, false);
        let diagnostic = Diagnostic {
            line: at.line,
            column: at.column,
            pointer: pointer.to_owned(),
            message,
        };
        match warning {
            true => self.resolved.warnings.push(diagnostic),
            false => self.errors.push(diagnostic),
        }
    }

    /// Replaces the variables in the string at `pointer`, under `rules`.
    fn string(&mut self, value: &mut Value, pointer: &str, rules: Rules) -> bool {
        let Value::String(text) = value else {
            return false;
        };
        if !text.contains('$') {
            return false;
        }
        match expand(text, &self.scope, rules) {
            Ok(expansion) => {
                for (written, meant) in &expansion.near_misses {
                    self.report(
                        pointer,
                        format!(
                            "${{{written}}} is not one of the file's variables, and is passed on \
                             as it is; did you mean ${{{meant}}}?"
                        ),
                        true,
                    );
                }
                let own = expansion.used.into_iter();
                self.used
                    .extend(own.filter(|name| self.scope.own.contains(name)));
                *text = expansion.text;
                true
            }
            Err(message) => {
                self.report(pointer, message, false);
                false
            }
        }
    }

    /// The strings among `keys` of `object`, which rmanager reads itself; those among
    /// `numbers` become numbers.
    fn strings(&mut self, object: &mut Value, pointer: &str, keys: &[&str], numbers: &[&str]) {
        for key in keys {
            if let Some(value) = object.get_mut(*key) {
                let at = format!("{pointer}/{key}");
                if self.string(value, &at, Rules::Every) && numbers.contains(key) {
                    self.number(value, &at);
                }
            }
        }
    }

    /// Every string in `value`, at any depth, under `rules`; at the top of the arguments
    /// of a check of `kind`, a number argument's string becomes a number, and a command
    /// line keeps its meaning as `executable` does.
    fn everything(
        &mut self,
        value: &mut Value,
        pointer: &str,
        rules: Rules,
        kind: Option<&VerifierType>,
    ) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    let mut at = pointer.to_owned();
                    push_segment(&mut at, key);
                    let named = |keys: fn(&VerifierType) -> &[&str]| {
                        kind.is_some_and(|kind| keys(kind).contains(&key.as_str()))
                    };
                    let rules = match named(|kind| kind.command_arguments) {
                        true => Rules::FileVariablesOnly,
                        false => rules,
                    };
                    let replaced = self.string(child, &at, rules);
                    if replaced && named(|kind| kind.number_arguments) {
                        self.number(child, &at);
                    } else {
                        self.everything(child, &at, rules, None);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let at = format!("{pointer}/{i}");
                    self.string(item, &at, rules);
                    self.everything(item, &at, rules, None);
                }
            }
            _ => {}
        }
    }

    /// The replaced string at `pointer`, as the number it must be.
    fn number(&mut self, value: &mut Value, pointer: &str) {
        let Value::String(text) = value else {
            return;
        };
        let number = text.trim().parse::<serde_json::Number>().ok();
        match number {
            Some(number) => {
                *value = Value::Number(number);
                self.resolved.numbers_replaced = true;
            }
            None => {
                let message = format!("expected a number, found {} once replaced", quoted(text));
                self.report(pointer, message, false);
            }
        }
    }

    /// The variables of the `env_file`s of `object` (at `pointer`), in order.
    fn env_files(&mut self, object: &mut Value, pointer: &str) -> Vec<(String, String)> {
        let at = format!("{pointer}/env_file");
        let paths: Vec<(String, &mut Value)> = match object.get_mut("env_file") {
            Some(Value::Array(paths)) => paths
                .iter_mut()
                .enumerate()
                .map(|(i, path)| (format!("{at}/{i}"), path))
                .collect(),
            Some(path) => vec![(at, path)],
            None => return Vec::new(),
        };
        let mut variables = Vec::new();
        for (at, path) in paths {
            self.string(path, &at, Rules::Every);
            let Some(path) = path.as_str() else {
                continue;
            };
            let text = match std::fs::read_to_string(Path::new(path)) {
                Ok(text) => text,
                Err(e) => {
                    self.report(&at, format!("cannot read {}: {e}", quoted(path)), false);
                    continue;
                }
            };
            match dotenv::parse(&text) {
                Ok(read) => variables.extend(read),
                Err((line, message)) => {
                    self.report(&at, format!("{path}:{line}: {message}"), false)
                }
            }
        }
        variables
    }

    /// The `environment` of `object` (at `pointer`), its values replaced.
    fn environment(&mut self, object: &mut Value, pointer: &str) -> Vec<(String, String)> {
        let Some(Value::Object(map)) = object.get_mut("environment") else {
            return Vec::new();
        };
        let mut variables = Vec::new();
        for (name, value) in map.iter_mut() {
            let mut at = format!("{pointer}/environment");
            push_segment(&mut at, name);
            self.string(value, &at, Rules::Every);
            if let Some(value) = value.as_str() {
                variables.push((name.clone(), value.to_owned()));
            }
        }
        variables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let mut scope = Scope::default();
        scope.values.insert("HOME".into(), "/home/me".into());
        scope.values.insert("EMPTY".into(), String::new());
        scope.define([("WEB_PORT".to_owned(), "8080".to_owned())]);
        scope
    }

    fn every(text: &str) -> Result<String, String> {
        expand(text, &scope(), Rules::Every).map(|e| e.text)
    }

    fn command(text: &str) -> Expansion {
        expand(text, &scope(), Rules::FileVariablesOnly).unwrap()
    }

    #[test]
    fn every_form_is_replaced_in_values_rmanager_reads() {
        assert_eq!(every("${HOME}/data").unwrap(), "/home/me/data");
        assert_eq!(
            every("${UNSET:-x}|${EMPTY:-y}|${HOME:-z}").unwrap(),
            "x|y|/home/me"
        );
        assert_eq!(every("${UNSET-x}|${EMPTY-y}").unwrap(), "x|");
        assert_eq!(every("${UNSET:-${WEB_PORT}}").unwrap(), "8080");
        assert_eq!(
            every("$$HOME costs $5, ${HOME:?gone}").unwrap(),
            "$HOME costs $5, /home/me"
        );
    }

    #[test]
    fn each_error_says_what_is_missing() {
        assert_eq!(every("${API_PORT}").unwrap_err(), "${API_PORT} is not set");
        assert_eq!(
            every("${TOKEN:?set it in .env}").unwrap_err(),
            "${TOKEN} is not set: set it in .env"
        );
        assert_eq!(
            every("${EMPTY:?needed}").unwrap_err(),
            "${EMPTY} is empty: needed"
        );
        assert!(every("${HOME").unwrap_err().contains("has no closing }"));
        let deep = format!("{}{}", "${A:-".repeat(100_000), "}".repeat(100_000));
        assert_eq!(every(&deep).unwrap_err(), "forms nested more than 16 deep");
        assert!(
            every("${HOME:+x}")
                .unwrap_err()
                .starts_with("\"${HOME:+x}\" is not a form rmanager replaces")
        );
    }

    #[test]
    fn command_lines_keep_their_meaning_but_for_the_files_variables() {
        let untouched = "cd sub && run --root ${PWD}; x=1; echo ${x:-none} $$ $HOME ${#x}";
        assert_eq!(command(untouched).text, untouched);
        let replaced = command("serve --port ${WEB_PORT} --pid $$ $${WEB_PORT}");
        assert_eq!(replaced.text, "serve --port 8080 --pid $$ ${WEB_PORT}");
        assert_eq!(replaced.used, ["WEB_PORT"]);
        let typo = command("serve --port ${WEB_PROT}");
        assert_eq!(typo.text, "serve --port ${WEB_PROT}");
        assert_eq!(
            typo.near_misses,
            [("WEB_PROT".to_owned(), "WEB_PORT".to_owned())]
        );
    }
}
