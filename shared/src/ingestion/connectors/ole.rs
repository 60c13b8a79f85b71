//! The OLE compound file of a legacy `.xls`, read as calamine 0.38 reads it (its `cfb.rs`, MIT,
//! by Johann Tuffe), so that the stream checked before calamine opens the workbook is the one
//! calamine will read: the directory is a flat list of entries, and a stream is the first entry
//! with its name in any case, wherever it stands (in a storage, or in no storage at all: an
//! entry the directory's tree does not reach, which a reader walking the tree never sees). A
//! stream under 4,096 bytes is read from the mini stream.
//!
//! Stricter than calamine wherever calamine would not stop or would read past the file: a chain
//! of sectors that visits more sectors than the file has (a loop, which calamine follows until
//! the stream's declared length, up to 4 GiB, or forever for the directory), more FAT sectors
//! than the file has (calamine would hold each listed copy), a sector past the file's end, a
//! mini sector past the mini stream (calamine reads on in the file from wherever it stopped),
//! a FAT index past the FAT (calamine panics) are errors naming the fault. Everything read is
//! bounded by the file's size.

/// The end of a sector chain.
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
/// DIFAT sector ids at and above this are not sectors (calamine's `RESERVED_SECTORS`).
const RESERVED: u32 = 0xFFFF_FFFA;
/// FAT sector ids at and above this are not sectors (calamine's `DIFSECT`).
const DIF_SECTOR: u32 = 0xFFFF_FFFC;
/// Streams shorter than this live in the mini stream.
const MINI_CUTOFF: u64 = 4096;
const MINI_SECTOR: usize = 64;

/// A directory entry: its name as calamine decodes it, its first sector and its length.
struct Entry {
    name: String,
    start: u32,
    len: u64,
}

/// The container: its sectors, FAT, directory and mini stream.
pub(super) struct Ole<'a> {
    bytes: &'a [u8],
    sector: usize,
    /// The largest sector id calamine reads (`len / sector size`).
    max_id: usize,
    fat: Vec<u32>,
    entries: Vec<Entry>,
    mini: Vec<u8>,
    mini_fat: Vec<u32>,
}

fn fault(what: impl std::fmt::Display) -> String {
    format!("not a readable workbook: {what}")
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u32s(b: &[u8]) -> Result<impl Iterator<Item = u32> + '_, String> {
    if !b.len().is_multiple_of(4) {
        return Err(fault("a sector of the file is cut short"));
    }
    Ok(b.chunks_exact(4).map(|c| u32_at(c, 0)))
}

impl<'a> Ole<'a> {
    /// The header, the DIFAT, the FAT, the directory and the mini stream, as calamine's
    /// `Cfb::new` reads them.
    pub(super) fn read(bytes: &'a [u8]) -> Result<Self, String> {
        if bytes.len() < 512 || bytes[..8] != [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] {
            return Err(fault("not an OLE compound file"));
        }
        let version = u16_at(bytes, 26);
        let sector = match u16_at(bytes, 30) {
            0x0009 => 512,
            0x000C if bytes.len() >= 4096 => 4096,
            s => return Err(fault(format!("sector shift {s:#x} (0x9 or 0xC)"))),
        };
        if u16_at(bytes, 32) != 0x0006 {
            return Err(fault("mini sector shift is not 0x6"));
        }
        let dir_start = u32_at(bytes, 48);
        let mini_fat_start = u32_at(bytes, 60);
        let mini_fat_len = u64::from(u32_at(bytes, 64));
        let mut ole = Ole {
            bytes,
            sector,
            max_id: bytes.len() / sector,
            fat: Vec::new(),
            entries: Vec::new(),
            mini: Vec::new(),
            mini_fat: Vec::new(),
        };
        let mut difat: Vec<u32> = u32s(&bytes[76..512])?.collect();
        let mut next = u32_at(bytes, 68);
        let mut difat_sectors = 0usize;
        while next < RESERVED {
            difat_sectors += 1;
            if difat_sectors > ole.max_id + 1 {
                return Err(fault("its DIFAT chain loops"));
            }
            difat.extend(u32s(ole.sector(next)?)?);
            next = difat.pop().unwrap_or(END_OF_CHAIN);
        }
        let fat_sectors: Vec<u32> = difat.into_iter().filter(|&id| id < DIF_SECTOR).collect();
        if fat_sectors.len() > ole.max_id + 1 {
            return Err(fault(format!(
                "it lists {} FAT sectors in a file of {} sectors",
                fat_sectors.len(),
                ole.max_id + 1
            )));
        }
        for id in fat_sectors {
            let fat = u32s(ole.sector(id)?)?.collect::<Vec<_>>();
            ole.fat.extend(fat);
        }
        let directory = ole.chain(dir_start, u64::MAX)?;
        ole.entries = directory
            .chunks_exact(128)
            .map(|e| {
                // decoded as calamine decodes it (a byte-order mark switches the encoding), and
                // cut at the first NUL byte of the decoded text
                let mut name = encoding_rs::UTF_16LE.decode(&e[..64]).0.into_owned();
                if let Some(end) = name.bytes().position(|b| b == 0) {
                    name.truncate(end);
                }
                let len = if sector == 512 {
                    u64::from(u32_at(e, 120))
                } else {
                    u64::from(u32_at(e, 120)) | u64::from(u32_at(e, 124)) << 32
                };
                Entry { name, start: u32_at(e, 116), len }
            })
            .collect();
        let Some(root) = ole.entries.first() else { return Err(fault("its directory is empty")) };
        if version != 3 && root.start == END_OF_CHAIN {
            return Err(fault("its root directory is empty"));
        }
        if mini_fat_len > 0 {
            let (start, len) = (root.start, root.len);
            ole.mini = ole.chain(start, len)?;
            let mini_fat = ole.chain(mini_fat_start, mini_fat_len * sector as u64)?;
            ole.mini_fat = u32s(&mini_fat)?.collect();
        }
        Ok(ole)
    }

    /// Sector `id`, as far as the file holds it.
    fn sector(&self, id: u32) -> Result<&'a [u8], String> {
        let id = id as usize;
        let start = (id + 1) * self.sector;
        if id > self.max_id || start >= self.bytes.len() {
            return Err(fault(format!("sector {id} lies past the end of the file")));
        }
        Ok(&self.bytes[start..(start + self.sector).min(self.bytes.len())])
    }

    /// The chain of sectors from `id`, up to `len` bytes or its end.
    fn chain(&self, mut id: u32, len: u64) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut visited = 0usize;
        while id != END_OF_CHAIN {
            visited += 1;
            if visited > self.max_id + 1 {
                return Err(fault("a chain of its sectors loops"));
            }
            let sector = self.sector(id)?;
            let take = sector.len().min(usize::try_from(len - out.len() as u64).unwrap_or(usize::MAX));
            out.extend_from_slice(&sector[..take]);
            if out.len() as u64 >= len {
                break;
            }
            id = *self.fat.get(id as usize).ok_or_else(|| fault(format!("sector {id} is past its FAT")))?;
        }
        Ok(out)
    }

    /// The chain of mini sectors from `id`, up to `len` bytes or its end.
    fn mini_chain(&self, mut id: u32, len: u64) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut visited = 0usize;
        while id != END_OF_CHAIN {
            visited += 1;
            if visited > self.mini.len() / MINI_SECTOR + 1 || id as usize > self.max_id * 8 {
                return Err(fault("a chain of its mini sectors loops or leaves the mini stream"));
            }
            let start = id as usize * MINI_SECTOR;
            let take = MINI_SECTOR.min(usize::try_from(len - out.len() as u64).unwrap_or(usize::MAX));
            let Some(bytes) = self.mini.get(start..start + take) else {
                return Err(fault(format!("mini sector {id} lies past the mini stream")));
            };
            out.extend_from_slice(bytes);
            if out.len() as u64 >= len {
                break;
            }
            id = *self.mini_fat.get(id as usize).ok_or_else(|| fault(format!("mini sector {id} is past its FAT")))?;
        }
        Ok(out)
    }

    /// Whether an entry has this name, in any case.
    pub(super) fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// The stream calamine reads for `name`: the first entry so named, in any case.
    pub(super) fn stream(&self, name: &str) -> Option<Result<Vec<u8>, String>> {
        let e = self.entries.iter().find(|e| e.name.eq_ignore_ascii_case(name))?;
        Some(if e.len < MINI_CUTOFF { self.mini_chain(e.start, e.len) } else { self.chain(e.start, e.len) })
    }
}
