//! phpeek: the supervision library behind `phpeek-pm`.

pub mod config;
