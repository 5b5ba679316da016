//! A network as files: its description (`<name>.toml`) and its weights
//! (`<name>.npz`), as `compress --morph` and `--write-folded` write them
//! for tools that train the engine's weights.

use crate::error::{Error, Result};
use crate::network::model::ModelDesc;
use crate::network::{builtin, tensors::Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes `<name>.toml` and `<name>.npz` into `dir`; returns their file
/// names.
pub fn write(
    dir: &Path,
    name: &str,
    header: &str,
    desc: &ModelDesc,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<(PathBuf, PathBuf)> {
    let cannot =
        |path: &Path, e: String| Error::Failed(format!("cannot write {}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(|e| cannot(dir, e.to_string()))?;
    let toml_name = PathBuf::from(format!("{name}.toml"));
    let toml_path = dir.join(&toml_name);
    std::fs::write(&toml_path, builtin::describe(header, desc))
        .map_err(|e| cannot(&toml_path, e.to_string()))?;
    let npz_name = PathBuf::from(format!("{name}.npz"));
    let npz_path = dir.join(&npz_name);
    let file = std::fs::File::create(&npz_path).map_err(|e| cannot(&npz_path, e.to_string()))?;
    let mut npz = ndarray_npy::NpzWriter::new(std::io::BufWriter::new(file));
    for (name, t) in tensors {
        let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&t.shape), t.data.clone())
            .expect("shape and data agree");
        npz.add_array(name.as_str(), &a)
            .map_err(|e| cannot(&npz_path, e.to_string()))?;
    }
    npz.finish().map_err(|e| cannot(&npz_path, e.to_string()))?;
    Ok((toml_name, npz_name))
}
