//! `devstack load`: a bounded load run against the running stack's gateway, its summary
//! printed (and written as JSON with `--json`); an error when the run had errors or its
//! accounting failed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::LoadArgs;
use crate::template::Template;
use crate::up::project_root;

/// Runs the load of `args` against stack `stack` (its state under the project of
/// `template_path`), prints the report's summary and writes it as JSON to `--json`'s path.
/// Errors: `--duration` not above 0 seconds, the run failing to start, the JSON not written,
/// or a run that did not pass (any error or accounting mismatch).
pub(super) async fn load(
    template_path: &Path,
    stack: &str,
    template: Template,
    args: LoadArgs,
) -> Result<()> {
    if !(args.duration.is_finite() && args.duration > 0.0) {
        bail!("--duration: expected seconds above 0");
    }
    let mut opts = crate::load::Options::new(
        &args.gateway,
        args.scenario,
        args.rate,
        Duration::from_secs_f64(args.duration),
    );
    opts.max_in_flight = args.max_in_flight;
    opts.timeout = args.timeout;
    opts.order_every = args.order_every;
    opts.customers = usize::try_from(args.customers).unwrap_or(1);
    opts.settle_within = args.settle_within;
    let stack = crate::load::Stack {
        state_dir: project_root(template_path)?.join(".devstack"),
        name: stack.to_owned(),
        template,
    };
    let report = crate::load::run(&opts, &stack).await?;
    print!("{}", report.summary());
    if let Some(path) = &args.json {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if report.passed() {
        Ok(())
    } else {
        bail!("the load run had errors or its accounting failed (see above)")
    }
}
