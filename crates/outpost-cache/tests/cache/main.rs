//! Integration tests.
mod util {}
