//! phpeek: the supervision library behind `phpeek-pm`.

pub mod config;
pub mod output;
