//! One libFuzzer binary for every parser; `CIMPOOL_FUZZ_TARGET` picks the
//! harness (`cimpool::fuzzing::TARGETS`), `CIMPOOL_FUZZ_IMAGES` names the
//! compressed image folder the `images` harness mutates. One binary rather
//! than ten keeps the instrumented build to a single link of the library.
#![no_main]

use cimpool::fuzzing::{run, Target};
use std::path::PathBuf;
use std::sync::OnceLock;

struct Setup {
    target: Target,
    images: Option<PathBuf>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let name = std::env::var("CIMPOOL_FUZZ_TARGET").unwrap_or_default();
        let target = Target::from_name(&name).unwrap_or_else(|| {
            let all: Vec<&str> = cimpool::fuzzing::TARGETS.iter().map(|t| t.name()).collect();
            eprintln!(
                "cimpool-fuzz: set CIMPOOL_FUZZ_TARGET to one of {} (got `{name}`)",
                all.join(", ")
            );
            std::process::exit(2)
        });
        let images = std::env::var_os("CIMPOOL_FUZZ_IMAGES").map(PathBuf::from);
        if target == Target::Images && images.is_none() {
            eprintln!("cimpool-fuzz: the images harness needs CIMPOOL_FUZZ_IMAGES=<a compressed image folder>");
            std::process::exit(2)
        }
        Setup { target, images }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let s = setup();
    let _ = run(s.target, data, s.images.as_deref());
});
