//! Durations as a configuration file writes them: numbers of seconds, with the schema
//! that says which numbers are allowed.

use std::borrow::Cow;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A duration in seconds; fractions are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Seconds(pub f64);

impl Seconds {
    /// As a `Duration`. The schema bounds seconds to 0..=MAX, so this cannot fail on a
    /// checked file; clamping keeps it total all the same (the library API).
    pub fn duration(self) -> Duration {
        Duration::from_secs_f64(self.0.clamp(0.0, Seconds::MAX))
    }

    /// The largest duration accepted: about 136 years, far beyond any use and far below
    /// what would overflow a `Duration`.
    pub const MAX: f64 = u32::MAX as f64;

    pub(crate) fn ten() -> Self {
        Seconds(10.0)
    }

    pub(crate) fn thirty() -> Self {
        Seconds(30.0)
    }
}

impl JsonSchema for Seconds {
    fn schema_name() -> Cow<'static, str> {
        "Seconds".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration in seconds; fractions such as 0.5 are allowed.",
            "type": "number",
            "minimum": 0,
            "maximum": Seconds::MAX,
            "errorMessage": "expected a number of seconds >= 0",
        })
    }
}

/// The longest wait between a check's attempts, and the limit on each attempt: more than
/// zero, since a zero limit would fail every attempt at once, and spin.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Interval(pub f64);

impl Interval {
    pub fn duration(self) -> Duration {
        Seconds(self.0).duration()
    }

    pub(crate) fn one() -> Self {
        Interval(1.0)
    }
}

impl JsonSchema for Interval {
    fn schema_name() -> Cow<'static, str> {
        "Interval".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration in seconds, more than 0; fractions such as 0.5 are allowed.",
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": Seconds::MAX,
            "errorMessage": "expected a number of seconds > 0",
        })
    }
}
