//! What legitimately differs between two runs, and how it is removed before
//! comparing:
//!
//! * process ids in temporary names (`/tmp/nix-build-<pid>-0`, `{temp:<pid>}`);
//! * the daemon's version string (`Version: …` from `nix store ping`);
//! * ANSI colour escapes and trailing whitespace in log lines;
//! * the byte count in `N store paths deleted, X MiB freed` (it depends on
//!   the file system under the store, not on what was deleted);
//! * registration times: never recorded in the store state, and masked in
//!   `nix path-info --json` output (`"registrationTime":<n>`); temp/runtime
//!   GC roots are dropped (see `observe.rs`);
//! * local times `YYYY-MM-DD HH:MM:SS` (`nix-env --list-generations`
//!   shows when each generation was made);
//! * both numbers in `X MiB freed by hard-linking N files` (`nix-store
//!   --optimise`): nix-daemon replaces duplicate files by hard links and
//!   counts them, while our store keeps every block once already, so ours
//!   truthfully reports 0 files (and says why at `-v`); the line itself,
//!   and the exit code, must still be there.

/// Remove ANSI escape sequences (`ESC [ … letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Replace the digits that follow each `marker` with `<n>`.
fn mask_digits_after(s: &str, marker: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        let after = i + marker.len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("<n>");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// Replace each `YYYY-MM-DD HH:MM:SS` with `<date>`.
fn mask_timestamps(s: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd:dd";
    let b = s.as_bytes();
    let fits = |i: usize| {
        b.len() >= i + SHAPE.len()
            && SHAPE.iter().zip(&b[i..]).all(|(want, got)| match want {
                b'd' => got.is_ascii_digit(),
                other => got == other,
            })
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if fits(i) {
            out.push_str(&s[copied..i]);
            out.push_str("<date>");
            i += SHAPE.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// Normalise one line of client output.
pub fn line(s: &str) -> String {
    let s = strip_ansi(s);
    let s = mask_timestamps(&s);
    let s = mask_digits_after(&s, "nix-build-");
    let s = mask_digits_after(&s, "{temp:");
    let s = s.trim_end().to_owned();
    if s.starts_with("Version: ") {
        return "Version: <daemon version>".to_owned();
    }
    if let Some((_, files)) = s.split_once(" MiB freed by hard-linking ") {
        if files.ends_with(" files") {
            return "<n> MiB freed by hard-linking <n> files".to_owned();
        }
    }
    let s = mask_digits_after(&s, "\"registrationTime\":");
    if let Some((deleted, _)) = s.split_once(" store paths deleted, ") {
        if s.ends_with(" MiB freed") {
            return format!("{deleted} store paths deleted, <n> MiB freed");
        }
    }
    s
}

/// Normalise a whole text, line by line.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for l in s.lines() {
        out.push_str(&line(l));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_in_temporary_build_links_are_masked() {
        assert_eq!(
            line("/tmp/nix-build-4711-0/result -> /nix/store/abc-t"),
            "/tmp/nix-build-<n>-0/result -> /nix/store/abc-t"
        );
        assert_eq!(
            line("{temp:99} -> /nix/store/x"),
            "{temp:<n>} -> /nix/store/x"
        );
    }

    #[test]
    fn drv_names_are_left_alone() {
        let l = "building '/nix/store/abc-nix-build-chain.drv'...";
        assert_eq!(line(l), l);
    }

    #[test]
    fn generation_times_are_masked() {
        assert_eq!(
            line("   1   2025-03-04 17:01:59   (current)"),
            "   1   <date>   (current)"
        );
        assert_eq!(line("2025-03-04 1:01:59"), "2025-03-04 1:01:59");
    }

    #[test]
    fn colours_and_versions_are_removed() {
        assert_eq!(line("\u{1b}[31;1merror:\u{1b}[0m boom  "), "error: boom");
        assert_eq!(line("Version: 2.8.0"), "Version: <daemon version>");
        assert_eq!(
            line("3 store paths deleted, 0.01 MiB freed"),
            "3 store paths deleted, <n> MiB freed"
        );
    }

    #[test]
    fn optimise_counts_and_registration_times_are_masked() {
        assert_eq!(
            line("0.01 MiB freed by hard-linking 6 files"),
            "<n> MiB freed by hard-linking <n> files"
        );
        assert_eq!(
            line(r#"[{"path":"/nix/store/x-a","registrationTime":1732900000,"ultimate":true}]"#),
            r#"[{"path":"/nix/store/x-a","registrationTime":<n>,"ultimate":true}]"#
        );
        assert_eq!(line("optimising path"), "optimising path");
    }
}
