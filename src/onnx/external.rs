//! External data: tensor bytes kept in a file beside the model, which the model names. The
//! name comes from the file, so it is hostile until checked: only a regular file inside the
//! model's folder is read, never through a symbolic link, a hard link or a special file
//! (a device, a FIFO), and only the byte range the tensor needs, checked against the file's
//! length before reading. [`Limits::follow_external_links`] lifts the link rules for models
//! the user trusts (a Hugging Face cache keeps files as links to its blob store).
//!
//! The link, hard-link and special-file rules use Unix file metadata; on Linux the opened file
//! is also checked by the kernel's own name for it, so that a folder swapped for a link while
//! intrain opens the file is caught. Elsewhere only the absolute-path and `..` rules and the
//! length checks apply.

use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use crate::error::{Error, Result};
use crate::limits::Limits;

/// Where a tensor's bytes are: the `external_data` entries of its `TensorProto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExternalRef {
    /// The file, relative to the model's folder.
    pub location: String,
    /// First byte.
    pub offset: u64,
    /// Bytes, when given (else to the end of the file).
    pub length: Option<u64>,
}

/// Reads `expected` bytes of tensor `tensor` from `r`, resolved against `base` (the model's
/// folder).
pub(super) fn read(tensor: &str, r: &ExternalRef, base: &Path, expected: u64) -> Result<Vec<u8>> {
    let refuse = |reason: String| Error::ExternalData {
        tensor: tensor.to_string(),
        location: r.location.clone(),
        reason,
    };
    let rel = Path::new(&r.location);
    if r.location.is_empty()
        || rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(refuse(
            "must be a relative path inside the model's folder (no '..', no root)".into(),
        ));
    }
    let trust = Limits::current().follow_external_links;
    let path = base.join(rel);
    let io = |source| Error::Io { path: path.clone(), source };
    let hint = "pass --follow-external-links if you trust this model";
    if std::fs::symlink_metadata(&path).map_err(io)?.file_type().is_symlink() && !trust {
        return Err(refuse(format!("is a symbolic link, which intrain does not follow ({hint})")));
    }
    // Without trust, the file is opened by its resolved path, which has no links left, and
    // only if that path lies in the model's folder.
    let (target, folder) = if trust {
        (path.clone(), None)
    } else {
        let folder = std::fs::canonicalize(base).map_err(io)?;
        let resolved = std::fs::canonicalize(&path).map_err(io)?;
        if !resolved.starts_with(&folder) {
            return Err(refuse(format!(
                "resolves outside the model's folder through a linked folder ({hint})"
            )));
        }
        (resolved, Some(folder))
    };
    let checked = std::fs::metadata(&target).map_err(io)?;
    if !checked.is_file() {
        return Err(refuse("is not a regular file (a device, a FIFO or a folder)".into()));
    }
    let mut f = open(&target, trust).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    let moved = folder.as_deref().is_some_and(|folder| !opened_inside(&f, folder));
    if !meta.is_file() || !same_file(&meta, &checked) || moved {
        return Err(refuse("changed while it was being opened".into()));
    }
    if !trust && hard_links(&meta) > 1 {
        return Err(refuse(format!(
            "has {} hard links, so it may be a file from outside the model's folder ({hint})",
            hard_links(&meta)
        )));
    }
    let size = meta.len();
    let len = r.length.unwrap_or(size.saturating_sub(r.offset));
    if r.offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(refuse(format!(
            "bytes [{}, +{len}) run past the end of the file ({size} bytes)",
            r.offset
        )));
    }
    if len != expected {
        return Err(refuse(format!(
            "gives {len} bytes, but the tensor's type and shape need {expected}"
        )));
    }
    f.seek(SeekFrom::Start(r.offset)).map_err(io)?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}

/// Whether the open file `f` really is inside `folder`: the kernel's name for it, which a
/// folder swapped for a link between the checks and the opening cannot fake (Linux).
#[cfg(target_os = "linux")]
fn opened_inside(f: &File, folder: &Path) -> bool {
    use std::os::fd::AsRawFd;
    // Without /proc (a bare container), the checks before opening stand alone.
    std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_or(true, |real| real.starts_with(folder))
}

/// Elsewhere the checks before opening stand alone.
#[cfg(not(target_os = "linux"))]
fn opened_inside(_: &File, _: &Path) -> bool {
    true
}

/// Opens for reading without following a final symbolic link or blocking on a FIFO.
#[cfg(unix)]
fn open(path: &Path, follow_links: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = if follow_links { 0 } else { libc::O_NOFOLLOW };
    std::fs::OpenOptions::new().read(true).custom_flags(flags | libc::O_NONBLOCK).open(path)
}

#[cfg(not(unix))]
fn open(path: &Path, _follow_links: bool) -> std::io::Result<File> {
    File::open(path)
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.len() == b.len()
}

#[cfg(unix)]
fn hard_links(m: &Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.nlink()
}

#[cfg(not(unix))]
fn hard_links(_: &Metadata) -> u64 {
    1
}
