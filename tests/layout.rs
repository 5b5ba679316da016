//! The load-port layout (`config::layout`) is the one description of every
//! word on the port: each field of each target shows up, with its bit range,
//! in the C header, the port document and the JSON, the RTL ports are as
//! wide as the words, and the encoder puts each field where the layout says.

use cimpool::config::layout::{LANE, SCALES};
use cimpool::config::{Config, Derived};
use cimpool::golden::Scales;
use cimpool::loadport::{get, LoadPort};

fn package(toml: &str) -> (Config, Derived, Vec<(String, String)>) {
    let c = Config::from_toml(toml).unwrap().resolved();
    let pkg = cimpool::package::build(&c).unwrap();
    (c.clone(), Derived::new(&c), pkg.files)
}

fn file<'a>(files: &'a [(String, String)], name: &str) -> &'a str {
    &files.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn every_field_is_in_the_header_the_port_document_and_the_json() {
    for toml in [
        "macros = 3\nrows = 16\ncols = 12\npool = 6",
        "crossbar = 'benes'",
        "engine = 'dense'\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 8\nsparsity = 'skip'\nadc_bits = 2",
        "engine = 'dense'\nw_bits = 2\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 8\nsparsity = 'compact'\nslots = 3",
    ] {
        let (_, d, files) = package(toml);
        let (header, doc, json) = (
            file(&files, "cim_params.h"),
            file(&files, "cim_top.md"),
            file(&files, "cim_params.json"),
        );
        let json: serde_json::Value = serde_json::from_str(json).unwrap();
        let targets = json["derived"]["load"]["targets"].as_array().unwrap();
        assert_eq!(targets.len(), d.load.targets.len());
        for t in &d.load.targets {
            let upper = t.name.to_uppercase();
            assert!(
                header.contains(&format!("#define CIM_LOAD_{upper} {}u", t.sel)),
                "[{toml}] {}",
                t.name
            );
            for (prefix, word) in [("_ADDR", &t.addr), ("", &t.data)] {
                for f in &word.fields {
                    let name = format!("CIM_{upper}{prefix}_{}", f.name.to_uppercase());
                    assert!(
                        header.contains(&format!("#define {name}_LSB {}u", f.lsb)),
                        "{name}"
                    );
                    assert!(
                        header.contains(&format!("#define {name}_BITS {}u", f.width)),
                        "{name}"
                    );
                    if f.width > 0 {
                        let range = format!("`{}` | [{}:{}]", f.name, f.lsb + f.width - 1, f.lsb);
                        assert!(doc.contains(&range), "[{toml}] port document lacks {range}");
                    }
                }
            }
            let in_json = targets
                .iter()
                .find(|j| j["name"] == t.name.as_str())
                .unwrap();
            assert_eq!(
                in_json["data"]["fields"].as_array().unwrap().len(),
                t.data.fields.len()
            );
        }
    }
}

#[test]
fn rtl_ports_are_as_wide_as_the_words() {
    let (c, d, _) =
        package("macros = 2\nrows = 16\ncols = 16\npool = 8\nscale_bits = 12\nshift_bits = 5");
    let design = cimpool::gen::generate(&c);
    let width = |module: &str, port: &str| {
        design
            .module(module)
            .unwrap()
            .ports
            .iter()
            .find(|p| p.name == port)
            .unwrap()
            .ty
            .width
    };
    let scale_bits = d.load.target(SCALES).data.bits();
    // alpha, beta, shift and relu (an exact read-out has no ADC step).
    assert_eq!(scale_bits, 12 + 12 + 5 + 1);
    assert_eq!(width("scale_register", "wr_scale"), scale_bits);
    assert_eq!(width("output_unit", "scale"), scale_bits);
    assert_eq!(width("requantizer", "scale"), scale_bits);
    // With a lossy ADC the word grows by the ADC step, which the macros take.
    let (lossy, dl, _) = package("macros = 2\nrows = 16\ncols = 16\npool = 8\nadc_bits = 3");
    let lossy_design = cimpool::gen::generate(&lossy);
    let step = dl.load.target(SCALES).data.get("adc_shift");
    // W = 16: bits(W) = 5, so a 3-bit ADC steps by 2^0 .. 2^2.
    assert_eq!((step.width, step.max), (2, Some(2)));
    let macro_shift = lossy_design
        .module("cim_macro_16x16")
        .unwrap()
        .ports
        .iter()
        .find(|p| p.name == "adc_shift")
        .unwrap()
        .ty
        .width;
    assert_eq!(macro_shift, step.width);
    let lane = &d.load.target(LANE).data;
    assert_eq!(
        width("pool_index_memory", "wr_select"),
        lane.get("select").width
    );
    assert_eq!(width("output_unit", "wr_bias"), lane.get("bias").width);
    assert_eq!(width("cim_top", "load_data"), d.load.data_bits);
    assert_eq!(width("cim_top", "load_addr"), d.load.addr_bits);
}

#[test]
fn the_encoder_puts_each_field_where_the_layout_says() {
    let c = Config::from_toml("macros = 2\nrows = 16\ncols = 16\npool = 8\nbias_bits = 20")
        .unwrap()
        .resolved();
    let d = Derived::new(&c);
    let port = LoadPort::new(&c);
    let scales = Scales {
        alpha: -3,
        beta: 1234,
        shift: 9,
        relu: true,
        adc_shift: 0,
    };
    let load = port.scales(&scales).unwrap();
    let word = &d.load.target(SCALES).data;
    for (name, value) in scales.fields() {
        if !word.has(name) {
            assert_eq!(value, 0, "{name} is absent, so it must be 0");
            continue;
        }
        let f = word.get(name);
        let raw = get(&load.data, f.lsb, f.width) as i128;
        assert_eq!(f.value_of(raw as u128), value, "{name}");
    }
    let load = port.lane(13, 5, true, -77).unwrap();
    let word = &d.load.target(LANE).data;
    let field = |n: &str| {
        let f = word.get(n);
        f.value_of(get(&load.data, f.lsb, f.width) as u128)
    };
    assert_eq!((field("select"), field("mask"), field("bias")), (5, 1, -77));
    let addr = &d.load.target(LANE).addr;
    let a = |n: &str| (load.addr >> addr.get(n).lsb) & ((1 << addr.get(n).width) - 1);
    assert_eq!((a("group"), a("slot")), (1, 5));
}
