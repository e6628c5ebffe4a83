//! Reads an ELF executable's program headers, to tell a statically linked
//! build from a dynamically linked one.
//!
//! A dynamically linked executable names its loader in a `PT_INTERP`
//! program header, and a static one has none (System V ABI, "Program
//! Header"). Only the ELF header and the program header table are parsed.

use std::path::Path;

/// `p_type` of the program header that names the program interpreter.
pub(crate) const PT_INTERP: u32 = 3;
/// `e_phnum` value meaning that the real count is elsewhere; executables
/// never need that many headers, so it is treated as unreadable.
const PN_XNUM: u16 = 0xffff;

/// Linkage of an executable: static or dynamic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// No program interpreter: the executable carries what it needs.
    Static,
    /// A program interpreter (such as ld-linux) loads shared libraries.
    Dynamic,
}

/// Reads the linkage of the executable at `path`.
///
/// # Errors
///
/// The I/O error when the file can't be read. A file that is not a
/// readable ELF file gives `Ok(None)`.
pub fn read_linkage(path: &Path) -> std::io::Result<Option<Linkage>> {
    Ok(linkage(&std::fs::read(path)?))
}

/// Returns the linkage of the ELF image `bytes`, or `None` when it is not
/// an ELF file or its program header table lies outside it.
pub fn linkage(bytes: &[u8]) -> Option<Linkage> {
    if bytes.get(..4)? != b"\x7fELF" {
        return None;
    }
    let reader = Reader {
        bytes,
        little_endian: match bytes.get(5)? {
            1 => true,
            2 => false,
            _ => return None,
        },
    };
    // e_phoff, e_phentsize and e_phnum sit at different offsets in the
    // 32-bit (ELFCLASS32) and 64-bit (ELFCLASS64) headers.
    let (offset, entry_size, count) = match bytes.get(4)? {
        1 => (
            u64::from(reader.u32(0x1c)?),
            reader.u16(0x2a)?,
            reader.u16(0x2c)?,
        ),
        2 => (reader.u64(0x20)?, reader.u16(0x36)?, reader.u16(0x38)?),
        _ => return None,
    };
    if count == PN_XNUM {
        return None;
    }

    let offset = usize::try_from(offset).ok()?;
    for index in 0..usize::from(count) {
        let entry = offset.checked_add(index.checked_mul(usize::from(entry_size))?)?;
        if reader.u32(entry)? == PT_INTERP {
            return Some(Linkage::Dynamic);
        }
    }
    Some(Linkage::Static)
}

/// Reads fixed-size integers in the file's byte order.
struct Reader<'a> {
    bytes: &'a [u8],
    little_endian: bool,
}

impl Reader<'_> {
    fn array<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let end = offset.checked_add(N)?;
        self.bytes.get(offset..end)?.try_into().ok()
    }

    fn u16(&self, offset: usize) -> Option<u16> {
        let raw = self.array(offset)?;
        Some(if self.little_endian {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        })
    }

    fn u32(&self, offset: usize) -> Option<u32> {
        let raw = self.array(offset)?;
        Some(if self.little_endian {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    }

    fn u64(&self, offset: usize) -> Option<u64> {
        let raw = self.array(offset)?;
        Some(if self.little_endian {
            u64::from_le_bytes(raw)
        } else {
            u64::from_be_bytes(raw)
        })
    }
}

/// `p_type` of a loadable segment, which is unrelated to linkage.
#[cfg(test)]
pub(crate) const PT_LOAD: u32 = 1;

/// Builds a little-endian ELF64 header followed by one 56-byte program
/// header per entry of `types`, for tests.
#[cfg(test)]
pub(crate) fn test_elf64(types: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2;
    bytes[5] = 1;
    bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    let count = u16::try_from(types.len()).expect("few headers");
    bytes[0x38..0x3a].copy_from_slice(&count.to_le_bytes());
    for p_type in types {
        let mut header = vec![0u8; 56];
        header[..4].copy_from_slice(&p_type.to_le_bytes());
        bytes.extend(header);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf64(types: &[u32]) -> Vec<u8> {
        test_elf64(types)
    }

    /// Builds a big-endian ELF32 header followed by one 32-byte program
    /// header per entry of `types`.
    fn elf32_big_endian(types: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0u8; 52];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 1;
        bytes[5] = 2;
        bytes[0x1c..0x20].copy_from_slice(&52u32.to_be_bytes());
        bytes[0x2a..0x2c].copy_from_slice(&32u16.to_be_bytes());
        let count = u16::try_from(types.len()).expect("few headers");
        bytes[0x2c..0x2e].copy_from_slice(&count.to_be_bytes());
        for p_type in types {
            let mut header = vec![0u8; 32];
            header[..4].copy_from_slice(&p_type.to_be_bytes());
            bytes.extend(header);
        }
        bytes
    }

    #[test]
    fn interpreter_header_means_dynamic() {
        let dynamic = elf64(&[PT_LOAD, PT_INTERP, PT_LOAD]);

        assert_eq!(linkage(&dynamic), Some(Linkage::Dynamic));
        assert_eq!(
            linkage(&elf32_big_endian(&[PT_INTERP])),
            Some(Linkage::Dynamic)
        );
    }

    #[test]
    fn no_interpreter_means_static() {
        assert_eq!(linkage(&elf64(&[PT_LOAD, PT_LOAD])), Some(Linkage::Static));
        assert_eq!(
            linkage(&elf32_big_endian(&[PT_LOAD])),
            Some(Linkage::Static)
        );
    }

    #[test]
    fn other_files_have_no_linkage() {
        let mut truncated = elf64(&[PT_LOAD, PT_INTERP]);
        truncated.truncate(64 + 56 + 2);

        assert_eq!(linkage(b""), None);
        assert_eq!(linkage(b"#!/bin/sh\n"), None);
        assert_eq!(linkage(&truncated), None);
    }

    #[test]
    fn test_binary_is_read() {
        let path = std::env::current_exe().expect("test binary path");

        let read = read_linkage(&path).expect("read the test binary");

        assert!(read.is_some(), "{} is an ELF file", path.display());
    }
}
