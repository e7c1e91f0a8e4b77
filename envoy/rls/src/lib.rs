//! A test Envoy Rate Limit Service (SPEC §7.1): `ShouldRateLimit` over gRPC, with the
//! counting done by Kuadrant Limitador's `limitador` crate on Redis, answered as
//! limitador-server answers it. For the tests only: the fleet-wide limits the filter
//! sends are read and counted by Limitador's own code, never by this crate's.

pub mod proto;
pub mod rls;
pub mod server;
