//! Snapshots of a small configuration's emitted files: any change to the
//! generated text shows up as a reviewable diff (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test snapshot` to accept).

use cimpool::config::Config;

const SMALL: &str = "macros = 2\nrows = 8\ncols = 4\npool = 2\nwl_parallel = 4\nadc_bits = 2\n\
    adc_mode = 'round_clamp'\nact_bits = 2\nact_signed = true\nout_lanes = 4\nbias_bits = 8\n\
    scale_bits = 4\nmax_row_blocks = 4";

fn files(toml: &str) -> Vec<(String, String)> {
    cimpool::package::build(&Config::from_toml(toml).unwrap())
        .unwrap()
        .files
}

#[test]
fn small_package_text_is_stable() {
    for (name, text) in files(SMALL) {
        insta::assert_snapshot!(name.replace(['.', '/'], "_"), text);
    }
}

/// The files black-box storage changes: the macro stubs, their LEF and
/// Liberty views, and the ORFS config that points at them.
#[test]
fn blackbox_views_are_stable() {
    for (name, text) in files(&format!("{SMALL}\nstorage = 'blackbox'")) {
        if name.starts_with("macros/")
            || name.starts_with("cim_macro_")
            || name == "flow/orfs/config.mk"
        {
            insta::assert_snapshot!(format!("blackbox_{}", name.replace(['.', '/'], "_")), text);
        }
    }
}
