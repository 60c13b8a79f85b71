//! A column of text kept as each row's code into the column's distinct values: a panel's unit
//! names and dates repeat on every row, and a `String` a row (24 bytes and an allocation of at
//! least 32) made a 1,000,000-row panel with named units and dated periods take 225 MiB where its
//! numbers took 31. Work that depends only on a value (reading a date, a flag, a formatted number)
//! is done once per distinct value.

use std::collections::HashMap;

/// Text cells: `codes[row]` indexes `levels`, the distinct values in order of first appearance.
/// Every level is some row's (nothing here takes rows away), and no two levels are equal.
#[derive(Clone, Default)]
pub struct Texts {
    levels: Vec<String>,
    codes: Vec<u32>,
}

impl Texts {
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Row `i`'s text.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.codes.get(i).map(|&c| self.levels[c as usize].as_str())
    }

    /// The rows' texts in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + Clone + '_ {
        self.codes.iter().map(move |&c| self.levels[c as usize].as_str())
    }

    /// The distinct values, in order of first appearance.
    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// Each row's index into [`Texts::levels`].
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// A `String` a row.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }

    /// `f` of each distinct value, then each row's: None as soon as a value gives None.
    pub fn map_levels<T: Copy>(&self, f: impl FnMut(&str) -> Option<T>) -> Option<Vec<T>> {
        let per_level: Vec<T> = self.levels.iter().map(|l| l.as_str()).map(f).collect::<Option<_>>()?;
        Some(self.codes.iter().map(|&c| per_level[c as usize]).collect())
    }

    /// Codes 0..k over the distinct values sorted, and those values (as
    /// [`crate::panel::factorize_str`] gives them for the rows written out).
    pub fn factorize(&self) -> (Vec<u32>, Vec<String>) {
        let mut order: Vec<u32> = (0..self.levels.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.levels[a as usize].cmp(&self.levels[b as usize]));
        let mut rank = vec![0u32; order.len()];
        for (pos, &l) in order.iter().enumerate() {
            rank[l as usize] = pos as u32;
        }
        let codes = self.codes.iter().map(|&c| rank[c as usize]).collect();
        (codes, order.iter().map(|&l| self.levels[l as usize].clone()).collect())
    }
}

/// Builds a [`Texts`] a row at a time, each value looked up among those seen.
#[derive(Default)]
pub struct TextsBuilder {
    texts: Texts,
    seen: HashMap<String, u32>,
}

impl TextsBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        Self { texts: Texts { levels: Vec::new(), codes: Vec::with_capacity(rows) }, seen: HashMap::new() }
    }

    /// The code of `s`, added as a level the first time it is seen.
    fn code(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.seen.get(s) {
            return c;
        }
        let c = self.texts.levels.len() as u32;
        self.texts.levels.push(s.to_string());
        self.seen.insert(s.to_string(), c);
        c
    }

    pub fn push(&mut self, s: &str) {
        let c = self.code(s);
        self.texts.codes.push(c);
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Forget the rows and values (the capacity stays), for the next piece of a file.
    pub fn clear(&mut self) {
        self.texts.codes.clear();
        self.texts.levels.clear();
        self.seen.clear();
    }

    /// `other`'s rows after these: its values looked up once each, its rows copied as codes.
    pub fn append(&mut self, other: &Texts) {
        let to: Vec<u32> = other.levels.iter().map(|l| self.code(l)).collect();
        self.texts.codes.extend(other.codes.iter().map(|&c| to[c as usize]));
    }

    /// The rows so far, as a [`Texts`] (the builder is left empty).
    pub fn take(&mut self) -> Texts {
        self.seen.clear();
        std::mem::take(&mut self.texts)
    }

    /// The rows so far, read without taking them.
    pub fn texts(&self) -> &Texts {
        &self.texts
    }

    pub fn finish(self) -> Texts {
        self.texts
    }
}

impl<S: AsRef<str>> FromIterator<S> for Texts {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut b = TextsBuilder::with_capacity(iter.size_hint().0);
        for s in iter {
            b.push(s.as_ref());
        }
        b.finish()
    }
}

impl From<Vec<String>> for Texts {
    fn from(v: Vec<String>) -> Self {
        v.iter().collect()
    }
}

impl std::ops::Index<usize> for Texts {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        &self.levels[self.codes[i] as usize]
    }
}

/// Equal when the rows' texts are, whatever order the values were first seen in.
impl PartialEq for Texts {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// The rows' texts, as a list of strings shows.
impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_written_and_values_are_kept_once() {
        let rows = ["b", "a", "b", "", "c", "a"];
        let t: Texts = rows.iter().collect();
        assert_eq!(t.len(), 6);
        assert_eq!(t.levels(), ["b", "a", "", "c"]);
        assert_eq!(t.codes(), [0, 1, 0, 2, 3, 1]);
        assert!(t.iter().eq(rows));
        assert_eq!(&t[4], "c");
        assert_eq!(t.get(6), None);
        assert_eq!(t.to_vec(), rows);
        assert_eq!(format!("{t:?}"), format!("{rows:?}"));
        // the same rows from values seen in another order
        let mut b = TextsBuilder::default();
        b.append(&["a", "c"].iter().collect());
        b.clear();
        b.append(&t);
        assert_eq!(b.finish(), t);
        assert_ne!(t, rows[..5].iter().collect());
        assert_eq!(t.factorize(), crate::panel::factorize_str(&rows));
        assert_eq!(t.map_levels(|s| Some(s.len())), Some(vec![1, 1, 1, 0, 1, 1]));
        assert_eq!(t.map_levels(|s| (!s.is_empty()).then_some(1)), None);
    }

    #[test]
    fn appending_pieces_keeps_one_code_per_value() {
        let mut all = TextsBuilder::default();
        all.append(&["x", "y", "x"].iter().collect());
        all.append(&["y", "z"].iter().collect());
        let t = all.finish();
        assert_eq!(t.levels(), ["x", "y", "z"]);
        assert_eq!(t.codes(), [0, 1, 0, 1, 2]);
    }
}
