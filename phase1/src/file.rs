//! Files: a file on disk (or any other byte source) read into a pipe, chunk by chunk.
//!
//! A file is a pipe *source* that is always ready (a disk file never says `EAGAIN`), so the only
//! thing that paces it is the pipe threshold: one 100 000-byte read per loop iteration while its
//! pipe holds under 1 MB. At end of file (or on a read error) the file destroys itself; its
//! pipe then has no source, and the sink hears so once it has sent every byte.
//!
//! What is read is a [`BodySource`]: the course's whole file (stage 12 on), or, for the finished
//! server, exactly the number of bytes a response announced (a file that grows meanwhile is
//! not read past that length, one that shrinks is reported as failed), a region sent with
//! `sendfile(2)` without passing through memory, or any [`Read`] (a compressor over a file).
//!
//! [`open_in_public`] is the guard stage 12 adds: only files inside the public directory, and
//! readable by "others", may be served. Containment is decided on canonical paths, component
//! by component, so `../public-secret/x` is not "inside" `../public`, and symbolic links are
//! followed before the check rather than after.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use crate::buffer::{Chunk, FileRegion};
use crate::constants::READ_CHUNK_SIZE;
use crate::core::{Core, FileId};
use crate::pipe::{self, End, Owner, Role, Side};

/// What a file node streams into its pipe.
pub enum BodySource {
    /// An open file, read to its end (the course's way).
    File(std::fs::File),
    /// Exactly `len` bytes of an open file, from its current position, read through memory.
    /// Bytes appended meanwhile are not read; a file that ends sooner fails the transfer.
    FileExact {
        /// The open file.
        file: std::fs::File,
        /// The length the response announced.
        len: u64,
    },
    /// Exactly `len` bytes of an open file from offset 0, handed to the kernel with
    /// `sendfile(2)`: no byte is copied into the server's memory. A file that shrinks meanwhile
    /// makes the client connection close at once.
    ZeroCopy {
        /// The open file.
        file: std::fs::File,
        /// The length the response announced.
        len: u64,
    },
    /// Any reader, read to its end (e.g. a compressor over a file). A read that answers
    /// [`std::io::ErrorKind::Interrupted`] is tried again on the next loop turn: a reader that did
    /// a slice of work with no byte to show for it yet says so (a big folder's listing, while it
    /// reads the names), and other clients are served in between.
    Stream(Box<dyn Read>),
}

enum Reader {
    Read(Box<dyn Read>),
    Region {
        file: Arc<std::fs::File>,
        offset: u64,
    },
}

/// A byte source being streamed into a pipe.
pub struct File {
    reader: Reader,
    /// Bytes still to produce, when the length was announced.
    remaining: Option<u64>,
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

/// Make a byte source a pipe source. Attach it with [`pipe::create`].
pub fn create(core: &mut Core, body: BodySource) -> FileId {
    let (reader, remaining) = match body {
        BodySource::File(file) => (Reader::Read(Box::new(file)), None),
        BodySource::FileExact { file, len } => (Reader::Read(Box::new(file)), Some(len)),
        BodySource::ZeroCopy { file, len } => (
            Reader::Region {
                file: Arc::new(file),
                offset: 0,
            },
            Some(len),
        ),
        BodySource::Stream(reader) => (Reader::Read(reader), None),
    };
    let id = core.files.insert(File {
        reader,
        remaining,
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

/// The file could not deliver what was announced (it ended early, or a read failed): tell the
/// session reading it, if a session is, then destroy it.
fn fail(core: &mut Core, id: FileId) {
    let sink = core
        .files
        .get(id)
        .and_then(|f| f.source.pipe)
        .and_then(|p| core.pipes.get(p))
        .and_then(|p| p.sink());
    if let Some(Owner::Session(session, Role::File)) = sink {
        crate::session::file_failed(core, session);
    }
    destroy(core, id);
}

/// The pipe has room: add one chunk to it (bytes read, or a file region). The end of the
/// source, or an error, ends the file.
pub fn on_source_ready(core: &mut Core, id: FileId) {
    let Some(file) = core.files.get_mut(id) else {
        return;
    };
    let Some(pipe_id) = file.source.pipe else {
        return;
    };
    if file.remaining == Some(0) {
        destroy(core, id);
        return;
    }
    let limit = file
        .remaining
        .map_or(usize::MAX, |r| usize::try_from(r).unwrap_or(usize::MAX));
    match &mut file.reader {
        Reader::Region { file: open, offset } => {
            // No bytes are read: the region names them, and the client's connection sends them
            // with sendfile. A region holds no memory, so it may be as large as the course's
            // 1 MB pipe, whatever the pipe's threshold: big regions mean few sendfile calls.
            let len = crate::constants::PIPE_THRESHOLD.min(limit);
            let region = FileRegion {
                file: open.clone(),
                offset: *offset,
                len,
            };
            *offset += len as u64;
            if let Some(left) = file.remaining.as_mut() {
                *left -= len as u64;
            }
            pipe::write_chunk(core, pipe_id, Chunk::File(region));
        }
        Reader::Read(reader) => {
            let want = READ_CHUNK_SIZE.min(limit);
            match reader.read(&mut core.read_buffer[..want]) {
                Ok(0) if file.remaining.is_some() => {
                    crate::warn!("file ended before its announced length");
                    fail(core, id);
                }
                Ok(0) => destroy(core, id),
                Ok(n) => {
                    if let Some(left) = file.remaining.as_mut() {
                        *left -= n as u64;
                    }
                    let bytes = core.read_buffer[..n].to_vec();
                    pipe::write(core, pipe_id, bytes);
                }
                // Nothing this turn; the source stays ready, so it is asked again next turn.
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    crate::error!("read failed: {err}");
                    fail(core, id);
                }
            }
        }
    }
    // A finished source ends now rather than at one more read that would find nothing.
    if core.files.get(id).is_some_and(|f| f.remaining == Some(0)) {
        destroy(core, id);
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
