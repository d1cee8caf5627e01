//! The configuration file: its types, its schema, and how a file is read and checked.

mod dotenv;
pub mod interpolate;
pub mod load;
pub mod model;
pub mod schema;
pub mod source;

pub use load::{choose_file, load, load_str};
