//! org-server: the binary and composition root.

mod config;
mod outbound;

fn main() {}
