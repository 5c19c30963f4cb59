//! The Lua libraries Redis bundles for scripts, written in Rust with their original behaviour and errors.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;
