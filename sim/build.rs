//! Exports the `getrandom` symbol of `callsim-osrand` from every binary and test of this
//! package, so the operating system's randomness a simulation asks for by name (the
//! `getrandom` crate and std look the function up at run time) comes from the simulation's seed.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,--export-dynamic-symbol=getrandom");
    }
}
