//! gRPC health for the session: the daemon checks it every 5 s and ends a
//! session whose check fails, so it must always say SERVING.

use std::collections::HashMap;

use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::Health;
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use tonic::{Request, Response, Status};

/// The health service of a session: always serving while the session lives.
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionHealth;

fn serving() -> HealthCheckResponse {
    HealthCheckResponse {
        status: ServingStatus::Serving as i32,
    }
}

#[tonic::async_trait]
impl Health for SessionHealth {
    async fn check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(serving()))
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let statuses = HashMap::from([(String::new(), serving())]);
        Ok(Response::new(HealthListResponse { statuses }))
    }

    type WatchStream = futures::stream::Chain<
        futures::stream::Once<futures::future::Ready<Result<HealthCheckResponse, Status>>>,
        futures::stream::Pending<Result<HealthCheckResponse, Status>>,
    >;

    /// Sends SERVING once, then nothing: the status never changes while the
    /// session lives, and the stream ends with the connection.
    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        use futures::StreamExt;
        let stream = futures::stream::once(futures::future::ready(Ok(serving())))
            .chain(futures::stream::pending());
        Ok(Response::new(stream))
    }
}
