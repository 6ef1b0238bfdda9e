//! Running a process in a solved result through BuildKit's gateway
//! containers (`LLBBridge.NewContainer` + `ExecProcess`), the mechanism
//! `buildx debug` uses: the result is mounted as the root filesystem on the
//! daemon, for the platform asked (emulated by the daemon's binfmt handlers
//! where the worker is not native), and the process's stdout, stderr and
//! exit code come back over one gRPC stream. Unlike an exec op this is never
//! cached, needs no shell in the image, and reports the real exit code.

use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::frontend::{
    exec_message, ExecMessage, FdMessage, InitMessage, NewContainerRequest,
    ReleaseContainerRequest, SignalMessage,
};
use bollard_buildkit_proto::pb;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::gateway::{bridge_error, GatewayBuild, GatewayError};
use crate::platform::Platform;

/// BuildKit's exit code for a process whose end it could not read
/// (`pb.UnknownExitStatus`): it failed to start, or was killed by the
/// daemon.
pub const UNKNOWN_EXIT_STATUS: u32 = 255;

/// How long a killed process may take to report its end.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// argv; the first word is looked up on `PATH` by the runtime.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// Working directory (`/` when empty).
    pub cwd: String,
    /// `user[:group]` as in an image config; root when empty.
    pub user: String,
    /// The process is killed after this long.
    pub timeout: Duration,
    /// Bytes of stdout and of stderr kept; the rest is counted, not kept.
    pub output_limit: usize,
}

/// How a process ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessOutcome {
    /// The exit code the daemon reported (`None` if it never did).
    pub exit_code: Option<u32>,
    /// The daemon's error text when the process did not exit cleanly
    /// (`exit code: 3`, or why it could not start).
    pub error: Option<String>,
    /// Standard output, up to the limit.
    pub stdout: Vec<u8>,
    /// Standard error, up to the limit.
    pub stderr: Vec<u8>,
    /// Output bytes dropped over the limit (stdout + stderr).
    pub dropped_bytes: u64,
    /// The process was killed for running past its timeout.
    pub timed_out: bool,
}

impl ProcessOutcome {
    /// True if the process ran and exited 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

impl GatewayBuild {
    /// Runs `spec` in a container whose root filesystem is the result
    /// `root_ref`, for `platform`, and waits for it to end (or kills it at
    /// the timeout). The container is released in every case.
    pub async fn run_process(
        &self,
        root_ref: &str,
        platform: &Platform,
        spec: &ProcessSpec,
    ) -> Result<ProcessOutcome, GatewayError> {
        let container_id = super::session::new_id();
        let request = self.request(NewContainerRequest {
            container_id: container_id.clone(),
            mounts: vec![pb::Mount {
                dest: "/".to_string(),
                mount_type: pb::MountType::Bind as i32,
                result_id: root_ref.to_string(),
                ..Default::default()
            }],
            network: pb::NetMode::Unset as i32,
            platform: Some(platform.to_pb()),
            ..Default::default()
        });
        self.bridge_client()
            .new_container(request)
            .await
            .map_err(|s| bridge_error(&format!("start a {platform} container"), &s))?;
        let outcome = self.exec(&container_id, spec).await;
        let release = self.request(ReleaseContainerRequest {
            container_id: container_id.clone(),
        });
        if let Err(status) = self.bridge_client().release_container(release).await {
            tracing::debug!(container = %container_id, error = %status, "release failed");
        }
        outcome
    }

    async fn exec(
        &self,
        container_id: &str,
        spec: &ProcessSpec,
    ) -> Result<ProcessOutcome, GatewayError> {
        let process_id = format!("{container_id}:{}", super::session::new_id());
        let (sender, receiver) = tokio::sync::mpsc::channel::<ExecMessage>(4);
        let init = ExecMessage {
            process_id: process_id.clone(),
            input: Some(exec_message::Input::Init(InitMessage {
                container_id: container_id.to_string(),
                meta: Some(pb::Meta {
                    args: spec.args.clone(),
                    env: spec.env.clone(),
                    cwd: if spec.cwd.is_empty() {
                        "/".to_string()
                    } else {
                        spec.cwd.clone()
                    },
                    user: spec.user.clone(),
                    ..Default::default()
                }),
                // No stdin: the process reads EOF at once.
                fds: vec![1, 2],
                tty: false,
                ..Default::default()
            })),
        };
        sender
            .send(init)
            .await
            .map_err(|_| local_error("the exec stream closed before it started"))?;
        let request = self.request(ReceiverStream::new(receiver));
        let mut inbound = self
            .bridge_client()
            .exec_process(request)
            .await
            .map_err(|s| bridge_error("exec", &s))?
            .into_inner();

        let mut outcome = ProcessOutcome::default();
        let deadline = tokio::time::Instant::now() + spec.timeout;
        let mut kill_deadline: Option<tokio::time::Instant> = None;
        loop {
            let wait_until = kill_deadline.unwrap_or(deadline);
            let message = match tokio::time::timeout_at(wait_until, inbound.next()).await {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(status))) => return Err(bridge_error("exec", &status)),
                // The daemon ended the stream: the process is gone.
                Ok(None) => break,
                Err(_) if kill_deadline.is_some() => {
                    outcome.error = Some("the process did not end after SIGKILL".to_string());
                    break;
                }
                Err(_) => {
                    outcome.timed_out = true;
                    let kill = ExecMessage {
                        process_id: process_id.clone(),
                        input: Some(exec_message::Input::Signal(SignalMessage {
                            name: "KILL".to_string(),
                        })),
                    };
                    if sender.send(kill).await.is_err() {
                        break;
                    }
                    kill_deadline = Some(tokio::time::Instant::now() + KILL_GRACE);
                    continue;
                }
            };
            if message.process_id != process_id {
                continue;
            }
            match message.input {
                Some(exec_message::Input::File(FdMessage { fd, data, .. })) => {
                    let buffer = if fd == 2 {
                        &mut outcome.stderr
                    } else {
                        &mut outcome.stdout
                    };
                    let room = spec.output_limit.saturating_sub(buffer.len());
                    let kept = room.min(data.len());
                    buffer.extend_from_slice(&data[..kept]);
                    outcome.dropped_bytes += (data.len() - kept) as u64;
                }
                Some(exec_message::Input::Exit(exit)) => {
                    outcome.exit_code = Some(exit.code);
                    outcome.error = exit
                        .error
                        .map(|status| status.message)
                        .filter(|m| !m.is_empty());
                }
                Some(exec_message::Input::Done(_)) => break,
                Some(exec_message::Input::Started(_)) | None => {}
                Some(other) => {
                    tracing::debug!(message = ?other, "unexpected exec message");
                }
            }
        }
        // Dropping the sender ends our side of the stream.
        drop(sender);
        Ok(outcome)
    }
}

fn local_error(message: &str) -> GatewayError {
    GatewayError::Bridge {
        call: "exec".to_string(),
        message: message.to_string(),
    }
}
