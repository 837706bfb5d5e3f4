//! Files: a file on disk read into a pipe, chunk by chunk.
//!
//! A file is a pipe *source* that is always ready (a disk file never says `EAGAIN`), so the only
//! thing that paces it is the pipe threshold: one 100 000-byte read per loop iteration while its
//! pipe holds under 1 MB. At end of file (or on a read error) the file destroys itself; its
//! pipe then has no source, and the sink hears so once it has sent every byte.
//!
//! [`open_in_public`] is the guard stage 12 adds: only files inside the public directory, and
//! readable by "others", may be served. Containment is decided on canonical paths, component
//! by component, so `../public-secret/x` is not "inside" `../public`, and symbolic links are
//! followed before the check rather than after.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::constants::READ_CHUNK_SIZE;
use crate::core::{Core, FileId};
use crate::pipe::{self, End, Owner, Side};

/// A file being streamed into a pipe.
pub struct File {
    file: std::fs::File,
    /// The source end; ready from the start.
    pub(crate) source: End,
}

/// Why a file may not be served.
#[derive(Debug)]
pub enum FileError {
    /// No such file (or directory on the way).
    NotFound,
    /// It exists but must not be served; the reason is for the log.
    Forbidden(&'static str),
    /// Any other failure.
    Io(std::io::Error),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::NotFound => write!(f, "file not found"),
            FileError::Forbidden(why) => write!(f, "{why}"),
            FileError::Io(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for FileError {}

fn classify(err: std::io::Error) -> FileError {
    match err.kind() {
        std::io::ErrorKind::NotFound => FileError::NotFound,
        std::io::ErrorKind::PermissionDenied => FileError::Forbidden("permission denied"),
        _ => FileError::Io(err),
    }
}

/// Open `path` for serving, if it is a regular file inside `public` that others may read.
pub fn open_in_public(public: &Path, path: &Path) -> Result<std::fs::File, FileError> {
    let public = public.canonicalize().map_err(classify)?;
    let real = path.canonicalize().map_err(classify)?;
    if !real.starts_with(&public) {
        return Err(FileError::Forbidden(
            "file requested is outside of public directory",
        ));
    }
    let meta = real.metadata().map_err(classify)?;
    if !meta.is_file() {
        return Err(FileError::Forbidden("not a regular file"));
    }
    if meta.permissions().mode() & 0o004 == 0 {
        return Err(FileError::Forbidden("others do not have read permission"));
    }
    std::fs::File::open(&real).map_err(classify)
}

/// Make an open file a pipe source. Attach it with [`pipe::create`].
pub fn create(core: &mut Core, file: std::fs::File) -> FileId {
    let id = core.files.insert(File {
        file,
        source: End {
            pipe: None,
            ready: true,
            active: false,
        },
    });
    crate::debug!("created file");
    id
}

/// Destroy a file: detach its source (its sink will be told) and close it.
pub fn destroy(core: &mut Core, id: FileId) {
    pipe::detach(core, Owner::File(id), Side::Source);
    if core.files.remove(id).is_some() {
        crate::debug!("destroyed file");
    }
}

/// The pipe has room: read one chunk into it. End of file, or an error, ends the file.
pub fn on_source_ready(core: &mut Core, id: FileId) {
    let Some(file) = core.files.get_mut(id) else {
        return;
    };
    let Some(pipe_id) = file.source.pipe else {
        return;
    };
    match file.file.read(&mut core.read_buffer[..READ_CHUNK_SIZE]) {
        Ok(0) => destroy(core, id),
        Ok(n) => {
            let bytes = core.read_buffer[..n].to_vec();
            pipe::write(core, pipe_id, bytes);
        }
        Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
        Err(err) => {
            crate::error!("read failed: {err}");
            destroy(core, id);
        }
    }
}

/// Whoever was reading the file is gone: stop.
pub fn on_source_closed(core: &mut Core, id: FileId) {
    destroy(core, id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn layout() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("public")).unwrap();
        fs::create_dir(dir.path().join("public-secret")).unwrap();
        fs::write(dir.path().join("public/sample.txt"), b"hello").unwrap();
        fs::write(dir.path().join("public-secret/x.txt"), b"secret").unwrap();
        fs::write(dir.path().join("outside.txt"), b"no").unwrap();
        dir
    }

    #[test]
    fn serves_a_readable_file_inside() {
        let dir = layout();
        let public = dir.path().join("public");
        let mut file = open_in_public(&public, &public.join("sample.txt")).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
    }

    #[test]
    fn refuses_dot_dot_and_sibling_prefixes() {
        let dir = layout();
        let public = dir.path().join("public");
        for path in [
            public.join("../outside.txt"),
            dir.path().join("public-secret/x.txt"),
        ] {
            assert!(
                matches!(open_in_public(&public, &path), Err(FileError::Forbidden(_))),
                "{} must be refused",
                path.display()
            );
        }
    }

    #[test]
    fn refuses_symlink_escaping_public() {
        let dir = layout();
        let public = dir.path().join("public");
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), public.join("link.txt"))
            .unwrap();
        assert!(matches!(
            open_in_public(&public, &public.join("link.txt")),
            Err(FileError::Forbidden(_))
        ));
    }

    #[test]
    fn refuses_files_others_cannot_read() {
        let dir = layout();
        let public = dir.path().join("public");
        let path = public.join("sample.txt");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            open_in_public(&public, &path),
            Err(FileError::Forbidden(_))
        ));
    }

    #[test]
    fn missing_file_is_not_found() {
        let dir = layout();
        let public = dir.path().join("public");
        assert!(matches!(
            open_in_public(&public, &public.join("nope.txt")),
            Err(FileError::NotFound)
        ));
    }
}
