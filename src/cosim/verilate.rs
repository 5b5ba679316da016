//! `make verilate`: turns a generated package into a shared library with the
//! C ABI of `shim.rs`. The build folder is named by a hash of everything that
//! goes into it (RTL, shim, flags, Verilator version), so parallel builds of
//! different designs never collide and a stale build is never reused.

use super::shim::shim_source;
use super::CosimError;
use crate::config::Config;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::process::Command;

const COSIM_MK: &str = include_str!("../../sim/cosim.mk");
/// The model's class is always `Vcim_top` (`--prefix`), whatever the top
/// module is called (`prefix` in the config), so the make fragment and the
/// shim need not change with it.
pub const MODEL_CLASS: &str = "Vcim_top";
const VERILATOR_FLAGS: &[&str] = &[
    "--cc",
    "-Wno-fatal",
    "--prefix",
    MODEL_CLASS,
    "-CFLAGS",
    "-fPIC",
    // The package's protocol assertions (gen::checks) are checked on every
    // cycle (the define is added in `verilate`); a failure ends in the
    // shim's own vl_stop, which records it for the driver.
    "--assert",
    "-CFLAGS",
    "-DVL_USER_STOP",
];
/// Which instrumentation a build carries. Each is its own build folder:
/// tracing roughly doubles the generated C++ and coverage counters slow the
/// model, so only a run that needs one (a mismatch, a coverage regression)
/// builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instrument {
    Plain,
    /// The model can write VCD traces.
    Trace,
    /// Line and toggle coverage counters, written by `Sim::write_coverage`.
    Coverage,
    /// Every X assignment and every register's initial value random
    /// (`--x-assign unique --x-initial unique`), drawn per model from the
    /// seed of `Sim::load_random`.
    RandomX,
}

impl Instrument {
    fn flags(self) -> &'static [&'static str] {
        match self {
            Instrument::Plain => &[],
            Instrument::Trace => &["--trace"],
            Instrument::Coverage => &["--coverage-line", "--coverage-toggle"],
            Instrument::RandomX => &["--x-assign", "unique", "--x-initial", "unique"],
        }
    }

    fn folder_suffix(self) -> &'static str {
        match self {
            Instrument::Plain => "",
            Instrument::Trace => "-trace",
            Instrument::Coverage => "-cov",
            Instrument::RandomX => "-x",
        }
    }
}
/// -O1 builds about 10% faster than the default with the same speed
/// (measured on Verilator 5.006).
const OPT_FAST: &str = "OPT_FAST=-O1";

/// A 64-bit FNV-1a hash: stable across runs and platforms, unlike the
/// standard library's randomly seeded hasher.
pub(crate) struct Fnv(pub(crate) u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
}

fn tool_output(cmd: &mut Command, what: &str) -> Result<String, CosimError> {
    let out = cmd.output().map_err(|e| {
        CosimError::Tool(format!(
            "cannot run {what}: {e}; install it with `make deps` (Debian package `verilator`)"
        ))
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(CosimError::Tool(format!(
            "{what} failed:\n{}",
            tail.join("\n")
        )));
    }
    Ok(text)
}

/// A verilated package ready to load.
pub struct Verilated {
    pub library: PathBuf,
    pub config: Config,
    /// Build folder (holds the library and, after a failure, traces).
    pub dir: PathBuf,
}

/// Verilates the package in `package_dir` (as written by `cimpool gen`) under
/// `build_root`, reusing an identical earlier build.
pub fn verilate(
    package_dir: &Path,
    build_root: &Path,
    jobs: u32,
    instrument: Instrument,
) -> Result<Verilated, CosimError> {
    let config = Config::from_file(&package_dir.join("cim_config.toml"))
        .map_err(|e| {
            CosimError::Package(format!(
                "{} is not a cimpool package: {e}",
                package_dir.display()
            ))
        })?
        .resolved();
    if config.storage == crate::config::Storage::Blackbox {
        return Err(CosimError::Package(format!(
            "{} was generated with storage = \"blackbox\": its macros are body-less stubs for a hard macro, so there is nothing to simulate; generate it with storage = \"flops\" to co-simulate",
            package_dir.display()
        )));
    }
    let list = std::fs::read_to_string(package_dir.join("files.f"))
        .map_err(|e| CosimError::Package(format!("{}/files.f: {e}", package_dir.display())))?;
    let mut sources = Vec::new();
    for name in list.lines().filter(|l| !l.trim().is_empty()) {
        let text = std::fs::read_to_string(package_dir.join(name))
            .map_err(|e| CosimError::Package(format!("{}/{name}: {e}", package_dir.display())))?;
        sources.push((name.to_string(), text));
    }
    // The shim follows the ports of the design the config describes.
    let design = crate::gen::generate(&config);
    let shim = shim_source(design.module(&design.top).expect("top"));
    let define = format!("-D{}", crate::ir::ASSERTIONS_DEFINE);
    let mut flags: Vec<&str> = VERILATOR_FLAGS.to_vec();
    flags.push(&define);
    flags.extend(["--top-module", design.top.as_str()]);
    flags.extend(instrument.flags());

    let version = tool_output(Command::new("verilator").arg("--version"), "verilator")?;
    let mut h = Fnv(0xcbf29ce484222325);
    for part in [version.as_str(), shim.as_str(), COSIM_MK, OPT_FAST] {
        h.write(part.as_bytes());
        h.write(&[0]);
    }
    for f in &flags {
        h.write(f.as_bytes());
    }
    for (name, text) in &sources {
        h.write(name.as_bytes());
        h.write(text.as_bytes());
    }
    std::fs::create_dir_all(build_root)
        .map_err(|e| CosimError::Tool(format!("cannot create {}: {e}", build_root.display())))?;
    // Absolute, because the tools run inside the build folder.
    let build_root = &build_root.canonicalize().expect("existing folder");
    let variant = instrument.folder_suffix();
    let dir = build_root.join(format!(
        "{}{variant}-{:016x}",
        config.design_name(),
        h.finish()
    ));
    let library = dir.join("obj/libcimsim.so");
    if library.exists() {
        return Ok(Verilated {
            library,
            config,
            dir,
        });
    }

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let tmp = build_root.join(format!(".tmp-{}-{nanos}", std::process::id()));
    let io = |e: std::io::Error| CosimError::Tool(format!("build folder {}: {e}", tmp.display()));
    std::fs::create_dir_all(tmp.join("rtl")).map_err(io)?;
    for (name, text) in &sources {
        std::fs::write(tmp.join("rtl").join(name), text).map_err(io)?;
    }
    let obj = tmp.join("obj");
    tool_output(
        Command::new("verilator")
            .args(&flags)
            .arg("-Mdir")
            .arg(&obj)
            .args(sources.iter().map(|(n, _)| format!("rtl/{n}")))
            .current_dir(&tmp),
        "verilator",
    )?;
    std::fs::write(obj.join("cim_shim.cpp"), &shim).map_err(io)?;
    std::fs::write(obj.join("cosim.mk"), COSIM_MK).map_err(io)?;
    tool_output(
        Command::new("make")
            .args([
                "-f",
                "cosim.mk",
                &format!("-j{jobs}"),
                OPT_FAST,
                "libcimsim.so",
            ])
            .current_dir(&obj),
        "make (C++ build of the verilated model)",
    )?;
    // Publish atomically; if a parallel build won the race, use its result.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if !library.exists() {
            return Err(CosimError::Tool(format!(
                "could not publish the build into {}",
                dir.display()
            )));
        }
    }
    Ok(Verilated {
        library,
        config,
        dir,
    })
}
