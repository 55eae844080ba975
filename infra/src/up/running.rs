//! Step 7 of `devstack up`: supervision until Ctrl-C, SIGTERM or `cargo lambda watch` exits:
//! children that exit are reported (the emulator and Redis may die and stay down), the control
//! API's orders obeyed (Redis down and up, restarts, the emulator re-provisioned); then the
//! servers and mappings stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::event_sources::StreamTasks;
use super::services::payment_target;
use super::{
    AfterExit, EMULATOR, EMULATOR_START, Options, Ownership, REDIS, REDIS_START, after_exit,
};
use crate::control::{Command as ControlCommand, Dependency, DependencyState, Order, Status};
use crate::fault::Faults;
use crate::invoke::Invoker;
use crate::payments::Payments;
use crate::procs::{self, Supervisor};
use crate::provision::{self, ProvisionOptions, Provisioned};
use crate::stack;
use crate::template::{Function, Template};

/// What the supervision loop needs to stop and start dependencies.
pub(super) struct Running<'a> {
    pub(super) stack: &'a str,
    pub(super) template: &'a Template,
    pub(super) opts: &'a Options,
    pub(super) sup: &'a mut Supervisor,
    pub(super) redis: Ownership,
    pub(super) emulator: Ownership,
    pub(super) endpoint: String,
    pub(super) emulator_port: u16,
    pub(super) sdk: aws_config::SdkConfig,
    pub(super) functions: Vec<Function>,
    pub(super) provisioned: Provisioned,
    pub(super) invoker: Invoker,
    pub(super) checkpoints: PathBuf,
    pub(super) streams: StreamTasks,
    pub(super) status: watch::Sender<Status>,
    pub(super) ready_file: PathBuf,
    pub(super) ready: serde_json::Value,
    pub(super) provision_options: ProvisionOptions,
    pub(super) payments: Arc<Payments>,
    pub(super) faults: Arc<Faults>,
}

/// The servers and mapping tasks stopped once supervision ends, awaited in this order after
/// `stop` sends `true` (the stream mappings, in [`Running`], go first).
pub(super) struct Tasks {
    /// The stop signal of every task below.
    pub(super) stop: watch::Sender<bool>,
    /// The SQS mappings.
    pub(super) esm: Vec<JoinHandle<()>>,
    /// The gateway.
    pub(super) gateway: JoinHandle<Result<()>>,
    /// The control API.
    pub(super) control: JoinHandle<std::io::Result<()>>,
    /// The fault proxy.
    pub(super) proxy: JoinHandle<()>,
    /// The payment provider's instances.
    pub(super) payments: Vec<JoinHandle<()>>,
}

impl Running<'_> {
    /// Supervises until Ctrl-C, SIGTERM or a child whose exit stops devstack, obeying the
    /// control API's `commands` meanwhile; the reason it stopped.
    ///
    /// # Errors
    /// SIGTERM cannot be listened for.
    pub(super) async fn serve_until_shutdown(
        &mut self,
        commands: &mut mpsc::Receiver<ControlCommand>,
    ) -> Result<String> {
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let reason = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break "interrupted".to_owned(),
                _ = sigterm.recv() => break "terminated".to_owned(),
                Some(cmd) = commands.recv() => {
                    let answer = self.obey(cmd.order).await;
                    match &answer {
                        Ok(m) => tracing::info!("devstack: {m}"),
                        Err(e) => tracing::warn!("devstack: refused: {e}"),
                    }
                    let _ = cmd.reply.send(answer);
                }
                _ = tick.tick() => if let Some(reason) = self.reap() {
                    break reason;
                },
            }
        };
        Ok(reason)
    }

    /// Says devstack is stopping (for `reason`), stops every server and mapping task and
    /// waits for them: the stream mappings, then `tasks` in their order.
    pub(super) async fn shut_down(self, reason: &str, tasks: Tasks) {
        // Not println!: after Ctrl-C, a pipe on stdout (`make dev | tee`) may be gone.
        tracing::info!("devstack: stopping ({reason})");
        let _ = tasks.stop.send(true);
        self.streams.stop().await;
        for t in tasks.esm {
            let _ = t.await;
        }
        let _ = tasks.gateway.await;
        let _ = tasks.control.await;
        let _ = tasks.proxy.await;
        for t in tasks.payments {
            let _ = t.await;
        }
    }

    /// Writes the ready file: what [`super::announce::ready`] gave, with the tables, streams
    /// and queues as provisioned now.
    pub(super) fn write_ready_file(&mut self) -> Result<()> {
        self.ready["tables"] = serde_json::json!(self.provisioned.tables);
        self.ready["streams"] = serde_json::json!(self.provisioned.streams);
        self.ready["queues"] = serde_json::json!(
            self.provisioned
                .queues
                .iter()
                .map(|(k, q)| (
                    k.clone(),
                    serde_json::json!({"name": q.name, "url": q.url, "arn": q.arn})
                ))
                .collect::<BTreeMap<_, _>>()
        );
        std::fs::write(&self.ready_file, serde_json::to_vec_pretty(&self.ready)?)?;
        Ok(())
    }

    /// Reports every child that exited; the reason to stop, if one must.
    fn reap(&mut self) -> Option<String> {
        while let Some(exit) = self.sup.reap() {
            match after_exit(&exit, self.stack) {
                AfterExit::Stop(reason) => return Some(reason),
                AfterExit::KeepRunning(message) => {
                    tracing::error!("devstack: {message}");
                    let state = DependencyState::Exited {
                        status: exit.status,
                    };
                    self.status.send_modify(|s| match exit.name.as_str() {
                        EMULATOR => s.emulator = state,
                        _ => s.redis = state,
                    });
                }
            }
        }
        None
    }

    fn reused(&self, dependency: Dependency) -> Result<(), String> {
        let (ownership, what) = match dependency {
            Dependency::Redis => (
                self.redis,
                format!("Redis on 127.0.0.1:{}", self.opts.redis_port),
            ),
            Dependency::Emulator => (self.emulator, format!("the emulator at {}", self.endpoint)),
        };
        if ownership == Ownership::Reused {
            return Err(format!(
                "{what} was already running when devstack started (reused), so devstack did not start it and cannot stop or start it: stop it yourself, or let `devstack up` start its own"
            ));
        }
        Ok(())
    }

    async fn obey(&mut self, order: Order) -> Result<String, String> {
        let cli = format!("cargo run -p devstack -- --stack-name {}", self.stack);
        match order {
            Order::RedisDown => {
                self.reused(Dependency::Redis)?;
                if !self.sup.is_running(REDIS) {
                    return Err(format!(
                        "Redis is already down: `{cli} fault redis up` starts it"
                    ));
                }
                self.sup.stop(REDIS).await;
                self.status.send_modify(|s| s.redis = DependencyState::Down);
                Ok(format!(
                    "{REDIS} on 127.0.0.1:{} stopped; `{cli} fault redis up` (or `fault clear`) starts it again",
                    self.opts.redis_port
                ))
            }
            Order::RedisUp => {
                self.reused(Dependency::Redis)?;
                if self.sup.is_running(REDIS) {
                    return Err("Redis is already up".to_owned());
                }
                self.start_redis().await
            }
            Order::Restart(Dependency::Redis) => {
                self.reused(Dependency::Redis)?;
                self.sup.stop(REDIS).await;
                self.start_redis().await
            }
            Order::Restart(Dependency::Emulator) => {
                self.reused(Dependency::Emulator)?;
                self.restart_emulator().await.map_err(|e| format!("{e:#}"))
            }
        }
    }

    async fn start_redis(&mut self) -> Result<String, String> {
        self.status
            .send_modify(|s| s.redis = DependencyState::Restarting);
        let started = async {
            self.sup.restart(REDIS)?;
            procs::wait_for_port(REDIS, self.opts.redis_port, REDIS_START).await
        }
        .await;
        match started {
            Ok(()) => {
                self.status
                    .send_modify(|s| s.redis = DependencyState::Running);
                Ok(format!(
                    "{REDIS} started on 127.0.0.1:{}",
                    self.opts.redis_port
                ))
            }
            Err(e) => {
                let status = format!("did not start: {e:#}");
                self.status.send_modify(|s| {
                    s.redis = DependencyState::Exited {
                        status: status.clone(),
                    }
                });
                Err(format!("{REDIS} {status} (see .devstack/logs/redis.log)"))
            }
        }
    }

    async fn restart_emulator(&mut self) -> Result<String> {
        self.status
            .send_modify(|s| s.emulator = DependencyState::Restarting);
        let restarted = async {
            self.sup.stop(EMULATOR).await;
            // The stream mappings read the old stream ARNs: stop them before they change.
            let old = std::mem::replace(
                &mut self.streams,
                StreamTasks {
                    stop: watch::channel(false).0,
                    tasks: Vec::new(),
                },
            );
            old.stop().await;
            self.sup.restart(EMULATOR)?;
            procs::wait_for_port(EMULATOR, self.emulator_port, EMULATOR_START)
                .await
                .context("see .devstack/logs/emulator.log")?;
            self.provisioned =
                provision::provision_with(self.template, &self.sdk, &self.provision_options)
                    .await?;
            self.payments
                .set_target(payment_target(&self.provisioned, &self.sdk));
            let mappings =
                stack::stream_mappings(&self.functions, &self.provisioned, &self.checkpoints)?;
            let n = mappings.len();
            self.streams = StreamTasks::start(mappings, &self.sdk, &self.invoker, &self.faults);
            self.write_ready_file()?;
            anyhow::Ok(n)
        }
        .await;
        match restarted {
            Ok(streams) => {
                self.status
                    .send_modify(|s| s.emulator = DependencyState::Running);
                Ok(format!(
                    "the emulator restarted at {}: {} tables and {} queues re-created (empty: moto keeps data in memory); {streams} stream mapping(s) follow the new stream ARNs",
                    self.endpoint,
                    self.provisioned.tables.len(),
                    self.provisioned.queues.len()
                ))
            }
            Err(e) => {
                let status = format!("did not restart: {e:#}");
                self.status.send_modify(|s| {
                    s.emulator = DependencyState::Exited {
                        status: status.clone(),
                    }
                });
                Err(e)
            }
        }
    }
}
