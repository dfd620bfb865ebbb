//! `.npy` arrays in and out (little-endian, C order; f32, f64, i64, i32, u8, i8, bool).

use std::path::Path;

use crate::error::{Error, Result};
use crate::ir::{DType, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";

fn descr(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::U8 => "|u1",
        DType::I8 => "|i1",
        DType::Bool => "|b1",
        DType::F16 => "<f2",
        DType::BF16 => return None,
    })
}

/// Parses `.npy` bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Tensor> {
    let err = |m: &str| Error::Npy(m.to_string());
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(err("not a .npy file (bad magic)"));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(err("truncated header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(Error::Npy(format!("unsupported .npy version {v}"))),
    };
    let header = bytes.get(start..start + header_len).ok_or_else(|| err("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| err("header is not text"))?;
    let field = |key: &str| -> Result<&str> {
        let pat = format!("'{key}':");
        let i = header.find(&pat).ok_or_else(|| Error::Npy(format!("header lacks '{key}'")))?;
        Ok(header[i + pat.len()..].trim_start())
    };
    let d = field("descr")?;
    let d =
        d.strip_prefix('\'').and_then(|s| s.split('\'').next()).ok_or_else(|| err("bad descr"))?;
    if d.starts_with('>') && !d.ends_with('1') {
        return Err(Error::Npy(format!("big-endian dtype '{d}' is not supported")));
    }
    let dtype = match d.trim_start_matches(['<', '>', '|', '=']) {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "f2" => DType::F16,
        "i8" => DType::I64,
        "i4" => DType::I32,
        "u1" => DType::U8,
        "i1" => DType::I8,
        "b1" => DType::Bool,
        _ => {
            return Err(Error::Npy(format!(
                "unsupported dtype '{d}' (use f4, f8, i8, i4, u1, i1 or b1)"
            )));
        }
    };
    if field("fortran_order")?.starts_with("True") {
        return Err(err(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
        ));
    }
    let s = field("shape")?;
    let s =
        s.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or_else(|| err("bad shape"))?;
    let shape: Vec<usize> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().map_err(|_| Error::Npy(format!("bad shape entry '{p}'"))))
        .collect::<Result<_>>()?;
    let data = &bytes[start + header_len..];
    Tensor::from_le_bytes(dtype, shape.clone(), data).ok_or_else(|| {
        Error::Npy(format!(
            "data has {} bytes, shape {shape:?} of {dtype} needs a different size",
            data.len()
        ))
    })
}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<Tensor> {
    let bytes = crate::limits::read_file(path)?;
    from_bytes(&bytes).map_err(|e| e.in_file(path))
}

/// Serialises a tensor as `.npy` (version 1.0).
pub fn to_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let d =
        descr(t.dtype()).ok_or_else(|| Error::Npy(format!("cannot write {} arrays", t.dtype())))?;
    let shape = match t.shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", t.shape[0]),
        _ => format!("({})", t.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{d}', 'fortran_order': False, 'shape': {shape}, }}");
    let total = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&t.to_le_bytes());
    Ok(out)
}

/// Writes a `.npy` file.
pub fn write(path: &Path, t: &Tensor) -> Result<()> {
    std::fs::write(path, to_bytes(t)?)
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = Tensor::f32([2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = to_bytes(&t).expect("write");
        assert_eq!((MAGIC.len() + 4 + u16::from_le_bytes([b[8], b[9]]) as usize) % 64, 0);
        assert_eq!(from_bytes(&b).expect("read"), t);
        let s = Tensor::i64_scalar(7);
        assert_eq!(from_bytes(&to_bytes(&s).expect("write")).expect("read"), s);
    }

    #[test]
    fn rejects_garbage() {
        assert!(from_bytes(b"hello world, not numpy").is_err());
    }
}
