#![no_main]
//! Fuzz target `snapshot_lines`: see `tailor_host::fuzzing`.

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use tailor_host::fuzzing::Harness;

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::new);

fuzz_target!(|data: &[u8]| HARNESS.run("snapshot_lines", data));
