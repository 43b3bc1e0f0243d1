//! The built-in traces of `simulate --scenario`.
