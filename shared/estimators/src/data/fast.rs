//! The CSV reader's fast path: the file is read in blocks of 8 MiB, each block is cut at line
//! ends into pieces parsed on every core, fields are found with `memchr`, numbers are parsed
//! straight from the field's bytes into the column they belong to, and only the columns asked
//! for are parsed at all. No row of strings is ever built.
//!
//! It reads files without quotes (what every numeric panel export looks like). A block with a
//! quote hands the whole input back to the csv crate's reader (`Ok(None)`), which knows quoted
//! fields, quoted commas and line breaks inside quotes.

use memchr::{memchr, memchr_iter, memrchr};
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::Read;

use super::{Column, DataError, Table, TextsBuilder};

/// Bytes parsed per block. Two blocks are in memory (one parsed while the next is read), so
/// this bounds the reader's own memory: 4 MiB instead of 8 took the RDD's 1,000,000-row read from
/// 47 to 37 MiB at its peak, the time unchanged (whole-process runs of TWFE, the 2SLS, the RDD).
const BLOCK: usize = 4 << 20;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Skip,
    Num,
    Text,
}

/// What one piece of a block held (its numbers are written straight into the columns).
struct Piece {
    rows: usize,
    /// The text columns' rows, each distinct value kept once.
    texts: Vec<TextsBuilder>,
    /// Numeric columns with a value that is not a number (read again as text).
    failed: Vec<bool>,
    /// The first unreadable row: its number within the piece and why.
    error: Option<(usize, String)>,
}

fn read_err(m: String) -> DataError {
    DataError::Read { path: "<input>".into(), message: m }
}

/// Read until `buf` holds `target` bytes or the input ends (true).
fn fill(reader: &mut impl Read, buf: &mut Vec<u8>, target: usize) -> Result<bool, DataError> {
    while buf.len() < target {
        let old = buf.len();
        buf.resize(target, 0);
        let n = loop {
            match reader.read(&mut buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    buf.truncate(old);
                    return Err(read_err(e.to_string()));
                }
            }
        };
        buf.truncate(old + n);
        if n == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A number, or NaN for an empty cell, `NA` or `NaN`; None if the field is not a number.
fn number(field: &[u8]) -> Option<f64> {
    if field.is_empty() {
        return Some(f64::NAN);
    }
    let s = std::str::from_utf8(field).ok()?;
    match s.parse::<f64>() {
        Ok(x) if beyond_doubles(field, x) => None,
        Ok(x) => Some(x),
        Err(_) => s.eq_ignore_ascii_case("na").then_some(f64::NAN),
    }
}

/// A field written as a whole number (digits, maybe a sign) larger than a double holds exactly:
/// an identifier (Meta's 18-digit campaign ids, Google's customer ids in micros), which read as
/// a number would lose its last digits and fall together with its neighbours. Such a column is
/// read as text. (`x`: the field's value; a number written with a point or an exponent is a
/// measurement and stays a number.)
pub(crate) fn beyond_doubles(field: &[u8], x: f64) -> bool {
    // 2^53 + 1 is read as 2^53: a value of 2^53 may already have lost its last digit
    if x.abs() < super::EXACT_INTEGERS as f64 {
        return false;
    }
    let t = field.trim_ascii();
    let digits = t.strip_prefix(b"-").or_else(|| t.strip_prefix(b"+")).unwrap_or(t);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// The numeric field of `line` starting at `from`: its value ([`number`]'s reading) and where it
/// ends (the comma after it, or the line's end). The number is parsed in place from the bytes
/// (fast-float2, correctly rounded as the standard library is); anything it does not read to the
/// field's end (`NA`, `1e`, `12abc`) takes the standard library's reading of the trimmed field.
fn number_at(line: &[u8], from: usize) -> (Option<f64>, usize) {
    let len = line.len();
    let mut s = from;
    while s < len && line[s].is_ascii_whitespace() {
        s += 1;
    }
    if s == len || line[s] == b',' {
        return (Some(f64::NAN), s);
    }
    if let Ok((x, n)) = fast_float2::parse_partial::<f64, _>(&line[s..]) {
        let mut e = s + n;
        while e < len && line[e].is_ascii_whitespace() {
            e += 1;
        }
        if e == len || line[e] == b',' {
            return (if beyond_doubles(&line[s..s + n], x) { None } else { Some(x) }, e);
        }
    }
    let end = memchr(b',', &line[from..]).map_or(len, |i| from + i);
    (number(line[from..end].trim_ascii()), end)
}

impl Piece {
    fn new(ncols: usize) -> Self {
        Self {
            rows: 0,
            texts: (0..ncols).map(|_| TextsBuilder::default()).collect(),
            failed: vec![false; ncols],
            error: None,
        }
    }
}

/// The lines of `bytes`: its line ends, and a last line without one. A piece holds at most this
/// many rows (blank lines hold none).
fn lines(bytes: &[u8]) -> usize {
    memchr_iter(b'\n', bytes).count() + usize::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

/// Parse `bytes` (whole lines) into `p`, whose text columns are reused from block to block
/// (cleared, not freed), and each numeric column's values into its slot in `out` (the piece's
/// rows of the column itself, as long as it has lines; an empty slot: the column is not read, or
/// no longer, as it turned out not to be numeric).
fn parse_piece(bytes: &[u8], kinds: &[Kind], p: &mut Piece, out: &mut [&mut [f64]]) {
    let ncols = kinds.len();
    p.rows = 0;
    p.error = None;
    p.failed.iter_mut().for_each(|f| *f = false);
    p.texts.iter_mut().for_each(TextsBuilder::clear);
    let mut start = 0;
    for end in memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
        if start > bytes.len() {
            break;
        }
        let line = strip_cr(&bytes[start..end]);
        start = end + 1;
        if line.is_empty() {
            continue;
        }
        p.rows += 1;
        let len = line.len();
        let mut c = 0;
        let mut from = 0;
        loop {
            let next_comma = |from: usize| memchr(b',', &line[from..]).map_or(len, |i| from + i);
            let to = match kinds.get(c) {
                Some(Kind::Num) if !p.failed[c] && !out[c].is_empty() => {
                    let (x, to) = number_at(line, from);
                    match x {
                        Some(x) => out[c][p.rows - 1] = x,
                        None => p.failed[c] = true,
                    }
                    to
                }
                Some(Kind::Text) => {
                    let to = next_comma(from);
                    match std::str::from_utf8(line[from..to].trim_ascii()) {
                        Ok(s) => p.texts[c].push(s),
                        Err(_) => {
                            p.error = Some((p.rows, format!("field {} is not valid UTF-8", c + 1)));
                            return;
                        }
                    }
                    to
                }
                _ => next_comma(from),
            };
            c += 1;
            if to >= len {
                break;
            }
            from = to + 1;
        }
        if c != ncols {
            p.error = Some((p.rows, format!("{c} fields, the header has {ncols}")));
            return;
        }
    }
}

/// The separator a header line uses: a tab, or a semicolon (spreadsheets set to a language that
/// writes decimal commas), where the line has one and no comma; otherwise the comma.
pub(super) fn separator(header: &[u8]) -> u8 {
    if memchr(b',', header).is_some() {
        b','
    } else if memchr(b'\t', header).is_some() {
        b'\t'
    } else if memchr(b';', header).is_some() {
        b';'
    } else {
        b','
    }
}

/// 2 MiB: a transparent huge page.
const HUGE_PAGE: usize = 2 << 20;

/// `n` zeros (at least) in an allocation of whole huge pages when it is one huge page or more.
/// A block at or above the command line's mmap threshold (6 MiB) is mapped on its own, and glibc
/// adds its two-word header and rounds up: for a block of k huge pages less 32 bytes it maps
/// exactly k huge pages, and Linux places a mapping of whole huge pages on a huge-page boundary,
/// so every page of the column can be a huge page; a mapping of another size starts mid-page, and
/// its first and last partial huge pages fault in 4 KiB at a time. (A smaller block comes from
/// the heap, where the rounding only leaves capacity untouched; another allocator loses only the
/// alignment.) The capacity past `n` is never touched (it costs address space, not memory).
fn zeros_in_huge_pages(n: usize) -> Vec<f64> {
    const WORDS: usize = 32 / std::mem::size_of::<f64>();
    let bytes = n.saturating_mul(std::mem::size_of::<f64>());
    if bytes < HUGE_PAGE {
        return vec![0.0; n];
    }
    let cap = (bytes + 32).div_ceil(HUGE_PAGE) * (HUGE_PAGE / std::mem::size_of::<f64>()) - WORDS;
    let mut v = vec![0.0; cap];
    v.truncate(n);
    v
}

/// `block` cut at line ends into about `n` pieces.
fn pieces(block: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let step = block.len().div_ceil(n.max(1)).max(1);
    let mut start = 0;
    while start < block.len() {
        let target = (start + step).min(block.len());
        let end = if target >= block.len() {
            block.len()
        } else {
            memchr(b'\n', &block[target..]).map_or(block.len(), |i| target + i + 1)
        };
        out.push(&block[start..end]);
        start = end;
    }
    out
}

/// What [`parse`] read: the table; the columns asked for as numbers that turned out not to be
/// (`failed`, by index: to be read again as text); and the columns read as text from the start
/// because their first row is not a number (`texts`, by index).
pub(super) struct Parsed {
    pub table: Table,
    pub failed: Vec<usize>,
    pub texts: Vec<usize>,
}

/// Parse CSV with a header row. `wanted`: the only columns parsed (None: all); `as_text`:
/// columns (by index) kept as text; a wanted column whose first row is not a number is read as
/// text too (it would fail as a number on that row and be read again). None if the input has a
/// quote.
pub(super) fn parse(
    reader: impl Read + Send,
    size_hint: Option<u64>,
    wanted: Option<&[String]>,
    as_text: &[usize],
) -> Result<Option<Parsed>, DataError> {
    parse_in_blocks(reader, size_hint, wanted, as_text, block_for(size_hint))
}

/// The block size for a file of `size` bytes: [`BLOCK`], or for a file under 16 MiB an eighth
/// of it (at least 256 KiB), so that a file of a few MiB is not held in two blocks as large as
/// its columns while it is parsed, and is still read in pieces that overlap the parse. (The
/// Callaway-Sant'Anna benchmark's 5.9 MB read peaks at 22 MiB instead of 31; the 31 MB TWFE
/// file, read in blocks of an eighth, peaked 1.6 MiB higher than in blocks of 4 MiB.)
fn block_for(size: Option<u64>) -> usize {
    match size {
        Some(s) if s < 16 << 20 => usize::try_from(s / 8).unwrap_or(BLOCK).max(256 << 10),
        _ => BLOCK,
    }
}

/// [`parse`] with blocks of `block` bytes (small in the tests, to cross many block ends).
fn parse_in_blocks(
    mut reader: impl Read + Send,
    size_hint: Option<u64>,
    wanted: Option<&[String]>,
    as_text: &[usize],
    block_size: usize,
) -> Result<Option<Parsed>, DataError> {
    let mut buf: Vec<u8> = Vec::with_capacity(block_size + (64 << 10));
    let mut eof = fill(&mut reader, &mut buf, block_size)?;
    let header_end = loop {
        if let Some(i) = memchr(b'\n', &buf) {
            break i;
        }
        if eof {
            break buf.len();
        }
        let target = buf.len() + block_size;
        eof = fill(&mut reader, &mut buf, target)?;
    };
    let header = strip_cr(&buf[..header_end]);
    // quotes, or a header separated by tabs or semicolons: the csv crate's reader
    if memchr(b'"', header).is_some() || separator(header) != b',' {
        return Ok(None);
    }
    if buf.is_empty() {
        return Err(read_err("no header row".into()));
    }
    let header = std::str::from_utf8(header).map_err(|_| read_err("the header row is not valid UTF-8".into()))?;
    let names: Vec<String> =
        header.strip_prefix('\u{feff}').unwrap_or(header).split(',').map(|s| s.trim().to_string()).collect();
    let mut kinds: Vec<Kind> = names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            if as_text.contains(&c) {
                Kind::Text
            } else if wanted.is_none_or(|w| w.iter().any(|n| n == name)) {
                Kind::Num
            } else {
                Kind::Skip
            }
        })
        .collect();
    let ncols = names.len();
    buf.drain(..(header_end + 1).min(buf.len()));
    // A column whose first row is not a number is text: read as such in this pass, where it
    // would fail as a number on that row and the whole input be read again for it (a panel's
    // unit names and dates: a third of the run for 1,000,000 rows).
    let mut texts_from_start = Vec::new();
    if let Some(first) = first_row(&buf, eof) {
        let len = first.len();
        let (mut c, mut from) = (0, 0);
        while c < ncols {
            let (x, to) = match kinds[c] {
                Kind::Num => number_at(first, from),
                _ => (Some(0.0), memchr(b',', &first[from..]).map_or(len, |i| from + i)),
            };
            if x.is_none() {
                kinds[c] = Kind::Text;
                texts_from_start.push(c);
            }
            c += 1;
            if to >= len {
                break;
            }
            from = to + 1;
        }
    }

    let mut nums: Vec<Vec<f64>> = vec![Vec::new(); ncols];
    let mut texts: Vec<TextsBuilder> = (0..ncols).map(|_| TextsBuilder::default()).collect();
    let mut failed = vec![false; ncols];
    let mut rows = 0usize;
    let threads = rayon::current_num_threads().max(1);
    let mut pool: Vec<Piece> = Vec::new();
    // The next block is read while this one is parsed (into `next`, then swapped).
    let mut next: Vec<u8> = Vec::with_capacity(buf.capacity());
    loop {
        if !eof && buf.len() < block_size {
            eof = fill(&mut reader, &mut buf, block_size)?;
        }
        if buf.is_empty() {
            break;
        }
        let cut = if eof {
            buf.len()
        } else {
            match memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => {
                    // a line longer than the buffer: read more of it
                    let target = buf.len() + block_size;
                    eof = fill(&mut reader, &mut buf, target)?;
                    continue;
                }
            }
        };
        let block = &buf[..cut];
        if memchr(b'"', block).is_some() {
            return Ok(None);
        }
        let cuts = pieces(block, threads * 2);
        while pool.len() < cuts.len() {
            pool.push(Piece::new(ncols));
        }
        let parsed = &mut pool[..cuts.len()];
        let piece_lines: Vec<usize> = cuts.par_iter().map(|b| lines(b)).collect();
        let block_lines: usize = piece_lines.iter().sum();
        if rows == 0 {
            // The whole file's rows from the first block's density with a quarter to spare, as
            // zeros the allocator maps untouched: a page is written (and becomes memory) only
            // when a row is parsed into it, on the core that parses it, and the columns never
            // double (and copy) as they grow.
            let estimate = match size_hint {
                Some(size) if cut > 0 => (block_lines as f64 * size as f64 / cut as f64 * 1.25) as usize + 16,
                _ => block_lines,
            };
            for c in 0..ncols {
                match kinds[c] {
                    Kind::Num if !failed[c] => nums[c] = zeros_in_huge_pages(estimate.max(block_lines)),
                    Kind::Text => texts[c] = TextsBuilder::with_capacity(estimate),
                    _ => {}
                }
            }
        }
        // Each piece's rows of each numeric column: `piece_lines` of them after the rows so far.
        let mut slots: Vec<Vec<&mut [f64]>> = (0..cuts.len()).map(|_| Vec::with_capacity(ncols)).collect();
        for (c, col) in nums.iter_mut().enumerate() {
            let mut rest: &mut [f64] = &mut [];
            if kinds[c] == Kind::Num && !failed[c] {
                if col.len() < rows + block_lines {
                    col.resize(rows + block_lines, 0.0);
                }
                rest = &mut col[rows..rows + block_lines];
            }
            for (slot, &n) in slots.iter_mut().zip(&piece_lines) {
                let all = std::mem::take(&mut rest);
                let (head, tail) = all.split_at_mut(n.min(all.len()));
                slot.push(head);
                rest = tail;
            }
        }
        next.clear();
        next.extend_from_slice(&buf[cut..]);
        let (_, read) = rayon::join(
            || {
                parsed
                    .par_iter_mut()
                    .zip(cuts.par_iter())
                    .zip(slots.par_iter_mut())
                    .for_each(|((p, bytes), out)| parse_piece(bytes, &kinds, p, out))
            },
            || if eof { Ok(true) } else { fill(&mut reader, &mut next, block_size) },
        );
        drop(slots);
        // A piece with blank lines parsed fewer rows than it had lines: the rows after it move up.
        let mut from = rows;
        for (piece, &n) in parsed.iter_mut().zip(&piece_lines) {
            if let Some((row, message)) = piece.error.take() {
                return Err(read_err(format!("row {}: {message}", rows + row)));
            }
            for c in 0..ncols {
                match kinds[c] {
                    Kind::Num if !failed[c] && piece.failed[c] => {
                        failed[c] = true;
                        nums[c] = Vec::new();
                    }
                    Kind::Num if !failed[c] && from != rows => nums[c].copy_within(from..from + piece.rows, rows),
                    Kind::Text => texts[c].append(piece.texts[c].texts()),
                    _ => {}
                }
            }
            rows += piece.rows;
            from += n;
        }
        std::mem::swap(&mut buf, &mut next);
        eof = read?;
        if eof && buf.is_empty() {
            break;
        }
    }
    let mut columns = HashMap::with_capacity(ncols);
    for (c, name) in names.iter().enumerate() {
        match kinds[c] {
            Kind::Num if !failed[c] => {
                let mut col = std::mem::take(&mut nums[c]);
                col.truncate(rows);
                columns.insert(name.clone(), Column::Num(col));
            }
            Kind::Text => {
                columns.insert(name.clone(), Column::Text(texts[c].take()));
            }
            _ => {}
        }
    }
    let failed = (0..ncols).filter(|&c| failed[c]).collect();
    let skipped = (0..ncols).filter(|&c| kinds[c] == Kind::Skip).map(|c| names[c].clone()).collect();
    let table = Table { names, columns, rows, skipped, days: vec![], flags: vec![] };
    Ok(Some(Parsed { table, failed, texts: texts_from_start }))
}

/// The first line of `buf` that is not blank, without its line end, when it is whole (it ends
/// with a line end, or the input ends with it).
fn first_row(buf: &[u8], eof: bool) -> Option<&[u8]> {
    let mut start = 0;
    loop {
        let end = match memchr(b'\n', &buf[start..]) {
            Some(i) => start + i,
            None if eof => buf.len(),
            None => return None,
        };
        let line = strip_cr(&buf[start..end]);
        if !line.is_empty() {
            return Some(line);
        }
        if end >= buf.len() {
            return None;
        }
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The csv crate's reading of `text` (the reference), every column.
    fn reference(text: &str) -> Result<Table, DataError> {
        let (table, text_cols) = super::super::parse(text.as_bytes(), &[])?;
        let (again, _) = super::super::parse(text.as_bytes(), &text_cols)?;
        Ok(super::super::merge_text(table, again, text_cols))
    }

    fn fast(text: &str, block: usize, wanted: Option<&[String]>) -> Result<Option<Table>, DataError> {
        let size = Some(text.len() as u64);
        let Some(Parsed { table, failed, texts }) = parse_in_blocks(text.as_bytes(), size, wanted, &[], block)? else {
            return Ok(None);
        };
        let table = super::super::settle_text(table, &texts);
        let again = parse_in_blocks(text.as_bytes(), size, Some(&[]), &failed, block)?.unwrap().table;
        Ok(Some(super::super::merge_text(table, again, failed)))
    }

    fn same(a: &Table, b: &Table) {
        assert_eq!(a.names, b.names);
        assert_eq!(a.rows, b.rows);
        for n in &a.names {
            match (a.column(n).unwrap(), b.column(n).unwrap()) {
                (Column::Num(x), Column::Num(y)) => {
                    assert_eq!(x.len(), y.len(), "{n}");
                    for (u, v) in x.iter().zip(y) {
                        assert!(u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()), "{n}: {u} vs {v}");
                    }
                }
                (x, y) => assert_eq!(x, y, "{n}"),
            }
        }
    }

    /// A panel with every shape a quote-free export takes: integers, decimals in every
    /// notation, missing values, a text column that looks numeric at first, CRLF line ends,
    /// blank lines, spaces around fields, no final line end.
    fn panel(rows: usize, seed: u64) -> String {
        let mut s = String::from("\u{feff}unit, time ,y,label,x\r\n");
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        for i in 0..rows {
            let y = match i % 14 {
                0 => String::new(),
                1 => "NA".into(),
                2 => format!("{:e}", next() * 1e-3),
                3 => format!(" {} ", -next() * 1e6),
                4 => format!("+{:.3}", next()),
                5 => format!(".{}", (next() * 1e6) as u64),
                6 => format!("{}.", (next() * 1e3) as u64),
                7 => format!("{:E}", next() * 1e300),
                8 => ["-inf", "Infinity", "NaN", " nan", "1e400", "-0", "4.9e-324"][(i / 14) % 7].into(),
                9 => format!("{:.25}", next()),
                10 => format!("\t{}", 2.0 * next() - 1.0),
                _ => format!("{}", next()),
            };
            let label = if i + 1 == rows { "east".to_string() } else { format!("{}", i % 13) };
            s.push_str(&format!("{},{},{y},{label},{:.17}\r\n", i / 10, i % 10, next() - 0.5));
            if i % 97 == 0 {
                s.push_str("\r\n");
            }
        }
        s.pop();
        s.pop();
        s
    }

    /// Columns whose first row is not a number (a panel's unit names and dates, a flag, money as
    /// a spreadsheet shows it) are read as text in the first pass, and the table is the csv
    /// crate's, across block ends and with blank lines before the first row; a column that turns
    /// to text later is still read again.
    #[test]
    fn a_column_of_text_from_its_first_row_is_read_in_one_pass() {
        let mut text = String::from("geo,date,flag,spend,y,late\n\n\r\n");
        for i in 0..5_000 {
            let late = if i == 4_321 { "n/a".to_string() } else { i.to_string() };
            let flag = ["true", "FALSE", ""][i % 3];
            let y = if i % 11 == 0 { String::new() } else { format!("{:.6}", (i as f64).sin()) };
            text.push_str(&format!(
                "geo_{:03}, 2026-09-{:02} ,{flag},${}.50,{y},{late}\n",
                i % 37,
                1 + i % 28,
                i % 900
            ));
        }
        let expected = reference(&text).unwrap();
        for block in [64, 1_000, 1 << 16] {
            let Parsed { failed, texts, .. } =
                parse_in_blocks(text.as_bytes(), Some(text.len() as u64), None, &[], block).unwrap().unwrap();
            // a first row cut by the end of the first block is not looked at: its columns are
            // read again, to the same table
            if block >= 1_000 {
                assert_eq!((&texts[..], &failed[..]), (&[0, 1, 2, 3][..], &[5][..]), "{block}");
            } else {
                assert_eq!((&texts[..], &failed[..]), (&[][..], &[0, 1, 2, 3, 5][..]), "{block}");
            }
            let got = fast(&text, block, None).unwrap().unwrap();
            same(&got, &expected);
            assert!(matches!(got.column("geo").unwrap(), Column::Text(v) if &v[36] == "geo_036"));
            assert!(matches!(got.column("date").unwrap(), Column::Text(v) if &v[0] == "2026-09-01"));
            assert!(matches!(got.column("flag").unwrap(), Column::Num(v) if v[0] == 1.0 && v[1] == 0.0));
            assert!(got.holds_flags("flag"));
            assert!(matches!(got.column("spend").unwrap(), Column::Num(v) if v[2] == 2.5));
            assert!(matches!(got.column("late").unwrap(), Column::Text(v) if &v[4_321] == "n/a"));
        }
        // asked for by name, and not asked for
        let wanted = ["geo".to_string(), "y".to_string()];
        let got = fast(&text, 1_000, Some(&wanted)).unwrap().unwrap();
        assert!(matches!(got.column("geo").unwrap(), Column::Text(v) if v.len() == 5_000));
        assert!(got.column("date").is_err());
    }

    #[test]
    fn reads_what_the_csv_crate_reads_across_block_ends() {
        for (rows, block) in [(1, 7), (50, 64), (3_000, 1_000), (3_000, 4_096), (20_000, 1 << 16)] {
            let text = panel(rows, rows as u64);
            let expected = reference(&text).unwrap();
            let got = fast(&text, block, None).unwrap().expect("no quotes: the fast path reads it");
            same(&got, &expected);
            assert!(matches!(got.column("label").unwrap(), Column::Text(_)));
            assert!(matches!(got.column("y").unwrap(), Column::Num(_)));
        }
    }

    /// Rows parsed straight into the columns: runs of blank lines (which hold no row, so the rows
    /// after them move up), a column that turns out to be text in a middle block (read again as
    /// text, the blocks after it no longer parsing it), a lone carriage return on a line, no final
    /// line end; every block size from a few lines to the whole file.
    #[test]
    fn rows_land_in_place_around_blank_lines_and_a_column_that_turns_to_text_midway() {
        let mut text = String::from("a,b,c\n");
        for i in 0..400 {
            let b = if i == 211 { "n/a".to_string() } else { format!("{}.5", i * 3) };
            text.push_str(&format!("{i},{b},{}\n", -(i as f64) / 7.0));
            match i % 37 {
                0 => text.push_str("\n\n"),
                1 => text.push_str("\r\n"),
                2 => text.push_str("\r\n\n\r\n"),
                _ => {}
            }
        }
        text.push_str("400,1,2");
        let expected = reference(&text).unwrap();
        assert_eq!(expected.rows, 401);
        for block in [16, 50, 64, 300, 1_000, 4_096, 1 << 20] {
            let got = fast(&text, block, None).unwrap().expect("no quotes");
            same(&got, &expected);
            assert!(matches!(got.column("b").unwrap(), Column::Text(_)), "{block}");
            assert!(matches!(got.column("c").unwrap(), Column::Num(_)), "{block}");
        }
    }

    #[test]
    fn a_file_under_16_mib_is_read_in_blocks_of_an_eighth_of_it_and_a_larger_or_unsized_one_in_4_mib() {
        assert_eq!(block_for(None), BLOCK);
        assert_eq!(block_for(Some(0)), 256 << 10);
        assert_eq!(block_for(Some(1 << 20)), 256 << 10);
        assert_eq!(block_for(Some(6 << 20)), 6 << 17);
        assert_eq!(block_for(Some((16 << 20) - 8)), (2 << 20) - 1);
        assert_eq!(block_for(Some(16 << 20)), BLOCK);
        assert_eq!(block_for(Some(31 << 20)), BLOCK);
        assert_eq!(block_for(Some(u64::MAX)), BLOCK);
        // a 3.6 MB file (more than eight of the smallest blocks) through `parse` itself, whose
        // size hint picks the block: what the csv crate reads
        let text = panel(80_000, 11);
        assert!(text.len() > 8 * (256 << 10) && text.len() < BLOCK, "{}", text.len());
        let Parsed { table, failed, texts } =
            parse(text.as_bytes(), Some(text.len() as u64), None, &[]).unwrap().unwrap();
        let table = super::super::settle_text(table, &texts);
        let again = parse(text.as_bytes(), Some(text.len() as u64), Some(&[]), &failed).unwrap().unwrap().table;
        same(&super::super::merge_text(table, again, failed), &reference(&text).unwrap());
    }

    /// A column of a huge page or more asks for whole huge pages less glibc's two words; a
    /// smaller one for what it holds. Either holds `n` zeros.
    #[test]
    fn a_large_column_is_allocated_in_whole_huge_pages() {
        for n in
            [0, 1, 1000, HUGE_PAGE / 8 - 5, HUGE_PAGE / 8 - 4, HUGE_PAGE / 8, 1_000_000, 1_250_016, 5 * HUGE_PAGE / 8]
        {
            let v = zeros_in_huge_pages(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0.0));
            let bytes = 8 * v.capacity();
            if 8 * n < HUGE_PAGE {
                assert_eq!(v.capacity(), n);
            } else {
                assert_eq!((bytes + 32) % HUGE_PAGE, 0, "{n}");
                assert!(bytes >= 8 * n && bytes + 32 - HUGE_PAGE < 8 * n + 32, "{n}: {bytes}");
            }
        }
    }

    #[test]
    fn parses_only_the_columns_asked_for() {
        let text = panel(2_000, 3);
        let wanted = vec!["y".to_string(), "unit".to_string()];
        let got = fast(&text, 1_000, Some(&wanted)).unwrap().unwrap();
        let all = reference(&text).unwrap();
        assert_eq!(got.names, all.names);
        // The column as read (its values run to 1e299, past what the estimators take).
        let bits = |t: &Table| match t.column("y").unwrap() {
            Column::Num(v) => v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            Column::Text(_) => panic!("y is numeric"),
        };
        assert_eq!(bits(&got), bits(&all));
        assert_eq!(got.codes("unit").unwrap(), all.codes("unit").unwrap());
        let e = got.numeric("x").unwrap_err().to_string();
        assert!(e.contains("x") && e.contains("was not read"), "{e}");
        assert!(matches!(got.numeric("nope"), Err(DataError::MissingColumn { .. })));
    }

    #[test]
    fn fields_a_number_parser_reads_only_in_part_are_read_as_the_standard_library_reads_them() {
        // the in-place parser stops early on these: each field then takes str::parse's reading
        for odd in ["1e", "12abc", "0x10", "1_0", "--1", "in", "infin", "1.5.2", "+", ".", "1 2", "nan x"] {
            for other in ["3", "NA"] {
                let text = format!("a,b\n{other},1\n{odd},2\n");
                let got = fast(&text, 1 << 10, None).unwrap().unwrap();
                same(&got, &reference(&text).unwrap());
                assert!(matches!(got.column("a").unwrap(), Column::Text(_)), "{odd:?} is not a number");
            }
        }
        for ok in ["1e5", " -2.5 ", "+.5", "7.", "INF", "-Infinity", "NaN", "na", "", "1E-400", "0.1e+2"] {
            let text = format!("a,b\n{ok},1\n");
            let got = fast(&text, 1 << 10, None).unwrap().unwrap();
            same(&got, &reference(&text).unwrap());
            assert!(matches!(got.column("a").unwrap(), Column::Num(_)), "{ok:?} is a number");
        }
    }

    #[test]
    fn a_tab_separated_file_goes_to_the_csv_crate_and_reads_as_its_comma_twin() {
        let tsv = "unit\ttime\ty\tname\n1\t1\t2.5\tA, B\n2\t1\tNA\t\"C\"\n";
        assert!(fast(tsv, 1 << 10, None).unwrap().is_none());
        let t = Table::from_csv_bytes(tsv.as_bytes(), None).unwrap();
        let csv = "unit,time,y,name\n1,1,2.5,\"A, B\"\n2,1,NA,C\n";
        same(&t, &Table::from_csv_bytes(csv.as_bytes(), None).unwrap());
        assert_eq!(t.labels("name").unwrap(), vec!["A, B", "C"]);
        // a header with commas stays a comma file, whatever tabs it holds
        let t = Table::from_csv_bytes("a\tb,c\n1,2\n".as_bytes(), None).unwrap();
        assert_eq!(t.names, vec!["a\tb", "c"]);
    }

    /// A spreadsheet set to German or French writes semicolons between fields and a decimal comma
    /// (thousands grouped by points): read as its comma twin with decimal points.
    #[test]
    fn a_semicolon_file_reads_its_decimal_commas_as_its_comma_twin() {
        let semi =
            "market;date;treated;revenue;spend\nDMA-1;2026-01-05;0;1.234,56;12,5\nDMA-2;05.01.2026;1;-7,25;1.000\n\
                    DMA-3;2026-01-06;1;;250,00 €\n";
        assert!(fast(semi, 1 << 10, None).unwrap().is_none());
        let t = Table::from_csv_bytes(semi.as_bytes(), None).unwrap();
        let csv = "market,date,treated,revenue,spend\nDMA-1,2026-01-05,0,1234.56,12.5\nDMA-2,05.01.2026,1,-7.25,1000\n\
                   DMA-3,2026-01-06,1,,250\n";
        same(&t, &Table::from_csv_bytes(csv.as_bytes(), None).unwrap());
        assert_eq!(t.labels("date").unwrap(), vec!["2026-01-05", "05.01.2026", "2026-01-06"]);
        // a point not followed by groups of three is a decimal point, as in the comma files, and
        // then the column's other points are too; a column with a comma has decimal commas
        let t = Table::from_csv_bytes("a;b;c;d\n12.5;1e3;1.500;1.500\n1.500;7;0.125;2,5\n".as_bytes(), None).unwrap();
        assert_eq!(t.numeric("a").unwrap().to_vec(), [12.5, 1.5]);
        assert_eq!(t.numeric("b").unwrap().to_vec(), [1000.0, 7.0]);
        assert_eq!(t.numeric("c").unwrap().to_vec(), [1.5, 0.125]);
        assert_eq!(t.numeric("d").unwrap().to_vec(), [1500.0, 2.5]);
        for (field, read) in [
            ("1.234,56", Some("1234.56")),
            ("-12,5", Some("-12.5")),
            ("+0,75", Some("0.75")),
            ("250,00 €", Some("250.00")),
            ("-€1.000", Some("-1000")),
            ("1.234.567", Some("1234567")),
            ("7", None),
            ("12.5", None),
            ("1e3", None),
            ("NA", None),
            ("1,2,3", None),
            ("12,", None),
            ("1234.567,8", None),
            (",5", None),
            ("05.01.2026", None),
            ("0.125", None),
            // French thousands: a space, a no-break space, a narrow no-break space
            ("1 234,56", Some("1234.56")),
            ("1\u{a0}234,56\u{a0}€", Some("1234.56")),
            ("12\u{202f}345", Some("12345")),
            ("1 000 000", Some("1000000")),
            ("1 23,5", None),
            ("1 234.567,8", None),
            ("12 ab", None),
        ] {
            assert_eq!(super::super::decimal_comma(field).as_deref(), read, "{field}");
            assert_eq!(super::super::decimal_comma_dressed(field).as_deref(), read, "{field}");
        }
        // as an estimator's table reads them (not an ingested export, whose campaign may be
        // named "20%"): a percentage (a hundredth), an accountant's negative, a currency's code
        let cases = [
            ("12,5 %", "12.5e-2"),
            ("3%", "3e-2"),
            ("-0,25%", "-0.25e-2"),
            ("(1.234,56)", "-1234.56"),
            ("(12)", "-12"),
            ("1.234,56 EUR", "1234.56"),
            ("EUR -5,00", "-5.00"),
            ("(-5)", ""),
            ("12 %%", ""),
            ("5 € %", ""),
        ];
        // "": not a number
        for (field, read) in cases {
            let read = Some(read).filter(|r| !r.is_empty());
            assert_eq!(super::super::decimal_comma_dressed(field).as_deref(), read, "{field}");
            assert_eq!(super::super::decimal_comma(field), None, "{field}");
        }
    }

    /// A file Excel saved on Windows (Windows-1252: `München` with one byte for `ü`) reads as
    /// its UTF-8 twin, from a file and from memory; UTF-8 is read as it is.
    #[test]
    fn a_windows_1252_file_reads_as_its_utf8_twin() {
        let utf8 = "market,y\nMünchen,1.5\nKöln,2\n";
        let cp1252: Vec<u8> = utf8.chars().map(|c| u8::try_from(c).unwrap()).collect();
        assert_eq!(super::super::windows_1252(&cp1252).as_deref(), Some(utf8));
        assert_eq!(super::super::windows_1252(utf8.as_bytes()), None);
        assert_eq!(super::super::windows_1252(&[0x80, b' ', 0x9F, 0x81]).as_deref(), Some("€ Ÿ\u{81}"));
        let want = Table::from_csv_bytes(utf8.as_bytes(), None).unwrap();
        same(&Table::from_csv_bytes(&cp1252, None).unwrap(), &want);
        let dir = std::env::temp_dir().join(format!("liftos-cp1252-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("markets.csv");
        std::fs::write(&path, &cp1252).unwrap();
        let read = Table::read_csv(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        same(&read.unwrap(), &want);
        assert_eq!(want.labels("market").unwrap(), vec!["München", "Köln"]);
    }

    /// Meta's campaign ids have 18 digits: read as doubles, 120210000000000001 and ...002 would
    /// both become 120210000000000000 (one campaign, one unit, one cluster). A column with a
    /// whole number of 2^53 or more is text, in every block and on both readers; whole numbers below
    /// 2^53 and numbers written with a point or an exponent stay numbers.
    #[test]
    fn whole_numbers_a_double_cannot_hold_make_their_column_text() {
        let mut text = String::from("campaign,small,big_float,y\n");
        for i in 0..3_000u64 {
            let id = if i == 2_500 {
                "-9007199254740993".to_string()
            } else {
                format!("{}", 120_210_000_000_000_000 + i % 7)
            };
            text.push_str(&format!("{id},{},1.2e17,{}\n", (1u64 << 53) - 1 - i, i as f64 * 0.5));
        }
        let expected: Vec<String> =
            text.lines().skip(1).map(|l| l.split(',').next().unwrap_or("").to_string()).collect();
        let quoted = text.replacen("campaign,", "\"campaign\",", 1);
        let tables = [
            fast(&text, 1 << 12, None).unwrap().expect("no quotes: the fast path"),
            reference(&text).unwrap(),
            Table::from_csv_bytes(quoted.as_bytes(), None).unwrap(),
        ];
        for t in &tables {
            assert!(matches!(t.column("campaign").unwrap(), Column::Text(_)));
            assert_eq!(t.labels("campaign").unwrap(), expected);
            let (codes, levels) = t.codes("campaign").unwrap();
            assert_eq!(levels.len(), 8, "seven campaigns and the negative one stay apart");
            assert_eq!(codes[0], codes[7]);
            assert_ne!(codes[0], codes[1]);
            assert!(matches!(t.column("small").unwrap(), Column::Num(_)));
            assert_eq!(t.numeric("small").unwrap()[0], 9_007_199_254_740_991.0);
            assert!(matches!(t.column("big_float").unwrap(), Column::Num(_)));
            let e = t.numeric("campaign").unwrap_err().to_string();
            assert!(e.contains("row 1") && e.contains("2^53 or more") && e.contains("120210000000000000"), "{e}");
        }
        same(&tables[0], &tables[1]);
        // a number in a field of its own: signs and spaces around it, or not a whole number
        for (field, x, beyond) in [
            ("9007199254740993", 9_007_199_254_740_992.0, true),
            (" +9007199254740993 ", 9_007_199_254_740_992.0, true),
            ("9007199254740992", 9_007_199_254_740_992.0, true),
            ("9007199254740991", 9_007_199_254_740_991.0, false),
            ("9.007199254740993e15", 9_007_199_254_740_992.0, false),
            ("1e300", 1e300, false),
        ] {
            assert_eq!(beyond_doubles(field.as_bytes(), x), beyond, "{field}");
        }
    }

    #[test]
    fn quotes_go_to_the_csv_crate() {
        let text = "a,b\n1,2\n3,\"4\"\n";
        assert!(fast(text, 4, None).unwrap().is_none());
        assert!(fast("\"a\",b\n1,2\n", 1 << 10, None).unwrap().is_none());
        // and the public reader gives the csv crate's answer
        let t = Table::from_csv_bytes("a,b\n1,\"x, y\"\n2,z\n".as_bytes(), None).unwrap();
        assert_eq!(t.labels("b").unwrap(), vec!["x, y", "z"]);
    }

    #[test]
    fn a_short_row_is_named_by_its_number_in_any_block() {
        let mut text = String::from("a,b\n");
        for i in 0..5_000 {
            text.push_str(&format!("{i},{i}\n"));
        }
        text.push_str("7\n8,9\n");
        for block in [64, 1_000, 1 << 20] {
            let e = fast(&text, block, None).unwrap_err().to_string();
            assert!(e.contains("row 5001: 1 fields, the header has 2"), "{block}: {e}");
        }
        assert!(fast("", 16, None).unwrap_err().to_string().contains("no header row"));
        let header_only = fast("a,b\n", 16, None).unwrap().unwrap();
        assert_eq!((header_only.rows, header_only.names.len()), (0, 2));
    }
}
