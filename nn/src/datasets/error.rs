//! [`LoadError`]: what went wrong reading a data file.

use std::fmt;

/// An error reading a data file (CSV or IDX). Every variant names the file (or the source name
/// given to a parser of in-memory text) and what is wrong; loaders never panic on bad input.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io {
        /// The file.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CSV field is not a number.
    Parse {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The offending field.
        field: String,
    },
    /// A CSV class label is a number but not a valid label (negative, fractional, or `>= max_classes`).
    InvalidLabel {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The offending field.
        field: String,
        /// Why it is not a label.
        reason: String,
    },
    /// The input or the settings use something the loader does not read (a non-ASCII CSV delimiter,
    /// malformed quoting).
    Unsupported {
        /// The file.
        file: String,
        /// What is not supported.
        what: String,
    },
    /// A gzip-compressed file could not be decompressed.
    Decompress {
        /// The file.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CSV row has a different number of fields than the first row.
    RaggedRow {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// Fields expected.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// The label column named or indexed does not exist.
    NoSuchColumn {
        /// The file.
        file: String,
        /// The column asked for.
        column: String,
        /// Columns available (header names or `0..n`).
        available: String,
    },
    /// The file has no data rows.
    Empty {
        /// The file.
        file: String,
    },
    /// An IDX file starts with the wrong magic number.
    BadMagic {
        /// The file.
        file: String,
        /// The magic number read.
        found: u32,
        /// The magic number expected.
        expected: u32,
    },
    /// A file is shorter than its header says.
    Truncated {
        /// The file.
        file: String,
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// Two sizes that must agree do not (trailing bytes, image and label counts).
    SizeMismatch {
        /// The file.
        file: String,
        /// What disagrees with what.
        what: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { file, source } => write!(f, "{file}: cannot read: {source}"),
            LoadError::Parse { file, line, column, field } => {
                write!(f, "{file}: line {line}, column {column}: cannot parse {field:?} as a number")
            }
            LoadError::InvalidLabel { file, line, column, field, reason } => {
                write!(f, "{file}: line {line}, column {column}: label {field:?}: {reason}")
            }
            LoadError::Unsupported { file, what } => write!(f, "{file}: {what}"),
            LoadError::Decompress { file, source } => write!(f, "{file}: cannot decompress (gzip): {source}"),
            LoadError::RaggedRow { file, line, expected, found } => {
                write!(f, "{file}: line {line}: {found} fields, expected {expected}")
            }
            LoadError::NoSuchColumn { file, column, available } => {
                write!(f, "{file}: no column {column} (available: {available})")
            }
            LoadError::Empty { file } => write!(f, "{file}: no data rows"),
            LoadError::BadMagic { file, found, expected } => {
                write!(f, "{file}: wrong magic number 0x{found:08x}, expected 0x{expected:08x}")
            }
            LoadError::Truncated { file, expected, found } => {
                write!(f, "{file}: truncated: header implies {expected} bytes, file has {found}")
            }
            LoadError::SizeMismatch { file, what } => write!(f, "{file}: {what}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } | LoadError::Decompress { source, .. } => Some(source),
            _ => None,
        }
    }
}
