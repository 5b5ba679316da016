//! Independent check on a second simulator: the golden model records a
//! scenario's commands and expected output beats as `$readmemh` files, and
//! the hand-written testbench `testbench/cim_tb.v` replays them on the
//! generated Verilog under Icarus Verilog.

use super::scenario::{Command, Scenario};
use super::CosimError;
use crate::config::{Config, Derived};
use crate::golden::Engine;
use crate::loadport::{put, words_for, LoadPort, Words};
use std::fmt::Write;
use std::path::Path;
use std::process::Command as Process;

const TESTBENCH: &str = include_str!("../../testbench/cim_tb.v");

fn hex(words: &[u32], bits: u32) -> String {
    let digits = bits.div_ceil(4);
    (0..digits)
        .rev()
        .map(|d| {
            let nibble = (words[(d / 8) as usize] >> (4 * (d % 8))) & 0xf;
            char::from_digit(nibble, 16).unwrap()
        })
        .collect()
}

fn copy_into(dst: &mut Words, lsb: u32, src: &[u32], bits: u32) {
    for b in 0..bits {
        if src[(b / 32) as usize] >> (b % 32) & 1 == 1 {
            put(dst, lsb + b, 1, 1);
        }
    }
}

/// Result of a clean replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub beats: usize,
    pub cycles: u64,
}

/// A scenario as the testbench reads it: one command word per load or
/// input vector, one expected word per output beat.
struct Recording {
    commands: String,
    expected: String,
    beats: usize,
    payload: u32,
}

/// Runs the scenario on the golden model and records its commands and
/// output beats as `$readmemh` lines.
fn record(config: &Config, d: &Derived, scenario: &Scenario) -> Result<Recording, CosimError> {
    let mut port = LoadPort::new(config);
    let in_bits = config.rows * config.act_bits;
    let payload = d.load_data_bits.max(in_bits);
    let cmd_bits = 4 + d.load_sel_bits + d.load_addr_bits + payload;
    let mut golden = Engine::new(config, port.empty_weights());
    let (mut commands, mut expected) = (String::new(), String::new());
    let mut beats = 0usize;
    for cmd in &scenario.commands {
        let mut w = vec![0u32; words_for(cmd_bits)];
        match cmd {
            Command::Load(load) => {
                port.apply(&mut golden.weights, load)?;
                put(&mut w, cmd_bits - 2, 1, 1);
                put(
                    &mut w,
                    payload + d.load_addr_bits,
                    d.load_sel_bits,
                    load.sel as u64,
                );
                put(&mut w, payload, d.load_addr_bits, load.addr);
                copy_into(&mut w, 0, &load.data, d.load_data_bits);
            }
            Command::Reset { .. } => {
                return Err(CosimError::Package(
                    "the Icarus replay has no reset command: replay scenarios without resets"
                        .into(),
                ))
            }
            Command::Input { x, first, last } => {
                put(&mut w, cmd_bits - 1, 1, 1);
                put(&mut w, cmd_bits - 3, 1, *first as u64);
                put(&mut w, cmd_bits - 4, 1, *last as u64);
                copy_into(&mut w, 0, &port.input(x), in_bits);
                if let Some(out) = golden.step(x, *first, *last).outputs {
                    for k in 0..d.out_beats {
                        let mut b = vec![0u32; words_for(d.out_beat_bits + 1)];
                        for i in 0..d.out_lanes {
                            let v = out[(k * d.out_lanes + i) as usize] as u64;
                            put(
                                &mut b,
                                i * config.out_bits,
                                config.out_bits,
                                v & ((1u64 << config.out_bits) - 1),
                            );
                        }
                        put(&mut b, d.out_beat_bits, 1, (k == d.out_beats - 1) as u64);
                        let _ = writeln!(expected, "{}", hex(&b, d.out_beat_bits + 1));
                        beats += 1;
                    }
                }
            }
        }
        let _ = writeln!(commands, "{}", hex(&w, cmd_bits));
    }
    Ok(Recording {
        commands,
        expected,
        beats,
        payload,
    })
}

pub fn replay(
    package_dir: &Path,
    work_dir: &Path,
    config: &Config,
    scenario: &Scenario,
) -> Result<Replay, CosimError> {
    let d = Derived::new(config);
    let in_bits = config.rows * config.act_bits;
    let Recording {
        commands,
        expected,
        beats,
        payload,
    } = record(config, &d, scenario)?;
    let io = |e: std::io::Error| CosimError::Tool(format!("{}: {e}", work_dir.display()));
    std::fs::create_dir_all(work_dir).map_err(io)?;
    std::fs::write(work_dir.join("commands.hex"), commands).map_err(io)?;
    std::fs::write(work_dir.join("expected.hex"), expected).map_err(io)?;
    // The testbench names the default top; a prefixed package renames it.
    let top = format!("{}cim_top dut (", config.prefix);
    std::fs::write(
        work_dir.join("cim_tb.v"),
        TESTBENCH.replace("cim_top dut (", &top),
    )
    .map_err(io)?;

    let list = std::fs::read_to_string(package_dir.join("files.f")).map_err(io)?;
    let package_dir = package_dir.canonicalize().map_err(io)?;
    let params = [
        ("LOAD_SEL_BITS", d.load_sel_bits as usize),
        ("LOAD_ADDR_BITS", d.load_addr_bits as usize),
        ("LOAD_DATA_BITS", d.load_data_bits as usize),
        ("IN_BITS", in_bits as usize),
        ("OUT_BITS", d.out_beat_bits as usize),
        ("PAYLOAD_BITS", payload as usize),
        ("N_COMMANDS", scenario.commands.len()),
        ("N_BEATS", beats.max(1)),
    ];
    let compile = Process::new("iverilog")
        .args(["-g2005", "-s", "cim_tb", "-o", "tb.vvp"])
        .args(
            params
                .iter()
                .flat_map(|(n, v)| ["-P".to_string(), format!("cim_tb.{n}={v}")]),
        )
        .arg("cim_tb.v")
        .args(list.lines().map(|f| package_dir.join(f)))
        .current_dir(work_dir)
        .output()
        .map_err(|e| {
            CosimError::Tool(format!(
                "cannot run iverilog: {e}; install it with `make deps`"
            ))
        })?;
    if !compile.status.success() {
        return Err(CosimError::Tool(format!(
            "iverilog failed:\n{}",
            String::from_utf8_lossy(&compile.stderr)
        )));
    }
    let run = Process::new("vvp")
        .args(["-n", "tb.vvp"])
        .current_dir(work_dir)
        .output()
        .map_err(|e| CosimError::Tool(format!("cannot run vvp: {e}")))?;
    let out = String::from_utf8_lossy(&run.stdout).to_string();
    let Some(line) = out.lines().find(|l| l.starts_with("PASS")) else {
        return Err(CosimError::Tool(format!(
            "Icarus replay in {} did not pass:\n{out}",
            work_dir.display()
        )));
    };
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Replay {
        beats: field("beats=") as usize,
        cycles: field("cycles="),
    })
}
