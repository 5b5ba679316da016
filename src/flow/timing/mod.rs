//! `cimpool report timing`: the package mapped onto a timing Liberty
//! (default: Debian's `qflow-tech-osu018`, 0.18 um, 1.8 V, 25 C), high-fanout
//! nets buffered, then OpenSTA with the package's own SDC: worst slack, Fmax,
//! the critical path into every block, power and leakage, and cell area by
//! block from the same Liberty.
//!
//! The timed netlist is flat (one ABC run over the whole package), so paths
//! cross module boundaries as they do on silicon; the area by block comes
//! from a second, hierarchical mapping (`report area`) onto the same cells.

mod cell_models;
mod liberty;
mod netlist;
mod sta;

pub use netlist::BufferStats;

use super::area::{self, AreaReport, BLOCKS};
use super::FlowError;
use crate::config::{Config, Storage};
use crate::ir::Design;
use liberty::Library;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Where Debian's `qflow-tech-osu018` puts its Liberty.
pub const OSU018_LIBERTY: &str = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib";

/// Timing endpoints that are not registers of a block.
pub const MACRO_INPUTS: &str = "macro inputs (black-box setup)";
pub const OUTPUT_PORTS: &str = "output ports (SDC output delay)";
const UNATTRIBUTED: &str = "unattributed registers";

/// Yosys' ABC pass with a script that maps for delay and then buffers and
/// sizes. `{D}` is the delay target ABC receives from `abc -D`. Yosys 0.23's
/// default liberty script stops at `&nf`: no buffering, no sizing.
const ABC_SCRIPT: &str =
    "strash\n&get -n\n&dch -f\n&nf {D}\n&put\nbuffer -p -N 8\nupsize {D}\ndnsize {D}\n";

#[derive(Clone, Debug)]
pub struct TimingOptions {
    /// Timing Liberty; `None`: osu018 from Debian.
    pub liberty: Option<PathBuf>,
    /// Loads per driver after buffering.
    pub max_fanout: usize,
    /// Keep the module hierarchy: each unique module is mapped and buffered
    /// once (minutes instead of hours on the default package), paths still
    /// cross the modules in OpenSTA, but no logic is optimized across them.
    pub hierarchical: bool,
    /// Where to keep the timed gate-level netlist (flat Verilog of the
    /// Liberty's cells), e.g. to simulate it.
    pub netlist_out: Option<PathBuf>,
}

impl Default for TimingOptions {
    fn default() -> Self {
        TimingOptions {
            liberty: None,
            max_fanout: 8,
            hierarchical: false,
            netlist_out: None,
        }
    }
}

/// The worst path into the registers (or pins) of one block.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BlockTiming {
    pub block: String,
    pub endpoints: usize,
    pub worst_slack_ns: f64,
    pub startpoint: String,
    pub endpoint: String,
    /// Cells on the path (launching flop included).
    pub logic_depth: usize,
    pub arrival_ns: f64,
    /// The slowest stage: cell, its delay and the load it drives.
    pub slowest_stage: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TimingReport {
    pub design: String,
    pub liberty: String,
    pub clock_period_ns: f64,
    pub worst_slack_ns: f64,
    /// 1 / (period - worst slack), with the SDC's input/output delays and the
    /// macro arcs as they are at the configured period.
    pub fmax_mhz: f64,
    pub endpoints: usize,
    pub failing_endpoints: usize,
    pub blocks: Vec<BlockTiming>,
    /// Flat netlist: cells and cell area (black-box macros excluded).
    pub cells: u64,
    pub cell_area_um2: f64,
    /// Total power at OpenSTA's default activity and leakage, W; None with
    /// `power_note` saying why when OpenSTA could not report them.
    pub power_w: Option<f64>,
    pub leakage_w: Option<f64>,
    pub power_note: Option<String>,
    pub buffering: BufferStats,
    /// Liberty cells the netlist uses.
    pub cell_types: Vec<String>,
    pub area: AreaReport,
    pub synthesis_s: f64,
    pub sta_s: f64,
}

impl TimingReport {
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "clock {:.3} ns: worst slack {:.3} ns, Fmax {:.1} MHz; {} of {} endpoints fail",
            self.clock_period_ns,
            self.worst_slack_ns,
            self.fmax_mhz,
            self.failing_endpoints,
            self.endpoints
        );
        let power = match (self.power_w, self.leakage_w) {
            (Some(p), Some(l)) => format!(
                "power {:.3} mW at OpenSTA's default activity, leakage {:.3} uW",
                p * 1e3,
                l * 1e6
            ),
            _ => format!(
                "power not available ({})",
                self.power_note.as_deref().unwrap_or("unknown")
            ),
        };
        let _ = writeln!(
            s,
            "{} cells, {:.0} um^2 (macros excluded); {power}",
            self.cells, self.cell_area_um2,
        );
        let b = &self.buffering;
        let _ = writeln!(
            s,
            "buffering: {} registers replicated, {} nets over {} loads, {} buffers; worst fanout {} -> {}; {} nets over max_capacitance\n",
            b.registers_replicated,
            b.nets_buffered,
            b.max_fanout,
            b.buffers_added,
            b.worst_fanout_before,
            b.worst_fanout_after,
            b.max_capacitance_violations
        );
        s.push_str("| block | endpoints | worst slack (ns) | Fmax alone (MHz) | depth (cells) | slowest stage | critical path |\n|---|---:|---:|---:|---:|---|---|\n");
        for r in &self.blocks {
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {:.1} | {} | {} | {} -> {} |",
                r.block,
                r.endpoints,
                r.worst_slack_ns,
                1e3 / (self.clock_period_ns - r.worst_slack_ns),
                r.logic_depth,
                r.slowest_stage,
                r.startpoint,
                r.endpoint
            );
        }
        let _ = writeln!(s, "\nCell area by block ({}):\n", self.liberty);
        s.push_str(&self.area.table());
        s
    }
}

/// Instance path (`error_tile_0.shift_acc`) -> block index, by the IR roles.
fn instance_blocks(design: &Design) -> BTreeMap<String, usize> {
    fn walk(
        design: &Design,
        module: &str,
        path: String,
        inherited: usize,
        out: &mut BTreeMap<String, usize>,
    ) {
        let Some(m) = design.module(module) else {
            return;
        };
        let block = area::block_of(m.role).unwrap_or(inherited);
        for inst in &m.instances {
            let p = if path.is_empty() {
                inst.name.clone()
            } else {
                format!("{path}.{}", inst.name)
            };
            walk(design, &inst.module, p, block, out);
        }
        out.insert(path, block);
    }
    let mut out = BTreeMap::new();
    walk(design, &design.top, String::new(), area::CONTROL, &mut out);
    out
}

/// `modules` ordered so every module comes after the modules it
/// instantiates (the pins behind a port are known before its parent is
/// buffered).
fn children_first(json: &serde_json::Value, modules: &[String]) -> Vec<String> {
    fn visit(json: &serde_json::Value, m: &str, modules: &[String], out: &mut Vec<String>) {
        if out.iter().any(|o| o == m) {
            return;
        }
        for (_, cell) in json["modules"][m]["cells"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let ty = cell["type"].as_str().unwrap_or_default();
            if ty != m && modules.iter().any(|x| x == ty) {
                visit(json, ty, modules, out);
            }
        }
        out.push(m.to_string());
    }
    let mut out = Vec::new();
    for m in modules {
        visit(json, m, modules, &mut out);
    }
    out
}

/// Instance path -> module name.
fn instance_modules(design: &Design) -> BTreeMap<String, String> {
    fn walk(design: &Design, module: &str, path: String, out: &mut BTreeMap<String, String>) {
        let Some(m) = design.module(module) else {
            return;
        };
        for inst in &m.instances {
            let p = match path.is_empty() {
                true => inst.name.clone(),
                false => format!("{path}.{}", inst.name),
            };
            walk(design, &inst.module, p, out);
        }
        out.insert(path, module.to_string());
    }
    let mut out = BTreeMap::new();
    walk(design, &design.top, String::new(), &mut out);
    out
}

/// Which of a flop's net names is its register. In a flat netlist one net
/// carries the names of every module it passes through (a buffer's output
/// register is also the crossbar's input), so the deepest name can be the
/// wrong module's. Yosys' `src` attribute lists the flop's source sites, one
/// per module from the top down to the one holding the `always`: that
/// module (the one that instantiates none of the others) is the register's,
/// and the name whose instance path is that module wins.
fn register_name(
    design: &Design,
    modules_at: &BTreeMap<String, String>,
    cell: &serde_json::Value,
    names: &[String],
) -> Option<usize> {
    let src = cell["attributes"]["src"].as_str().unwrap_or_default();
    let sites: Vec<String> = src
        .split('|')
        .filter_map(|site| {
            let file = site.split(':').next()?;
            let stem = Path::new(file).file_stem()?.to_str()?;
            design.module(stem).map(|_| stem.to_string())
        })
        .collect();
    let leaf = sites.iter().find(|m| {
        let module = design.module(m).expect("filtered");
        !sites
            .iter()
            .any(|other| module.instances.iter().any(|i| &i.module == other))
    });
    let module_of = |name: &str| {
        let path = name.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
        modules_at.get(path)
    };
    let matching: Vec<String> = names
        .iter()
        .filter(|n| leaf.is_some_and(|l| module_of(n) == Some(l)))
        .cloned()
        .collect();
    match netlist::deepest(&matching) {
        Some(i) => names.iter().position(|n| *n == matching[i]),
        None => netlist::deepest(names),
    }
}

/// The block of a timing endpoint.
fn endpoint_block(e: &sta::Endpoint, blocks: &BTreeMap<String, usize>, design: &Design) -> String {
    if e.kind == "output" {
        return OUTPUT_PORTS.to_string();
    }
    if design.module(&e.kind).is_some_and(|m| m.blackbox) {
        return MACRO_INPUTS.to_string();
    }
    let cell = e.pin.rsplit_once('/').map(|(c, _)| c).unwrap_or(&e.pin);
    // Hierarchical netlists name `inst/inst/reg`, flat ones `inst.inst.reg`.
    let (path, register) = match cell.rsplit_once('/') {
        Some((p, r)) => (p.replace('/', "."), r),
        None => cell
            .rsplit_once('.')
            .map(|(p, r)| (p.to_string(), r))
            .unwrap_or((String::new(), cell)),
    };
    if !register.contains("_reg") {
        return UNATTRIBUTED.to_string();
    }
    // Walk up until a known instance.
    let mut path = path.as_str();
    loop {
        if let Some(&b) = blocks.get(path) {
            return BLOCKS[b].to_string();
        }
        match path.rsplit_once('.') {
            Some((p, _)) => path = p,
            None if !path.is_empty() => path = "",
            None => return UNATTRIBUTED.to_string(),
        }
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<String, FlowError> {
    let out = cmd.output().map_err(|e| {
        FlowError::Tool(format!(
            "cannot run {what}: {e}; install it with `make deps`"
        ))
    })?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || text.contains("\nError:") || text.starts_with("Error:") {
        // The tool's own error lines first (they may sit far above the
        // tail), then the tail and the exit status.
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("Error") || l.contains(" Error:"))
            .take(5)
            .collect();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        return Err(FlowError::Tool(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            if errors.is_empty() {
                String::new()
            } else {
                errors.join("\n") + "\n...\n"
            },
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(text)
}

/// Times the package in `package_dir`; `progress` hears each step.
pub fn report(
    package_dir: &Path,
    options: &TimingOptions,
    mut progress: impl FnMut(&str),
) -> Result<TimingReport, FlowError> {
    let config = super::package_config(package_dir)?;
    let design = crate::gen::generate(&config);
    let lib_path = options
        .liberty
        .clone()
        .unwrap_or_else(|| PathBuf::from(OSU018_LIBERTY));
    if !lib_path.is_file() {
        let hint = match options.liberty {
            Some(_) => "pass the path of a Liberty file with timing tables",
            None => "install Debian's qflow-tech-osu018 (`make deps` does) or pass --liberty FILE",
        };
        return Err(FlowError::Usage(format!(
            "liberty {}: no such file; {hint}",
            lib_path.display()
        )));
    }
    if options.max_fanout < 2 || options.max_fanout > 64 {
        return Err(FlowError::Usage(format!(
            "max_fanout {} is out of range: 2..=64",
            options.max_fanout
        )));
    }
    let work = area::scratch_dir()?;
    let result = report_in(
        &work,
        package_dir,
        &config,
        &design,
        &lib_path,
        options,
        &mut progress,
    );
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn report_in(
    work: &Path,
    package_dir: &Path,
    config: &Config,
    design: &Design,
    lib_path: &Path,
    options: &TimingOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<TimingReport, FlowError> {
    let lib_path = lib_path.canonicalize().map_err(FlowError::io(lib_path))?;
    let lib_text = std::fs::read_to_string(&lib_path).map_err(FlowError::io(&lib_path))?;
    let mut lib = Library::parse(&lib_text);
    let mut liberties = vec![lib_path.clone()];
    if config.storage == Storage::Blackbox {
        for name in super::blackbox_modules(design) {
            let p = package_dir.join(format!("macros/{name}.lib"));
            let p = p.canonicalize().map_err(FlowError::io(&p))?;
            lib.add(&std::fs::read_to_string(&p).map_err(FlowError::io(&p))?);
            liberties.push(p);
        }
    }
    let files: Vec<String> = super::file_order(design)
        .iter()
        .map(|f| {
            let p = package_dir.join(f);
            p.canonicalize()
                .map(|p| p.display().to_string())
                .map_err(FlowError::io(&p))
        })
        .collect::<Result<_, _>>()?;
    let sdc = package_dir.join(format!("constraints/{}.sdc", config.design_name()));
    let sdc = sdc.canonicalize().map_err(FlowError::io(&sdc))?;
    let top = &design.top;
    let read_libs: String = liberties
        .iter()
        .map(|l| format!("read_liberty -lib {}; ", l.display()))
        .collect();
    let abc = work.join("map.abc");
    std::fs::write(&abc, ABC_SCRIPT).map_err(FlowError::io(&abc))?;
    let delay_ps = (config.clock_period_ns * 1000.0).round() as u64;
    let synth_start = Instant::now();

    let (flatten, how) = match options.hierarchical {
        true => ("", "hierarchical"),
        false => ("-flatten ", "flat"),
    };
    progress(&format!("synthesizing ({how}, onto the timing Liberty)"));
    let script = format!(
        "{read_libs}read_verilog {files}; hierarchy -check -top {top}; synth {flatten}-top {top}; \
         dfflibmap -liberty {lib}; abc -D {delay_ps} -liberty {lib} -script {abc}; \
         opt_clean; setundef -zero; opt_clean; check -assert; write_json mapped.json",
        files = files.join(" "),
        lib = lib_path.display(),
        abc = abc.display(),
    );
    area::run_yosys(&script, work).map_err(|e| e.context(&package_dir.display().to_string()))?;

    progress("buffering high-fanout nets");
    let mapped = work.join("mapped.json");
    let text = std::fs::read_to_string(&mapped).map_err(FlowError::io(&mapped))?;
    let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| FlowError::Io {
        path: mapped.clone(),
        reason: e.to_string(),
    })?;
    let bad = |reason: String| FlowError::Io {
        path: mapped.clone(),
        reason,
    };
    // Every synthesized module (not the Liberty cells, which are black boxes).
    let modules: Vec<String> = json["modules"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, m)| m["attributes"].get("blackbox").is_none())
        .map(|(n, _)| n.clone())
        .collect();
    let mut buffering = BufferStats::default();
    let modules_at = instance_modules(design);
    let mut behind = netlist::PortLoads::new();
    for module in &children_first(&json, &modules) {
        let clk = netlist::port_bits(&mut json, module, "clk");
        // Named first, so a register's copies carry its name and block.
        netlist::name_registers(&mut json, module, &lib, &|cell, names| {
            register_name(design, &modules_at, cell, names)
        })
        .map_err(bad)?;
        let copies =
            netlist::replicate_registers(&mut json, module, &lib, options.max_fanout, &behind)
                .map_err(bad)?;
        let mut b = netlist::buffer_fanout(
            &mut json,
            module,
            &lib,
            options.max_fanout,
            &clk,
            &mut behind,
        )
        .map_err(bad)?;
        b.registers_replicated = copies;
        buffering.merge(&b);
    }
    let (cells, cell_area_um2) = instance_cells(&json, top, &lib);
    let cell_types: Vec<String> = modules
        .iter()
        .flat_map(|m| {
            json["modules"][m]["cells"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, c)| c["type"].as_str())
        })
        .filter(|t| {
            lib.cells
                .get(*t)
                .is_some_and(|c| !c.pins.is_empty() && !c.is_macro())
        })
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let buffered = work.join("buffered.json");
    std::fs::write(&buffered, json.to_string()).map_err(FlowError::io(&buffered))?;
    area::run_yosys(
        &format!("read_json buffered.json; hierarchy -top {top}; check -assert; write_verilog -noattr -noexpr netlist.v"),
        work,
    )?;
    let synthesis_s = synth_start.elapsed().as_secs_f64();
    if let Some(out) = &options.netlist_out {
        std::fs::copy(work.join("netlist.v"), out).map_err(FlowError::io(out))?;
    }

    progress("static timing (OpenSTA)");
    let sta_start = Instant::now();
    let lib_refs: Vec<&Path> = liberties.iter().map(PathBuf::as_path).collect();
    let prologue = sta::prologue(&lib_refs, &work.join("netlist.v"), top, &sdc);
    // One OpenSTA run: the reading prologue, then `commands`.
    let sta_run = |name: &str, commands: &str| -> Result<String, FlowError> {
        let tcl = work.join(name);
        std::fs::write(&tcl, format!("{prologue}{commands}exit\n")).map_err(FlowError::io(&tcl))?;
        run(
            Command::new("sta")
                .args(["-no_splash", "-exit"])
                .arg(&tcl)
                .current_dir(work),
            "OpenSTA (sta)",
        )
    };
    let out = sta_run("summary.tcl", sta::summary_commands())?;
    let endpoints = sta::parse_endpoints(&out);
    let worst = sta::parse_worst_slack(&out)
        .ok_or_else(|| FlowError::Tool(format!("no worst slack in the OpenSTA output:\n{out}")))?;
    // Power is a by-product: when OpenSTA cannot report it, the timing
    // still stands, and the report says why power is missing.
    let (power_w, leakage_w, power_note) = match sta_run("power.tcl", sta::power_commands()) {
        Ok(text) => match sta::parse_power(&text) {
            Some((p, l)) => (Some(p), Some(l), None),
            None => (
                None,
                None,
                Some("no Total row in OpenSTA's report_power".to_string()),
            ),
        },
        Err(e) => (
            None,
            None,
            Some(
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(':')
                    .to_string(),
            ),
        ),
    };

    // The worst endpoint of every block, then its full path.
    let blocks_of = instance_blocks(design);
    let mut worst_by_block: BTreeMap<String, (usize, sta::Endpoint)> = BTreeMap::new();
    for e in &endpoints {
        let b = endpoint_block(e, &blocks_of, design);
        let entry = worst_by_block.entry(b).or_insert((0, e.clone()));
        entry.0 += 1;
        if e.slack < entry.1.slack {
            entry.1 = e.clone();
        }
    }
    progress("critical paths by block (OpenSTA)");
    let cmds: String = worst_by_block
        .values()
        .map(|(_, e)| sta::path_command(&e.pin))
        .collect();
    let out = sta_run("paths.tcl", &cmds)?;
    let paths: BTreeMap<String, sta::TimingPath> = sta::parse_paths(&out)
        .into_iter()
        .map(|p| (p.endpoint.clone(), p))
        .collect();
    let order = |b: &str| {
        BLOCKS.iter().position(|x| *x == b).unwrap_or(
            BLOCKS.len()
                + [MACRO_INPUTS, OUTPUT_PORTS]
                    .iter()
                    .position(|x| *x == b)
                    .unwrap_or(2),
        )
    };
    let mut blocks: Vec<BlockTiming> = worst_by_block
        .into_iter()
        .map(|(block, (n, e))| {
            let p = paths.get(&e.pin).cloned().unwrap_or_default();
            let slowest = p
                .stages
                .iter()
                .max_by(|a, b| a.delay_ns.total_cmp(&b.delay_ns))
                .map(|s| format!("{} {:.3} ns into {:.3} pF", s.cell, s.delay_ns, s.load_pf))
                .unwrap_or_default();
            BlockTiming {
                block,
                endpoints: n,
                worst_slack_ns: e.slack,
                startpoint: p.startpoint,
                endpoint: e.pin.clone(),
                logic_depth: p.stages.len(),
                arrival_ns: e.arrival,
                slowest_stage: slowest,
            }
        })
        .collect();
    blocks.sort_by_key(|b| order(&b.block));
    let sta_s = sta_start.elapsed().as_secs_f64();

    progress("cell area by block (hierarchical synthesis)");
    let area_dir = work.join("area");
    std::fs::create_dir_all(&area_dir).map_err(FlowError::io(&area_dir))?;
    let area = area::report_in(&area_dir, package_dir, config, design, Some(&lib_path))?;

    Ok(TimingReport {
        design: config.design_name(),
        liberty: lib_path.display().to_string(),
        clock_period_ns: config.clock_period_ns,
        worst_slack_ns: worst,
        fmax_mhz: 1e3 / (config.clock_period_ns - worst),
        endpoints: endpoints.len(),
        failing_endpoints: endpoints.iter().filter(|e| e.slack < 0.0).count(),
        blocks,
        cells,
        cell_area_um2,
        power_w,
        leakage_w,
        power_note,
        buffering,
        cell_types,
        area,
        synthesis_s,
        sta_s,
    })
}

/// Times the package and writes, under `out_dir`, two package folders that
/// simulate the timed netlist (`power_up_0`, `power_up_1`): its
/// `cim_config.toml`, the netlist, models of its cells written from the
/// Liberty (every flop powers up at a pseudo-random value, inverted in the
/// second folder) and a `files.f`, so `cosim::icarus::replay` runs the same
/// scenarios on gates as on RTL. Black-box macros have no gates: flop
/// storage only.
pub fn gate_level_packages(
    package_dir: &Path,
    out_dir: &Path,
    options: &TimingOptions,
    progress: impl FnMut(&str),
) -> Result<(TimingReport, Vec<PathBuf>), FlowError> {
    let config = super::package_config(package_dir)?;
    if config.storage == Storage::Blackbox {
        return Err(FlowError::Usage(
            "storage = \"blackbox\": the macros have no gates to simulate; generate with storage = \"flops\"".into(),
        ));
    }
    std::fs::create_dir_all(out_dir).map_err(FlowError::io(out_dir))?;
    let netlist = out_dir.join("netlist.v");
    let options = TimingOptions {
        netlist_out: Some(netlist.clone()),
        ..options.clone()
    };
    let report = report(package_dir, &options, progress)?;
    let lib_path = PathBuf::from(&report.liberty);
    let lib =
        Library::parse(&std::fs::read_to_string(&lib_path).map_err(FlowError::io(&lib_path))?);
    let mut dirs = Vec::new();
    for salt in [0, 1] {
        let dir = out_dir.join(format!("power_up_{salt}"));
        std::fs::create_dir_all(&dir).map_err(FlowError::io(&dir))?;
        let models = cell_models::cell_models(&lib, &report.cell_types, salt)
            .map_err(|e| FlowError::Tool(format!("{}: {e}", lib_path.display())))?;
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(FlowError::io(&p))
        };
        write("cells.v", &models)?;
        write("files.f", "cells.v\nnetlist.v\n")?;
        let cfg = package_dir.join("cim_config.toml");
        let to = dir.join("cim_config.toml");
        std::fs::copy(&cfg, &to).map_err(FlowError::io(&cfg))?;
        let to = dir.join("netlist.v");
        std::fs::copy(&netlist, &to).map_err(FlowError::io(&netlist))?;
        dirs.push(dir);
    }
    let _ = std::fs::remove_file(&netlist);
    Ok((report, dirs))
}

/// Standard cells and their area under `module`, every instance counted
/// (black-box macros excluded).
fn instance_cells(json: &serde_json::Value, module: &str, lib: &Library) -> (u64, f64) {
    fn walk(
        json: &serde_json::Value,
        module: &str,
        lib: &Library,
        memo: &mut BTreeMap<String, (u64, f64)>,
    ) -> (u64, f64) {
        if let Some(&v) = memo.get(module) {
            return v;
        }
        let (mut n, mut a) = (0, 0.0);
        for (_, cell) in json["modules"][module]["cells"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let ty = cell["type"].as_str().unwrap_or_default();
            match lib.cells.get(ty) {
                Some(c) if !c.is_macro() => {
                    n += 1;
                    a += c.area;
                }
                Some(_) => {}
                None if json["modules"].get(ty).is_some() => {
                    let (cn, ca) = walk(json, ty, lib, memo);
                    n += cn;
                    a += ca;
                }
                None => {}
            }
        }
        memo.insert(module.to_string(), (n, a));
        (n, a)
    }
    walk(json, module, lib, &mut BTreeMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_map_to_blocks_by_instance_path() {
        let config = Config::default().resolved();
        let design = crate::gen::generate(&config);
        let blocks = instance_blocks(&design);
        let e = |pin: &str, kind: &str| sta::Endpoint {
            pin: pin.into(),
            kind: kind.into(),
            required: 0.0,
            arrival: 0.0,
            slack: 0.0,
        };
        let of = |pin: &str, kind: &str| endpoint_block(&e(pin, kind), &blocks, &design);
        assert_eq!(
            of("error_tile_0.shift_acc.acc_3_reg_5/D", "DFFPOSX1"),
            "shift-accumulate"
        );
        assert_eq!(
            of("lanes_1.acc_pool_reg_2/D", "DFFPOSX1"),
            "lane accumulators + requantizer"
        );
        assert_eq!(
            of("controller.beat_reg_0/D", "DFFPOSX1"),
            "control + input sequencer"
        );
        assert_eq!(
            of("index_decoder.select_reg_1/D", "DFFPOSX1"),
            "index memory + decoder"
        );
        assert_eq!(of("out_data[3]", "output"), OUTPUT_PORTS);
        assert_eq!(of("_123_/D", "DFFPOSX1"), UNATTRIBUTED);
        assert_eq!(
            of("out_valid_reg/D", "DFFPOSX1"),
            "control + input sequencer"
        );
    }
}
