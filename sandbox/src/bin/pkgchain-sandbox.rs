//! `pkgchain-sandbox`: runs one build in Linux namespaces.
//!
//! Spec on stdin, build log on stdout, exit status as documented in
//! `sandbox::protocol`. Started by the daemon, which never forks itself;
//! with `--zygote`, forks such helpers for it (`sandbox::zygote`).

#[cfg(target_os = "linux")]
fn main() {
    if std::env::args_os().nth(1).as_deref() == Some(sandbox::zygote::ZYGOTE_ARG.as_ref()) {
        std::process::exit(sandbox::zygote::zygote_main());
    }
    std::process::exit(sandbox::helper_main());
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("sandbox: sandboxed builds need Linux");
    std::process::exit(sandbox::protocol::EXIT_SETUP_FAILED);
}
