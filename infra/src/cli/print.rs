//! `devstack routes`, `openapi` and `localstack-init`: print what the template declares; no
//! running stack needed.

use anyhow::Result;

use crate::template::Template;
use crate::up::print_routes;

/// Runs `devstack routes`: prints the template's routes and event source mappings. Errors: a
/// template whose functions or HTTP API do not read.
pub(super) fn routes(template: &Template) -> Result<()> {
    print_routes(&template.functions()?, template.http_api()?.as_ref())
}

/// Runs `devstack openapi`: prints the API's OpenAPI 3.1 document (pretty JSON) with `server`
/// as its `servers` URL.
pub(super) fn openapi(server: &str) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::openapi::document(server))?
    );
    Ok(())
}

/// Runs `devstack localstack-init`: prints the LocalStack init script generated from the
/// template. Errors: a template the script cannot be generated from.
pub(super) fn localstack_init(template: &Template) -> Result<()> {
    print!("{}", crate::localstack::init_script(template)?);
    Ok(())
}
