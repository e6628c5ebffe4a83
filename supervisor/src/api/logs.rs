//! `GET /api/v1/processes/{name}/logs`: a process's recent output records.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{ProcessName, QueryParams};
use super::ApiState;
use crate::logring::MAX_RECORDS;

/// Records returned when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// Query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsQuery {
    /// Number of newest records to return, 1 to 1000.
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LogsAnswer {
    process: String,
    count: usize,
    /// Records oldest first, each one line as phpeek-pm wrote it to stdout.
    lines: Vec<String>,
}

/// Returns up to `limit` of the newest records of a process.
pub(crate) async fn recent(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
    QueryParams(query): QueryParams<LogsQuery>,
) -> Result<Json<LogsAnswer>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_RECORDS).contains(&limit) {
        let message = format!("limit must be between 1 and {MAX_RECORDS}, got {limit}");
        return Err(ApiError::unprocessable("out_of_range", message));
    }
    let lines = state
        .rings()
        .and_then(|rings| rings.recent(&name, limit))
        .ok_or_else(|| ApiError::unknown_process(&name))?;
    Ok(Json(LogsAnswer {
        process: name,
        count: lines.len(),
        lines,
    }))
}
