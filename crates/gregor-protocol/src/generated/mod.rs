//! Generated messages (filled by `cargo xtask codegen`).
