//! End-to-end tests of the `arsight` binary: generate, features, import, demo.

mod helpers;

mod demo;
mod features;
mod generate;
mod import;
mod models;
mod serve;
