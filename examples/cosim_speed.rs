//! Co-simulation speed, in cycles per second, for one configuration:
//! 1. full co-simulation (Rust driver + golden model + every check),
//! 2. the Rust driver alone streaming vectors (no golden model),
//! 3. a plain C++ Verilator harness doing the same as 2 on the same model.
//!
//! Run: `cargo run --release --example cosim_speed -- [MACROS ROWS COLS] [CYCLES]`
//! (default 8 32 32, 20000 cycles). 8 128 128 builds for several minutes.

use cimpool::config::Config;
use cimpool::cosim::{driver, scenario, sim::Sim, verilate};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The Verilator runtime objects the shim library was linked with.
fn runtime_objects(obj: &Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(obj)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n.starts_with("verilated") && n.ends_with(".o"))
        .collect();
    names.sort();
    Ok(names)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let (macros, rows, cols) = match args.as_slice() {
        [m, r, c, ..] => (*m as u32, *r as u32, *c as u32),
        _ => (8, 32, 32),
    };
    let cycles = args.get(3).copied().unwrap_or(20_000);
    let config = Config {
        macros,
        rows,
        cols,
        ..Config::default()
    }
    .resolved();
    let pkg_dir = Path::new("build/bench").join(config.design_name());
    cimpool::package::build(&config)?.write(&pkg_dir)?;
    let t = Instant::now();
    let built = verilate::verilate(
        &pkg_dir,
        Path::new("build/verilator"),
        2,
        verilate::Instrument::Plain,
    )?;
    println!(
        "config {macros} x {rows}x{cols}: verilate + C++ build {:.1} s (0 if cached)",
        t.elapsed().as_secs_f64()
    );

    // 1. Full co-simulation.
    let sc = scenario::random_scenario(&config, 1, 400);
    let mut sim = Sim::load(&built.library)?;
    let t = Instant::now();
    let r = driver::run(&mut sim, &config, &sc, driver::Traffic::default(), None)?;
    let full = r.cycles as f64 / t.elapsed().as_secs_f64();
    println!(
        "full co-simulation (golden + checks): {:>10.0} cycles/s  ({} cycles, {} vectors)",
        full, r.cycles, r.vectors
    );
    drop(sim);

    // 2. Rust driver only.
    let mut sim = Sim::load(&built.library)?;
    let in_words = (rows * config.act_bits).div_ceil(32) as usize;
    for (n, v) in [
        ("load_valid", 0),
        ("in_valid", 1),
        ("in_first", 1),
        ("in_last", 1),
        ("out_ready", 1),
    ] {
        sim.set(n, v);
    }
    sim.reset(2);
    let mut x = 1u32;
    let mut words = vec![0u32; in_words];
    let t = Instant::now();
    for _ in 0..cycles {
        for w in words.iter_mut() {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            *w = x;
        }
        sim.set_words("in_data", &words);
        sim.cycle();
    }
    let rust = cycles as f64 / t.elapsed().as_secs_f64();
    println!("Rust driver, no checks:               {rust:>10.0} cycles/s");

    // 3. Plain C++ harness on the same objects.
    let obj = built.library.parent().unwrap();
    let root = String::from_utf8(
        Command::new("verilator")
            .arg("--getenv")
            .arg("VERILATOR_ROOT")
            .output()?
            .stdout,
    )?;
    let inc = format!("{}/include", root.trim());
    let main_cpp = format!(
        r#"#include "Vcim_top.h"
#include "verilated.h"
#include <chrono>
#include <cstdio>
int main() {{
    VerilatedContext ctx; Vcim_top top{{&ctx}};
    auto tick = [&] {{ top.clk = 1; top.eval(); top.clk = 0; top.eval(); }};
    top.clk = 0; top.rst = 1; top.load_valid = 0; top.in_valid = 1; top.in_first = 1; top.in_last = 1; top.out_ready = 1;
    top.eval(); tick(); tick(); top.rst = 0;
    uint32_t x = 1;
    auto t0 = std::chrono::steady_clock::now();
    for (long c = 0; c < {cycles}; ++c) {{
        for (int w = 0; w < {in_words}; ++w) {{ x = x * 1664525u + 1013904223u; top.in_data{idx} = x; }}
        tick();
    }}
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%.0f\n", {cycles} / s);
    top.final();
}}
"#,
        idx = if in_words > 2 { "[w]" } else { "" },
    );
    std::fs::write(obj.join("bench_main.cpp"), main_cpp)?;
    let status = Command::new("g++")
        .args([
            "-O1",
            "-std=c++17",
            "-I.",
            &format!("-I{inc}"),
            &format!("-I{inc}/vltstd"),
            "bench_main.cpp",
        ])
        .arg("Vcim_top__ALL.a")
        .args(runtime_objects(obj)?)
        .args(["-pthread", "-o", "bench_cpp"])
        .current_dir(obj)
        .status()?;
    anyhow::ensure!(status.success(), "C++ harness build failed");
    let out = Command::new(obj.join("bench_cpp")).output()?;
    let cpp: f64 = String::from_utf8(out.stdout)?.trim().parse()?;
    println!("plain C++ Verilator harness:          {cpp:>10.0} cycles/s");
    println!(
        "ratio Rust driver / C++: {:.2}; full co-simulation / C++: {:.2}",
        rust / cpp,
        full / cpp
    );
    Ok(())
}
