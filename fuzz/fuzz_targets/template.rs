//! Fuzz target `template`: the SAM template parser (`sam_template::Template::parse`) and its
//! accessors (`functions`, `http_api`, `queues`, `tables`, `caches`), as devstack, the
//! provisioning and the tests read `template.yaml`.
//!
//! Input: the template text (lossy UTF-8); seeds: the project's `template.yaml` and small
//! hand-written ones. Property: a malformed template is an error, never a panic or a stack
//! overflow.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sam_template::Template;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(template) = Template::parse(&text) else {
        return;
    };
    if let Ok(functions) = template.functions() {
        for function in &functions {
            let _ = format!("{function:?}");
        }
    }
    let _ = template.http_api();
    let _ = template.queues().count();
    let _ = template.tables().count();
    let _ = template.caches().count();
    for name in template.parameters.keys() {
        let _ = template.check_parameter(name, "");
    }
});
