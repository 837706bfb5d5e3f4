//! A list of byte buffers that remembers exactly how many bytes it holds.
//!
//! This is the course's `xps_buffer_list`: bytes arrive in chunks (one per `recv` or file read),
//! leave from the front, and `len` counts what is held. Two choices differ from the C version,
//! both so that memory use is what `len` says:
//!
//! - every chunk stores exactly the bytes it holds (C keeps the whole 100 KB read buffer even
//!   for a 5-byte message);
//! - consuming part of the front chunk only moves an offset (C shifts the rest down with
//!   `memmove`), so sending 1 MB in small pieces costs no copying.
//!
//! Reading stays separate from consuming, as in the course: look at the bytes
//! ([`BufferList::io_slices`], [`BufferList::copy_front`]), hand them to `send`, and only then
//! [`BufferList::consume`] as many as the kernel took.
//!
//! # File regions
//!
//! The finished server sends large files without copying them through memory: instead of the
//! bytes, a chunk may name a *region of an open file* ([`Chunk::File`]), which the connection
//! hands to `sendfile(2)`, so the kernel moves the bytes from the page cache to the socket. A
//! region counts in `len` like the bytes it stands for (so the pipe threshold still paces it),
//! but holds no memory. Byte views ([`BufferList::io_slices`], [`BufferList::copy_front`],
//! [`BufferList::make_contiguous`]) stop at the first region; [`BufferList::front_region`] shows a
//! region at the front. The course stages never create regions.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

/// A part of an open file, to be sent as it is.
#[derive(Debug, Clone)]
pub struct FileRegion {
    /// The open file.
    pub file: Arc<std::fs::File>,
    /// Where the region starts in the file.
    pub offset: u64,
    /// Its length in bytes.
    pub len: usize,
}

/// One piece of a [`BufferList`].
#[derive(Debug)]
pub enum Chunk {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A region of a file, sent with `sendfile(2)`.
    File(FileRegion),
}

impl Chunk {
    /// Bytes this chunk stands for.
    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(bytes) => bytes.len(),
            Chunk::File(region) => region.len,
        }
    }

    /// True for a chunk of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes waiting in order, stored as the chunks they arrived in.
#[derive(Debug, Default)]
pub struct BufferList {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already consumed (a byte chunk; a region is shortened instead).
    front_offset: usize,
    /// Bytes held: the sum of all chunk lengths minus `front_offset`.
    len: usize,
}

impl BufferList {
    /// An empty list.
    pub fn new() -> BufferList {
        BufferList::default()
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append bytes at the back, taking ownership of them. Empty chunks are dropped.
    pub fn push(&mut self, bytes: Vec<u8>) {
        self.push_chunk(Chunk::Bytes(bytes));
    }

    /// Append a chunk (bytes or a file region) at the back. Empty chunks are dropped.
    pub fn push_chunk(&mut self, chunk: Chunk) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Remove and return the front chunk (what is left of it), or `None` when empty.
    /// Moving chunks this way between lists copies no bytes.
    pub fn pop_chunk(&mut self) -> Option<Chunk> {
        let mut chunk = self.chunks.pop_front()?;
        if self.front_offset > 0 {
            if let Chunk::Bytes(bytes) = &mut chunk {
                bytes.drain(..self.front_offset);
            }
            self.front_offset = 0;
        }
        self.len -= chunk.len();
        Some(chunk)
    }

    /// Drop the first `n` bytes. Returns `false` (and drops nothing) when fewer are held.
    pub fn consume(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        let mut left = n;
        while left > 0 {
            match &mut self.chunks[0] {
                Chunk::Bytes(bytes) => {
                    let front_len = bytes.len() - self.front_offset;
                    if left >= front_len {
                        self.chunks.pop_front();
                        self.front_offset = 0;
                        left -= front_len;
                    } else {
                        self.front_offset += left;
                        left = 0;
                    }
                }
                Chunk::File(region) => {
                    if left >= region.len {
                        left -= region.len;
                        self.chunks.pop_front();
                    } else {
                        region.offset += left as u64;
                        region.len -= left;
                        left = 0;
                    }
                }
            }
        }
        self.len -= n;
        true
    }

    /// Drop everything.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.front_offset = 0;
        self.len = 0;
    }

    /// A contiguous copy of the first `n` bytes, without consuming them (the course's
    /// `xps_buffer_list_read`). `None` when fewer than `n` bytes are held in memory before the
    /// first file region.
    pub fn copy_front(&self, n: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(n.min(self.len));
        for slice in self.slices() {
            let take = (n - out.len()).min(slice.len());
            out.extend_from_slice(&slice[..take]);
            if out.len() == n {
                break;
            }
        }
        (out.len() == n).then_some(out)
    }

    /// Fill `out` with views of the held bytes, front first, for one vectored write. Stops at
    /// the first file region. Returns how many entries were filled.
    pub fn io_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, slice) in out.iter_mut().zip(self.slices()) {
            *slot = IoSlice::new(slice);
            filled += 1;
        }
        filled
    }

    /// The file region at the front, if the front chunk is one.
    pub fn front_region(&self) -> Option<&FileRegion> {
        match self.chunks.front() {
            Some(Chunk::File(region)) => Some(region),
            _ => None,
        }
    }

    /// Every held byte as one slice (up to the first file region, which client input never
    /// has). Joins the chunks into the front one when there are several; joining appends to the
    /// front chunk, so a message arriving one byte at a time costs amortised O(1) per byte, not
    /// a full copy per byte.
    pub fn make_contiguous(&mut self) -> &[u8] {
        let bytes_before_region = self
            .chunks
            .iter()
            .take_while(|c| matches!(c, Chunk::Bytes(_)))
            .count();
        if bytes_before_region > 1 {
            let mut joined = Vec::new();
            for chunk in self.chunks.drain(..bytes_before_region) {
                if let Chunk::Bytes(bytes) = chunk {
                    if joined.is_empty() {
                        joined = bytes;
                    } else {
                        joined.extend_from_slice(&bytes);
                    }
                }
            }
            self.chunks.push_front(Chunk::Bytes(joined));
        }
        match self.chunks.front() {
            Some(Chunk::Bytes(front)) => &front[self.front_offset..],
            _ => &[],
        }
    }

    /// The byte chunks before the first file region, front first.
    fn slices(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks
            .iter()
            .map_while(|chunk| match chunk {
                Chunk::Bytes(bytes) => Some(bytes.as_slice()),
                Chunk::File(_) => None,
            })
            .enumerate()
            .map(|(i, chunk)| {
                if i == 0 {
                    &chunk[self.front_offset..]
                } else {
                    chunk
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_of(chunks: &[&[u8]]) -> BufferList {
        let mut list = BufferList::new();
        for chunk in chunks {
            list.push(chunk.to_vec());
        }
        list
    }

    #[test]
    fn len_counts_exact_bytes() {
        let mut list = list_of(&[b"hello", b"", b" world"]);
        assert_eq!(list.len(), 11);
        assert!(list.consume(3));
        assert_eq!(list.len(), 8);
        assert!(!list.consume(9), "cannot consume more than held");
        assert_eq!(list.len(), 8);
    }

    #[test]
    fn consume_across_chunks_keeps_order() {
        let mut list = list_of(&[b"abc", b"def", b"ghi"]);
        assert!(list.consume(4));
        assert_eq!(list.copy_front(5).unwrap(), b"efghi");
        assert!(list.copy_front(6).is_none());
        assert!(list.consume(5));
        assert!(list.is_empty());
        assert!(list.consume(0));
    }

    #[test]
    fn pop_chunk_returns_the_unconsumed_rest() {
        let mut list = list_of(&[b"abcdef", b"gh"]);
        list.consume(2);
        assert!(matches!(list.pop_chunk(), Some(Chunk::Bytes(b)) if b == b"cdef"));
        assert_eq!(list.len(), 2);
        assert!(matches!(list.pop_chunk(), Some(Chunk::Bytes(b)) if b == b"gh"));
        assert!(list.pop_chunk().is_none());
    }

    #[test]
    fn io_slices_view_front_first() {
        let mut list = list_of(&[b"abc", b"de", b"f"]);
        list.consume(1);
        let mut slots = [IoSlice::new(&[]); 2];
        let n = list.io_slices(&mut slots);
        assert_eq!(n, 2);
        assert_eq!(&*slots[0], b"bc");
        assert_eq!(&*slots[1], b"de");
    }

    #[test]
    fn make_contiguous_joins_without_losing_bytes() {
        let mut list = BufferList::new();
        for byte in b"GET / HTTP/1.1\r\n" {
            list.push(vec![*byte]);
        }
        list.consume(4);
        assert_eq!(list.make_contiguous(), b"/ HTTP/1.1\r\n");
        assert_eq!(list.len(), 12);
        list.push(b"Host: x".to_vec());
        assert_eq!(list.make_contiguous(), b"/ HTTP/1.1\r\nHost: x");
    }

    #[test]
    fn file_regions_count_but_stop_byte_views() {
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut list = list_of(&[b"head"]);
        list.push_chunk(Chunk::File(FileRegion {
            file,
            offset: 10,
            len: 100,
        }));
        list.push(b"tail".to_vec());
        assert_eq!(list.len(), 108);
        let mut slots = [IoSlice::new(&[]); 4];
        assert_eq!(
            list.io_slices(&mut slots),
            1,
            "the region ends the byte view"
        );
        assert!(list.copy_front(5).is_none());
        assert!(list.consume(4 + 30));
        let region = list.front_region().unwrap();
        assert_eq!((region.offset, region.len), (40, 70));
        assert!(list.consume(70));
        assert_eq!(list.copy_front(4).unwrap(), b"tail");
    }
}
