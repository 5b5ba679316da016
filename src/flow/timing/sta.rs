//! OpenSTA scripts and the parsing of what it prints (Debian's `opensta`,
//! 2019: `report_checks -format end`, `report_worst_slack`, `report_power`).

use std::fmt::Write;
use std::path::Path;

/// The slack of one timing endpoint from `report_checks -format end`.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// `cell/pin` or a top-level port name.
    pub pin: String,
    /// The endpoint's cell type, or `output` for a port.
    pub kind: String,
    pub required: f64,
    pub arrival: f64,
    pub slack: f64,
}

/// One stage of a reported path.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Stage {
    pub pin: String,
    pub cell: String,
    pub load_pf: f64,
    pub delay_ns: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimingPath {
    pub startpoint: String,
    pub endpoint: String,
    pub stages: Vec<Stage>,
    pub arrival: f64,
    pub slack: f64,
}

/// The reading prologue: Liberties, netlist, the package's SDC.
pub fn prologue(liberties: &[&Path], netlist: &Path, top: &str, sdc: &Path) -> String {
    let mut s = String::new();
    for l in liberties {
        let _ = writeln!(s, "read_liberty {{{}}}", l.display());
    }
    let _ = writeln!(s, "read_verilog {{{}}}", netlist.display());
    let _ = writeln!(s, "link_design {top}");
    let _ = writeln!(s, "read_sdc {{{}}}", sdc.display());
    s
}

/// Every endpoint's worst setup slack and the worst slack.
pub fn summary_commands() -> &'static str {
    "report_checks -path_delay max -format end -group_count 10000000 -endpoint_count 1 -digits 4\n\
     puts \"cimpool-worst-slack\"\nreport_worst_slack -digits 4\n"
}

/// The total power, in a run of its own: Debian's OpenSTA 2019 crashed in
/// `report_power` on one hierarchical netlist whose timing it had reported.
pub fn power_commands() -> &'static str {
    "puts \"cimpool-power\"\nreport_power -digits 6\n"
}

/// The worst path into one endpoint (`cell/pin` or a port).
pub fn path_command(endpoint: &str) -> String {
    let object = match endpoint.rsplit_once('/') {
        Some(_) => format!("[get_pins {{{endpoint}}}]"),
        None => format!("[get_ports {{{endpoint}}}]"),
    };
    format!(
        "puts \"cimpool-path {endpoint}\"\nreport_checks -path_delay max -to {object} -fields {{capacitance}} -digits 4\n"
    )
}

pub fn parse_endpoints(out: &str) -> Vec<Endpoint> {
    let mut v = Vec::new();
    for line in out.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        // `pin (kind) required arrival slack (MET|VIOLATED)`
        if t.len() != 6 || !t[1].starts_with('(') || !t[5].starts_with('(') {
            continue;
        }
        let num = |s: &str| s.parse::<f64>().ok();
        if let (Some(required), Some(arrival), Some(slack)) = (num(t[2]), num(t[3]), num(t[4])) {
            v.push(Endpoint {
                pin: t[0].to_string(),
                kind: t[1].trim_matches(['(', ')']).to_string(),
                required,
                arrival,
                slack,
            });
        }
    }
    v
}

/// The number after a marker line (`cimpool-worst-slack`, then
/// `worst slack -0.2221`).
pub fn parse_worst_slack(out: &str) -> Option<f64> {
    let after = out.split("cimpool-worst-slack").nth(1)?;
    after
        .lines()
        .find_map(|l| l.trim().strip_prefix("worst slack"))
        .and_then(|v| v.trim().parse().ok())
}

/// (total power, leakage) in W from `report_power`'s `Total` row.
pub fn parse_power(out: &str) -> Option<(f64, f64)> {
    let after = out.split("cimpool-power").nth(1)?;
    let row = after
        .lines()
        .find(|l| l.trim_start().starts_with("Total"))?;
    let v: Vec<f64> = row
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.len() >= 4).then(|| (v[3], v[2]))
}

/// Paths printed after `cimpool-path` markers, in order.
pub fn parse_paths(out: &str) -> Vec<TimingPath> {
    let mut paths = Vec::new();
    for chunk in out.split("cimpool-path ").skip(1) {
        let mut p = TimingPath {
            endpoint: chunk.lines().next().unwrap_or_default().trim().to_string(),
            ..Default::default()
        };
        let mut in_data = false;
        for line in chunk.lines() {
            let t = line.trim();
            if let Some(s) = t.strip_prefix("Startpoint:") {
                p.startpoint = s.split_whitespace().next().unwrap_or_default().to_string();
            }
            if t.ends_with("data arrival time") {
                if let Some(v) = t.split_whitespace().next().and_then(|v| v.parse().ok()) {
                    p.arrival = v;
                }
                in_data = false;
            }
            if t.contains("clock network delay") && p.stages.is_empty() {
                in_data = true;
                continue;
            }
            if let Some(s) = t
                .strip_suffix("(MET)")
                .or_else(|| t.strip_suffix("(VIOLATED)"))
            {
                p.slack = s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
            }
            if !in_data {
                continue;
            }
            // `cap delay time ^ pin (CELL)` with a load; pins without a
            // load (inputs of the next cell) are not stages.
            let f: Vec<&str> = t.split_whitespace().collect();
            if f.len() == 6 && (f[3] == "^" || f[3] == "v") && f[5].starts_with('(') {
                let (Some(load), Some(delay)) = (f[0].parse().ok(), f[1].parse().ok()) else {
                    continue;
                };
                p.stages.push(Stage {
                    pin: f[4].to_string(),
                    cell: f[5].trim_matches(['(', ')']).to_string(),
                    load_pf: load,
                    delay_ns: delay,
                });
            }
        }
        paths.push(p);
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    const END: &str = "max_delay/setup group core_clock

                                     Required   Actual
Endpoint                                Delay    Delay    Slack
---------------------------------------------------------------
lanes_0.acc_reg_3/D (DFFPOSX1)          9.8380   10.0600   -0.2220 (VIOLATED)
error_tile_0.cim_macro/wl[0] (cim_macro_8x8)    4.0000    1.3500    2.6500 (MET)
in_ready (output)                       8.0000    1.5180    6.4820 (MET)

cimpool-worst-slack
worst slack -0.2220
cimpool-power
Group                  Internal  Switching    Leakage      Total
Total                  3.03e-02   6.86e-03   7.27e-07   3.72e-02 100.0%
";

    #[test]
    fn endpoints_worst_slack_and_power() {
        let e = parse_endpoints(END);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].pin, "lanes_0.acc_reg_3/D");
        assert_eq!(e[0].slack, -0.222);
        assert_eq!(e[1].kind, "cim_macro_8x8");
        assert_eq!(e[2].kind, "output");
        assert_eq!(parse_worst_slack(END), Some(-0.222));
        assert_eq!(parse_power(END), Some((3.72e-2, 7.27e-7)));
    }

    #[test]
    fn a_path_and_its_stages() {
        let out = "cimpool-path lanes_0.acc_reg_3/D
Startpoint: controller.beat_reg_0 (rising edge-triggered flip-flop clocked by core_clock)
Endpoint: lanes_0.acc_reg_3 (rising edge-triggered flip-flop clocked by core_clock)

     Cap    Delay     Time   Description
-----------------------------------------------------------
          0.0000   0.0000   clock core_clock (rise edge)
          0.0000   0.0000   clock network delay (ideal)
          0.0000   0.0000 ^ controller.beat_reg_0/CLK (DFFPOSX1)
  0.0800   0.4000   0.4000 v controller.beat_reg_0/Q (DFFPOSX1)
  0.0500   0.2000   0.6000 ^ _123_/Y (XOR2X1)
                    0.6000 v lanes_0.acc_reg_3/D (DFFPOSX1)
                    0.6000   data arrival time

         10.0000  10.0000   clock core_clock (rise edge)
                   9.8380   data required time
-----------------------------------------------------------
                   9.2380   slack (MET)
";
        let p = &parse_paths(out)[0];
        assert_eq!(p.startpoint, "controller.beat_reg_0");
        assert_eq!(p.endpoint, "lanes_0.acc_reg_3/D");
        assert_eq!(p.stages.len(), 2);
        assert_eq!(p.stages[1].cell, "XOR2X1");
        assert_eq!(p.stages[1].delay_ns, 0.2);
        assert_eq!((p.arrival, p.slack), (0.6, 9.238));
    }
}
