//! Snapshots of a small configuration's emitted files: any change to the
//! generated text shows up as a reviewable diff (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test snapshot` to accept).

use cimpool::config::Config;

#[test]
fn small_package_text_is_stable() {
    let config = Config::from_toml(
        "macros = 2\nrows = 8\ncols = 4\npool = 2\nwl_parallel = 4\nadc_bits = 2\nadc_mode = 'round_clamp'\n\
         act_bits = 2\nact_signed = true\nout_lanes = 4\nbias_bits = 8\nscale_bits = 4\nmax_row_blocks = 4",
    )
    .unwrap();
    let pkg = cimpool::package::build(&config).unwrap();
    for (name, text) in &pkg.files {
        insta::assert_snapshot!(name.replace('.', "_"), text);
    }
}
