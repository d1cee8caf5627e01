//! Reading a configuration file: read -> parse -> schema -> semantic checks -> deserialize.
//! Every problem found is reported at once, each at its line and column. The spec layer
//! resolves the checked file (`ManagerSpec::load`).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use super::interpolate::Allocate;
use super::interpolate::{self, Resolved};
use super::model::ConfigFile;
use super::schema::SchemaChecker;
use super::source::{SourceMap, push_segment};
use crate::error::{Diagnostic, Error};
use crate::verify::{VERIFIER_TYPES, VerifierType};
use crate::words::{closest, quoted, shown};

/// The largest configuration file read. Real ones are kilobytes (a thousand processes take
/// 300 KiB); this bounds the memory and time a wrong file can cost, since the validator
/// builds every error of a file before the first is reported.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The most problems reported for one file: past that, a list helps nobody.
pub const MAX_DIAGNOSTICS: usize = 100;

/// The file used when none is named, and pymanager's, used when only it exists.
pub const DEFAULT_FILE: &str = "rmanager.json";
pub const PYMANAGER_FILE: &str = "pymanager.json";

/// Which file to read: the one named, else rmanager.json, else pymanager.json when only
/// that one exists.
pub fn choose_file(named: Option<&Path>) -> PathBuf {
    match named {
        Some(path) => path.to_owned(),
        None if !Path::new(DEFAULT_FILE).exists() && Path::new(PYMANAGER_FILE).exists() => {
            PathBuf::from(PYMANAGER_FILE)
        }
        None => PathBuf::from(DEFAULT_FILE),
    }
}

/// A checked file, its variables replaced.
pub struct Loaded {
    pub config: ConfigFile,
    /// The file as resolved, defaults filled in, for `--print-config`.
    pub resolved: Value,
    /// The environments and ports, what each process names, and the warnings.
    pub variables: Resolved,
}

/// Reads and checks the configuration at `path`.
pub fn load(path: &Path, allocate: Allocate) -> Result<Loaded, Error> {
    check(path, &read(path)?, allocate)
}

/// Checks a configuration given as text (messages name it `<string>`).
pub fn load_str(text: &str, allocate: Allocate) -> Result<Loaded, Error> {
    check(Path::new("<string>"), text.as_bytes(), allocate)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    let unreadable = |source| Error::ConfigUnreadable {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => Error::ConfigNotFound {
            path: path.to_owned(),
            fallback: (path == Path::new(DEFAULT_FILE)).then(|| PathBuf::from(PYMANAGER_FILE)),
        },
        _ => unreadable(source),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok(bytes)
}

/// Checks the bytes of a configuration file and returns it typed, its variables replaced.
pub fn check(path: &Path, bytes: &[u8], allocate: Allocate) -> Result<Loaded, Error> {
    let invalid = |diagnostics| Error::ConfigInvalid {
        path: path.to_owned(),
        diagnostics,
    };
    let at_start = |message: String| {
        vec![Diagnostic {
            line: 1,
            column: 1,
            pointer: String::new(),
            message,
        }]
    };

    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(invalid(at_start(format!(
            "the file is larger than {} MiB, the most a configuration file may be",
            MAX_FILE_BYTES >> 20
        ))));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.strip_prefix('\u{feff}').unwrap_or(text),
        Err(e) => {
            let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
            let last_line = valid.rsplit('\n').next().unwrap_or_default();
            return Err(invalid(vec![Diagnostic {
                line: valid.matches('\n').count() + 1,
                column: last_line.chars().count() + 1,
                pointer: String::new(),
                message: format!(
                    "not UTF-8 text (invalid byte 0x{:02x}); save the file as UTF-8",
                    bytes[e.valid_up_to()]
                ),
            }]));
        }
    };
    if text.trim().is_empty() {
        return Err(invalid(at_start(
            "the file is empty; expected a JSON object with \"processes\"".to_owned(),
        )));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        invalid(vec![Diagnostic {
            line: e.line(),
            column: e.column(),
            pointer: String::new(),
            message: syntax_message(&e),
        }])
    })?;

    let source = SourceMap::new(text);
    let mut diagnostics = SchemaChecker::new().check(&value, &source, MAX_DIAGNOSTICS);
    let no_processes = match value.get("processes") {
        None => value.is_object(),
        Some(processes) => processes.as_object().is_some_and(|p| p.is_empty()),
    };
    diagnostics.extend(duplicate_keys(&source));
    if no_processes && diagnostics.len() == 1 {
        return Err(Error::NoProcesses {
            path: path.to_owned(),
        });
    }
    let mut value = value;
    if !diagnostics.is_empty() {
        // Without the file's shape, no variable can be read: what else is wrong, as written.
        diagnostics.extend(semantic_checks(&value, &source));
    } else {
        // What the schema cannot check is checked as rmanager will use it: replaced.
        let resolved = interpolate::resolve(&mut value, &source, allocate);
        let unreplaced: Vec<String> = match &resolved {
            Ok(_) => Vec::new(),
            Err(found) => found.iter().map(|d| d.pointer.clone()).collect(),
        };
        diagnostics.extend(
            semantic_checks(&value, &source)
                .into_iter()
                .filter(|d| !unreplaced.contains(&d.pointer)),
        );
        match resolved {
            // A number given by a variable is checked as a number now.
            Ok(variables) if diagnostics.is_empty() => {
                if variables.numbers_replaced {
                    diagnostics = SchemaChecker::new().check(&value, &source, MAX_DIAGNOSTICS);
                }
                if diagnostics.is_empty() {
                    return typed(value, variables).map_err(|e| invalid(at_start(e)));
                }
            }
            Ok(_) => {}
            Err(found) => diagnostics.extend(found),
        }
    }
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics.truncate(MAX_DIAGNOSTICS);
    Err(invalid(diagnostics))
}

/// The checked file as its types. The schema admits only what deserializes, so the error
/// is a safety net, not a message users see.
fn typed(mut value: Value, variables: Resolved) -> Result<Loaded, String> {
    whole_numbers_as_integers(&mut value);
    let config: ConfigFile = serde_json::from_value(value).map_err(|e| e.to_string())?;
    Ok(Loaded {
        resolved: serde_json::to_value(&config).map_err(|e| e.to_string())?,
        config,
        variables,
    })
}

/// JSON Schema counts `5001.0` and `-0` as integers, and so does the published schema;
/// serde reads them as floats, which an integer field refuses. So they become integers
/// before the typed model reads them (a seconds field takes either).
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                if f.abs() < 2f64.powi(53) {
                    *n = serde_json::Number::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// serde_json's message without its trailing " at line L column C", which we print first.
fn syntax_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    format!("not valid JSON: {message}")
}

fn duplicate_keys(source: &SourceMap) -> Vec<Diagnostic> {
    source
        .duplicate_keys()
        .into_iter()
        .map(|d| {
            let what = if d.pointer.starts_with("/processes/") && d.pointer.matches('/').count() == 2 {
                "process name"
            } else {
                "key"
            };
            Diagnostic {
                line: d.repeated.line,
                column: d.repeated.column,
                message: format!(
                    "duplicate {what} {} (first at line {}); JSON keeps only the last, so rename or remove one",
                    quoted(&d.key), d.first.line
                ),
                pointer: d.pointer,
            }
        })
        .collect()
}

/// `depends_on`: every name must be another process; with sequential startup, an earlier
/// one; and no cycles.
fn dependency_checks(config: &Value, report: &mut impl FnMut(String, bool, String)) {
    let Some(processes) = config.get("processes").and_then(Value::as_object) else {
        return;
    };
    let names: Vec<&str> = processes.keys().map(String::as_str).collect();
    let parallel = config.get("startup").and_then(Value::as_str) == Some("parallel");
    let pointer_of = |name: &str| {
        let mut pointer = "/processes".to_owned();
        push_segment(&mut pointer, name);
        pointer + "/depends_on"
    };
    let mut edges = vec![Vec::new(); names.len()];
    for (index, (name, process)) in processes.iter().enumerate() {
        let list = process.get("depends_on").and_then(Value::as_array);
        for (i, other) in list.into_iter().flatten().enumerate() {
            let Some(other) = other.as_str() else {
                continue; // the schema reports it
            };
            let at = format!("{}/{i}", pointer_of(name));
            match names.iter().position(|n| *n == other) {
                None => {
                    let mut message = format!("no process is named {}", quoted(other));
                    if let Some(suggestion) = closest(other, names.iter().copied()) {
                        message.push_str(&format!("; did you mean {}?", quoted(suggestion)));
                    }
                    report(at, false, message);
                }
                Some(o) if o == index => {
                    report(
                        at,
                        false,
                        format!("{} cannot depend on itself", quoted(name)),
                    );
                }
                Some(o) if o > index && !parallel => report(
                    at,
                    false,
                    format!(
                        "{} comes later in the file; with sequential startup a process can depend only on earlier ones (or set \"startup\": \"parallel\")",
                        quoted(other)
                    ),
                ),
                Some(o) => edges[index].push(o),
            }
        }
    }
    for cycle in cycles(&edges) {
        let first = names[cycle[0]];
        let mut path: Vec<String> = cycle.iter().map(|&i| shown(names[i])).collect();
        // A cycle through hundreds of processes is named by its ends.
        let size = path.len();
        if size > 12 {
            path.splice(5..size - 5, ["...".to_owned()]);
        }
        let mut message = format!("dependency cycle: {} -> {}", path.join(" -> "), path[0]);
        if size > 12 {
            message.push_str(&format!(" ({size} processes)"));
        }
        report(pointer_of(first), true, message);
    }
}

/// Every cycle in a graph given as adjacency lists, each once, starting at its first node
/// in file order. Depth-first with a stack of its own: a chain of thousands of processes
/// must not overflow the thread's.
fn cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; edges.len()];
    let mut found = Vec::new();
    for root in 0..edges.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // The path from `root`, each node with the index of its next edge to follow.
        let mut path = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        while let Some((node, next_edge)) = path.last_mut() {
            let Some(&next) = edges[*node].get(*next_edge) else {
                marks[*node] = Mark::Done;
                path.pop();
                continue;
            };
            *next_edge += 1;
            match marks[next] {
                Mark::New => {
                    marks[next] = Mark::OnPath;
                    path.push((next, 0));
                }
                Mark::OnPath => {
                    let start = path.iter().position(|&(n, _)| n == next).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[start..].iter().map(|&(n, _)| n).collect();
                    let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                    cycle.rotate_left(first);
                    found.push(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    found
}

fn semantic_checks(config: &Value, source: &SourceMap) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut report = |pointer: String, at_key: bool, message: String| {
        let at = source.locate(&pointer, at_key);
        found.push(Diagnostic {
            line: at.line,
            column: at.column,
            pointer,
            message,
        });
    };
    let empty = serde_json::Map::new();
    let object = |key| config.get(key).and_then(Value::as_object).unwrap_or(&empty);

    if config.get("keep-alive").is_some() && config.get("keep_alive").is_some() {
        report(
            "/keep_alive".to_owned(),
            true,
            "both \"keep-alive\" and \"keep_alive\" are given; keep one".to_owned(),
        );
    }

    let http = object("http");
    if http.contains_key("token") && http.contains_key("token_env") {
        report(
            "/http/token_env".to_owned(),
            true,
            "\"token\" and \"token_env\" exclude each other; keep one".to_owned(),
        );
    }

    let modules = object("modules");
    let pymanager_names: Vec<(&str, &str)> =
        VERIFIER_TYPES.iter().filter_map(|t| t.pymanager).collect();
    let builtin_modules: Vec<&str> = pymanager_names.iter().map(|(module, _)| *module).collect();
    for (module, definition) in modules {
        let mut pointer = "/modules".to_owned();
        push_segment(&mut pointer, module);
        let classes: Vec<&str> = pymanager_names
            .iter()
            .filter(|(m, _)| m == module)
            .map(|(_, class)| *class)
            .collect();
        if classes.is_empty() {
            let mut message = format!("unknown module {}", quoted(module));
            if let Some(suggestion) = closest(module, builtin_modules.iter().copied()) {
                message.push_str(&format!("; did you mean {}?", quoted(suggestion)));
            }
            message.push_str(&format!(
                " rmanager runs no Python code; its modules are {}",
                builtin_modules.join(", ")
            ));
            report(pointer, true, message);
            continue;
        }
        let verifiers = definition.get("verifiers").and_then(Value::as_array);
        for (i, class) in verifiers.into_iter().flatten().enumerate() {
            let Some(class) = class.as_str() else {
                continue;
            };
            if !classes.contains(&class) {
                let hint = match closest(class, classes.iter().copied()) {
                    Some(suggestion) => format!("did you mean {}?", quoted(suggestion)),
                    None => format!("it provides {}", classes.join(", ")),
                };
                report(
                    format!("{pointer}/verifiers/{i}"),
                    false,
                    format!(
                        "module {} has no verifier {}; {hint}",
                        quoted(module),
                        quoted(class)
                    ),
                );
            }
        }
    }
    let loaded = |module: &str, class: &str| {
        modules
            .get(module)
            .and_then(|m| m.get("verifiers"))
            .and_then(Value::as_array)
            .is_some_and(|classes| classes.iter().any(|c| c == class))
    };

    for (name, process) in object("processes") {
        let mut pointer = "/processes".to_owned();
        push_segment(&mut pointer, name);
        let options = process.get("options");
        let option = |key| options.and_then(|o| o.get(key));
        if option("suppress_output") == Some(&Value::Bool(true))
            && option("redirect_output").is_some()
        {
            report(
                format!("{pointer}/options/redirect_output"),
                true,
                "\"suppress_output\" and \"redirect_output\" exclude each other; keep one"
                    .to_owned(),
            );
        }
        let type_name = process.pointer("/verifier/type").and_then(Value::as_str);
        if let Some((type_name, kind)) = type_name.and_then(|t| Some((t, VerifierType::find(t)?))) {
            // What the schema cannot say about this kind's arguments, the kind says.
            if let Some(arguments) = process.pointer("/verifier/arguments") {
                for (at, problem) in (kind.problems)(arguments) {
                    report(format!("{pointer}/verifier/arguments{at}"), false, problem);
                }
            }
            let unloaded = kind
                .pymanager
                .filter(|&(module, class)| type_name != kind.short_name && !loaded(module, class));
            if let Some((module, class)) = unloaded {
                report(
                    format!("{pointer}/verifier/type"),
                    false,
                    format!(
                        "verifier {} is not loaded: add \"{}\": {{\"verifiers\": [\"{}\"]}} to \"modules\", or use the short type \"{}\"",
                        quoted(type_name),
                        module,
                        class,
                        kind.short_name
                    ),
                );
            }
        }
    }
    dependency_checks(config, &mut report);
    found
}
