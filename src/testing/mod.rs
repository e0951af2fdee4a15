//! An in-process authorization server for tests (work in progress).
