//! `ShouldRateLimit` answered the way limitador-server's Envoy RLS answers it, with the
//! counting done by the `limitador` crate on its Redis storage (never here).
//!
//! - namespace = the request's `domain` (empty: `UNKNOWN`, nothing counted);
//! - context = `descriptors`, a list with one map per descriptor (its entries, key to
//!   value; a repeated key keeps its last value), so limits say
//!   `descriptors[0]["key"]` in their conditions and variables;
//! - hits = the request's `hits_addend`, 0 meaning 1 (the descriptors' own `hits_addend`
//!   is not read);
//! - `check_rate_limited_and_update`: limited -> `OVER_LIMIT`, else `OK`; any error of the
//!   limiter (Redis unreachable, a variable that fails to evaluate) -> gRPC `UNAVAILABLE`,
//!   as limitador-server answers; a panic inside the limiter (its `Limit::applies` unwraps
//!   a condition's evaluation error) -> gRPC `INTERNAL`, and the server lives on.
//!
//! Beyond limitador-server, which leaves `statuses` empty, `statuses[0]` describes the
//! counter that decided: when limited, of the counters that cannot take the hits, the one
//! whose window ends last (`duration_until_reset` = its Redis TTL, the time until every
//! limiting counter has reset); when allowed, the counter with the least remaining.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use limitador::counter::Counter;
use limitador::limit::{Context, Limit, Namespace};
use limitador::storage::redis::AsyncRedisStorage;
use limitador::AsyncRateLimiter;
use tonic::Status;

use crate::proto::{Code, DescriptorStatus, RateLimit, RateLimitRequest, RateLimitResponse, Unit};

/// A limits file as limitador-server reads it: YAML, a list of `limitador::limit::Limit`
/// (conditions and variables are parsed as CEL while the file is read).
pub fn parse_limits(text: &str) -> Result<Vec<Limit>, String> {
    serde_yaml::from_str::<Vec<Limit>>(text).map_err(|e| format!("Couldn't parse: {e}"))
}

/// [`parse_limits`] of a file.
pub fn read_limits(path: &std::path::Path) -> Result<Vec<Limit>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Couldn't load file {}: {e}", path.display()))?;
    parse_limits(&text)
}

/// How long one Redis command, and one connection attempt, may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Rls {
    limiter: AsyncRateLimiter,
}

impl Rls {
    /// Connects to Redis (it must be up now, as for limitador-server) and installs the
    /// limits.
    ///
    /// The connection is limitador's `AsyncRedisStorage` over a redis `ConnectionManager`
    /// configured for a test service: one reconnection attempt per failed command (the
    /// default retries with a back-off that grows to a minute, so a Redis back up would be
    /// seen only a minute later) and timeouts, so a call fails fast while Redis is down and
    /// works again as soon as it is back.
    pub async fn connect(redis_url: &str, limits: Vec<Limit>) -> Result<Self, String> {
        let client = redis::Client::open(redis_url)
            .map_err(|e| format!("bad Redis URL {redis_url}: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT);
        let manager = redis::aio::ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| format!("Failed to connect to Redis at {redis_url}: {e}"))?;
        let storage = AsyncRedisStorage::new_with_conn_manager(manager)
            .await
            .map_err(|e| format!("Failed to load limitador's scripts into Redis: {e}"))?;
        let limiter = AsyncRateLimiter::new_with_storage(Box::new(storage));
        limiter
            .configure_with(limits)
            .await
            .map_err(|e| format!("Failed to install the limits: {e}"))?;
        Ok(Self { limiter })
    }

    pub async fn should_rate_limit(
        &self,
        req: RateLimitRequest,
    ) -> Result<RateLimitResponse, Status> {
        if req.domain.is_empty() {
            return Ok(RateLimitResponse {
                overall_code: Code::Unknown as i32,
                ..Default::default()
            });
        }
        let namespace = Namespace::from(req.domain);
        let descriptors: Vec<HashMap<String, String>> = req
            .descriptors
            .into_iter()
            .map(|d| d.entries.into_iter().map(|e| (e.key, e.value)).collect())
            .collect();
        let hits = u64::from(if req.hits_addend == 0 {
            1
        } else {
            req.hits_addend
        });

        let checked = AssertUnwindSafe(async {
            let mut ctx = Context::default();
            ctx.list_binding("descriptors".to_string(), descriptors);
            self.limiter
                .check_rate_limited_and_update(&namespace, &ctx, hits)
                .await
        })
        .catch_unwind()
        .await;

        let result = match checked {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => {
                eprintln!("test-rls: {}: {e}", namespace.as_ref());
                return Err(Status::unavailable("Service unavailable"));
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("?");
                eprintln!(
                    "test-rls: {}: the limiter panicked: {what}",
                    namespace.as_ref()
                );
                return Err(Status::internal(format!(
                    "a limit's condition failed to evaluate: {what}"
                )));
            }
        };

        let code = if result.limited {
            Code::OverLimit
        } else {
            Code::Ok
        };
        let decisive = if result.limited {
            // remaining is the counter's value before these hits: it limits when it cannot
            // take them all.
            result
                .counters
                .iter()
                .filter(|c| c.remaining().is_some_and(|r| r < hits))
                .max_by_key(|c| c.expires_in())
        } else {
            result
                .counters
                .iter()
                .min_by_key(|c| c.remaining().unwrap_or(c.max_value()))
        };
        Ok(RateLimitResponse {
            overall_code: code as i32,
            statuses: decisive.map(|c| status(code, c)).into_iter().collect(),
            response_headers_to_add: Vec::new(),
        })
    }
}

fn status(code: Code, counter: &Counter) -> DescriptorStatus {
    let limit = counter.limit();
    DescriptorStatus {
        code: code as i32,
        current_limit: Some(RateLimit {
            requests_per_unit: u32::try_from(limit.max_value()).unwrap_or(u32::MAX),
            unit: Unit::of_seconds(limit.seconds()) as i32,
            name: limit.name().unwrap_or_default().to_string(),
        }),
        limit_remaining: u32::try_from(counter.remaining().unwrap_or(limit.max_value()))
            .unwrap_or(u32::MAX),
        duration_until_reset: Some(counter.expires_in().unwrap_or(counter.window()).into()),
    }
}
