//! The part of the `rocksdb` 0.24 API that `limitador` 0.14.0's disk storage names, and
//! nothing behind it: [`DB::open`] always fails, so no value is ever stored here. It
//! exists only so that limitador compiles with its `disk_storage` feature, which its Redis
//! storage needs (see this crate's Cargo.toml); the test RLS never opens a disk storage.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotSupported,
    TimedOut,
    TryAgain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error;

impl Error {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::NotSupported
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RocksDB is not built in (a stand-in crate for limitador's disk storage)")
    }
}

impl std::error::Error for Error {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionDecision {
    Keep,
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DBCompressionType {
    None,
    Bz2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IteratorMode {
    Start,
    End,
}

#[derive(Debug)]
pub struct MultiThreaded;

/// The operands of a merge; there are never any.
#[derive(Debug, Default)]
pub struct MergeOperands;

impl<'a> IntoIterator for &'a MergeOperands {
    type Item = &'a [u8];
    type IntoIter = std::iter::Empty<&'a [u8]>;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::empty()
    }
}

#[derive(Debug, Default)]
pub struct Options;

impl Options {
    pub fn set_compression_type(&mut self, _t: DBCompressionType) {}

    pub fn set_compaction_filter<F>(&mut self, _name: &str, _filter: F)
    where
        F: FnMut(u32, &[u8], &[u8]) -> CompactionDecision + Send + 'static,
    {
    }

    pub fn set_merge_operator_associative<F>(&mut self, _name: &str, _merge: F)
    where
        F: Fn(&[u8], Option<&[u8]>, &MergeOperands) -> Option<Vec<u8>>
            + Send
            + Sync
            + Clone
            + 'static,
    {
    }

    pub fn create_if_missing(&mut self, _create: bool) {}
}

/// A database that cannot be opened.
#[derive(Debug)]
pub struct DBWithThreadMode<T> {
    _mode: PhantomData<T>,
}

pub type DB = DBWithThreadMode<MultiThreaded>;

/// Iterates over nothing.
pub struct DBIterator<'a> {
    _db: PhantomData<&'a ()>,
}

impl Iterator for DBIterator<'_> {
    type Item = Result<(Box<[u8]>, Box<[u8]>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

impl<T> DBWithThreadMode<T> {
    pub fn open<P: AsRef<Path>>(_opts: &Options, _path: P) -> Result<Self, Error> {
        Err(Error)
    }

    pub fn get<K: AsRef<[u8]>>(&self, _key: K) -> Result<Option<Vec<u8>>, Error> {
        Err(Error)
    }

    pub fn delete<K: AsRef<[u8]>>(&self, _key: K) -> Result<(), Error> {
        Err(Error)
    }

    pub fn merge<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, _key: K, _value: V) -> Result<(), Error> {
        Err(Error)
    }

    pub fn iterator(&self, _mode: IteratorMode) -> DBIterator<'_> {
        DBIterator { _db: PhantomData }
    }

    pub fn prefix_iterator<P: AsRef<[u8]>>(&self, _prefix: P) -> DBIterator<'_> {
        DBIterator { _db: PhantomData }
    }
}
