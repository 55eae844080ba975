//! Step 1 of `devstack up`: the AWS API emulator and Redis, reused when something already
//! listens on their ports, else started under the supervisor (their logs in `.devstack/logs`).

use anyhow::{Context, Result, bail};
use tokio::sync::watch;

use super::{EMULATOR, EMULATOR_START, Ownership, REDIS, REDIS_START, Setup};
use crate::control::{DependencyState, Status};
use crate::procs::{self, Recipe, Supervisor};

/// The emulator and Redis as step 1 found or started them.
pub(super) struct Backends {
    /// The emulator's URL: `AWS_ENDPOINT_URL`, else `http://127.0.0.1:<--emulator-port>`.
    pub(super) endpoint: String,
    /// The emulator's port: `endpoint`'s, else `--emulator-port`.
    pub(super) emulator_port: u16,
    /// Whether devstack started the emulator or reused one.
    pub(super) emulator: Ownership,
    /// Whether devstack started redis-server or reused one.
    pub(super) redis: Ownership,
}

impl Backends {
    /// The dependencies' state for the control API, to start with: running when devstack
    /// started them, else reused.
    pub(super) fn status(&self) -> (watch::Sender<Status>, watch::Receiver<Status>) {
        let state_of = |o: Ownership| match o {
            Ownership::Started => DependencyState::Running,
            Ownership::Reused => DependencyState::Reused,
        };
        watch::channel(Status {
            redis: state_of(self.redis),
            emulator: state_of(self.emulator),
        })
    }
}

/// The emulator, then Redis: each reused when its port is open, else started and waited for.
///
/// # Errors
/// moto_server or redis-server is missing, or does not open its port in time.
pub(super) async fn start_or_reuse(setup: &Setup<'_>, sup: &mut Supervisor) -> Result<Backends> {
    let opts = setup.opts;
    // AWS_ENDPOINT_URL, when set, names the emulator (LocalStack elsewhere, say).
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| format!("http://127.0.0.1:{}", opts.emulator_port));
    let emulator_port = port_of(&endpoint).unwrap_or(opts.emulator_port);
    let emulator = emulator(setup, sup, emulator_port).await?;
    let redis = redis(setup, sup).await?;
    Ok(Backends {
        endpoint,
        emulator_port,
        emulator,
        redis,
    })
}

/// The emulator on `emulator_port`: reused, or moto server started (through the wrapper that
/// serialises DynamoDB requests) and waited for.
async fn emulator(
    setup: &Setup<'_>,
    sup: &mut Supervisor,
    emulator_port: u16,
) -> Result<Ownership> {
    let (venv_bin, logs) = (&setup.venv_bin, &setup.logs);
    let emulator = if procs::port_open(emulator_port).await {
        Ownership::Reused
    } else {
        let moto = venv_bin.join("moto_server");
        if !moto.exists() {
            bail!(
                "{} is missing: run scripts/bootstrap.sh (or `make dev`)",
                moto.display()
            );
        }
        // Through a wrapper that serialises DynamoDB requests: moto alone lets concurrent
        // conditional transactions both pass (see infra/moto/serialized_moto.py).
        let script = crate::workspace_root().join("infra/moto/serialized_moto.py");
        let port = emulator_port.to_string();
        let args: [std::ffi::OsString; 5] = [
            script.into(),
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.into(),
        ];
        let recipe = Recipe::new(venv_bin.join("python"), args).log_to(&logs.join("emulator.log"));
        sup.start(EMULATOR, recipe)?;
        procs::wait_for_port(EMULATOR, emulator_port, EMULATOR_START).await?;
        Ownership::Started
    };
    Ok(emulator)
}

/// Redis on `--redis-port`: reused, or redis-server started (no persistence) and waited for.
async fn redis(setup: &Setup<'_>, sup: &mut Supervisor) -> Result<Ownership> {
    let (opts, logs) = (setup.opts, &setup.logs);
    let redis = if procs::port_open(opts.redis_port).await {
        Ownership::Reused
    } else {
        let port = opts.redis_port.to_string();
        let recipe = Recipe::new(
            "redis-server",
            [
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        .log_to(&logs.join("redis.log"));
        sup.start(REDIS, recipe)
            .context("redis-server not found: run scripts/bootstrap.sh, or install it (apt-get install redis-server / brew install redis)")?;
        procs::wait_for_port(REDIS, opts.redis_port, REDIS_START).await?;
        Ownership::Started
    };
    Ok(redis)
}

/// The port of `url` (`http://host:port`, a trailing `/` allowed); `None` without one.
fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_of_an_endpoint_is_read_from_its_url() {
        assert_eq!(port_of("http://127.0.0.1:4566"), Some(4566));
        assert_eq!(port_of("http://127.0.0.1:4566/"), Some(4566));
        assert_eq!(port_of("http://localhost"), None);
    }
}
