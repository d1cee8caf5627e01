//! What every kind of readiness check provides, and the one list of kinds. A kind is one
//! file in `verify/`: its arguments as a configuration file spells them (config reads and
//! describes them through [`VERIFIER_TYPES`]), what the schema cannot say about them, how
//! they resolve, and how the check runs. Adding a kind is that file and a line in
//! `kinds!` below; then regenerate the schema.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::verifier::Verifier;
use super::{CommandCheck, ExitedVerifier, FileCheck, HttpOkVerifier, LogCheck, TcpCheck};

/// One kind of readiness check: implemented by the check itself, which is what its
/// arguments resolve to.
pub trait Kind: Verifier + Clone + fmt::Debug + PartialEq + Sized {
    /// The arguments as a file spells them; their doc comments become the schema's.
    type Arguments: DeserializeOwned + Serialize + JsonSchema + Clone + fmt::Debug;
    /// The short type name, which needs no `modules` entry.
    const NAME: &'static str;
    /// pymanager's module and class (`module.Class` in a file), for the kinds it has.
    const PYMANAGER: Option<(&'static str, &'static str)> = None;
    /// When the check passes, in words that follow "passes", for the schema.
    const SUMMARY: &'static str;
    const ARGUMENTS_REQUIRED: bool = true;
    /// The arguments that take a number, which a `${NAME}` string may give: the schema
    /// admits such a string there, and it becomes a number once replaced.
    const NUMBER_ARGUMENTS: &'static [&'static str];
    /// The arguments that hold a command line, which a shell or the program reads: there
    /// `${NAME}` follows the rule of `executable`.
    const COMMAND_ARGUMENTS: &'static [&'static str] = &[];

    /// What the schema cannot express about the arguments (given as written): each
    /// problem at a pointer below `arguments` ("" for the object itself).
    fn problems(_arguments: &Value) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The check the (checked) arguments describe, for a process.
    fn resolve(arguments: &Self::Arguments, process: &Resolution) -> Self;
}

/// What resolving a check may need to know of its process.
pub struct Resolution<'a> {
    /// The shell that runs command lines (`default_shell`).
    pub shell: &'a str,
    /// The process's environment.
    pub environment: &'a [(String, String)],
    /// The ports, over the environment.
    pub ports: &'a [(String, String)],
}

/// A kind as config sees it: the names it answers to, its schema, how to read its
/// arguments and what to check in them.
pub struct VerifierType {
    pub short_name: &'static str,
    pub pymanager: Option<(&'static str, &'static str)>,
    pub summary: &'static str,
    pub arguments_required: bool,
    pub number_arguments: &'static [&'static str],
    pub command_arguments: &'static [&'static str],
    pub arguments_schema: fn(&mut SchemaGenerator) -> Schema,
    pub parse: fn(Value) -> Result<VerifierArguments, serde_json::Error>,
    pub problems: fn(&Value) -> Vec<(&'static str, String)>,
}

impl VerifierType {
    /// The `module.Class` name pymanager files use.
    pub fn long_name(&self) -> Option<String> {
        self.pymanager
            .map(|(module, class)| format!("{module}.{class}"))
    }

    /// Finds the type a `type` value names, by either name.
    pub fn find(type_name: &str) -> Option<&'static VerifierType> {
        VERIFIER_TYPES.iter().find(|t| {
            t.short_name == type_name
                || t.pymanager.is_some_and(|(module, class)| {
                    type_name
                        .strip_prefix(module)
                        .and_then(|rest| rest.strip_prefix('.'))
                        == Some(class)
                })
        })
    }
}

/// Declares the kinds: the arguments and the resolved checks as enums (one variant per
/// kind), and the table config reads.
macro_rules! kinds {
    ($($variant:ident: $kind:ty),* $(,)?) => {
        /// A check's arguments as the file spells them, by kind.
        #[derive(Debug, Clone, Serialize)]
        #[serde(untagged)]
        pub enum VerifierArguments {
            $($variant(<$kind as Kind>::Arguments)),*
        }

        /// A readiness check with every argument resolved, by kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum VerifierSpec {
            $($variant($kind)),*
        }

        impl VerifierArguments {
            /// The check these arguments describe, for a process.
            pub fn resolve(&self, process: &Resolution) -> VerifierSpec {
                match self {
                    $(VerifierArguments::$variant(a) => {
                        VerifierSpec::$variant(<$kind as Kind>::resolve(a, process))
                    })*
                }
            }
        }

        impl VerifierSpec {
            /// The check, to run.
            pub fn verifier(&self) -> &dyn Verifier {
                match self {
                    $(VerifierSpec::$variant(check) => check),*
                }
            }
        }

        /// Every kind of check rmanager knows, in the order the schema lists them.
        pub static VERIFIER_TYPES: &[VerifierType] = &[$(
            VerifierType {
                short_name: <$kind as Kind>::NAME,
                pymanager: <$kind as Kind>::PYMANAGER,
                summary: <$kind as Kind>::SUMMARY,
                arguments_required: <$kind as Kind>::ARGUMENTS_REQUIRED,
                number_arguments: <$kind as Kind>::NUMBER_ARGUMENTS,
                command_arguments: <$kind as Kind>::COMMAND_ARGUMENTS,
                arguments_schema: |g| g.subschema_for::<<$kind as Kind>::Arguments>(),
                parse: |v| serde_json::from_value(v).map(VerifierArguments::$variant),
                problems: <$kind as Kind>::problems,
            }
        ),*];
    };
}

kinds! {
    HttpOk: HttpOkVerifier,
    Exited: ExitedVerifier,
    Tcp: TcpCheck,
    Command: CommandCheck,
    Log: LogCheck,
    File: FileCheck,
}
