//! The gRPC service `envoy.service.ratelimit.v3.RateLimitService`, written by hand the way
//! tonic-build would generate it (no protoc): one unary method, `ShouldRateLimit`; any
//! other path answers `UNIMPLEMENTED`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use tonic::codegen::{http, BoxFuture, Context, Poll, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use crate::proto::{RateLimitRequest, RateLimitResponse, SHOULD_RATE_LIMIT};
use crate::rls::Rls;

#[derive(Clone)]
pub struct RateLimitService {
    rls: Arc<Rls>,
}

impl RateLimitService {
    pub fn new(rls: Rls) -> Self {
        Self { rls: Arc::new(rls) }
    }
}

impl NamedService for RateLimitService {
    const NAME: &'static str = "envoy.service.ratelimit.v3.RateLimitService";
}

struct ShouldRateLimit(Arc<Rls>);

impl UnaryService<RateLimitRequest> for ShouldRateLimit {
    type Response = RateLimitResponse;
    type Future = BoxFuture<Response<RateLimitResponse>, Status>;

    fn call(&mut self, request: Request<RateLimitRequest>) -> Self::Future {
        let rls = Arc::clone(&self.0);
        Box::pin(async move {
            rls.should_rate_limit(request.into_inner())
                .await
                .map(Response::new)
        })
    }
}

impl<B> Service<http::Request<B>> for RateLimitService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() == SHOULD_RATE_LIMIT {
            let method = ShouldRateLimit(Arc::clone(&self.rls));
            Box::pin(async move {
                let mut grpc =
                    Grpc::new(ProstCodec::<RateLimitResponse, RateLimitRequest>::default());
                Ok(grpc.unary(method, req).await)
            })
        } else {
            let path = req.uri().path().to_string();
            Box::pin(
                async move { Ok(Status::unimplemented(format!("no method {path}")).into_http()) },
            )
        }
    }
}

/// Serves `rls` on `listener` (HTTP/2 cleartext, as Envoy's gRPC client speaks it) until
/// `shutdown` completes.
pub async fn serve(
    rls: Rls,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(
            RateLimitService::new(rls),
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .map_err(|e| format!("serving on {addr:?}: {e}"))
}
