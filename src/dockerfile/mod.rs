//! The Dockerfile compiler: text → parsed instructions → one LLB graph per
//! target platform.

pub mod parser;
pub mod shell;
