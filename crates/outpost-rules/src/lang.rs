//! The rules expression language.
