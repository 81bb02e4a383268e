//! Linux-namespace build sandbox (in progress).
