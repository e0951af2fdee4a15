//! Client credentials token source (work in progress).
