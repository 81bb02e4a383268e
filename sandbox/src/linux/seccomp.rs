//! The seccomp filter of Nix's `filter-syscalls` (`setupSeccomp`), as a BPF
//! program: `chmod`-family calls whose mode has the setuid or setgid bit
//! fail with `EPERM`; `setxattr`, `lsetxattr`, `fsetxattr` fail with
//! `ENOTSUP`; everything else is allowed. Like Nix on x86_64 the rules also
//! cover the i386 and x32 ABIs; a call from any other architecture kills
//! the thread (libseccomp's default).
//!
//! One addition: `fchmodat2` (Linux 6.6, after Nix 2.8) gets the same rule
//! as `fchmodat`, or it would be a way around the filter.

/// What to do with one system call number.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// `EPERM` if the mode in argument `n` has `S_ISUID` or `S_ISGID`.
    ModeArg(u32),
    /// Always fail with this errno.
    Errno(u32),
}

struct Arch {
    audit_arch: u32,
    rules: Vec<(u32, Rule)>,
}

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JSET_K: u16 = 0x45;
const BPF_JA: u16 = 0x05;
const BPF_RET_K: u16 = 0x06;

const SECCOMP_RET_KILL_THREAD: u32 = 0;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// Low 32 bits of `args[n]` (little-endian).
const fn offset_arg_low(n: u32) -> u32 {
    16 + 8 * n
}

const EPERM: u32 = 1;
const ENOTSUP: u32 = 95;
const S_ISUID_OR_ISGID: u32 = 0o6000;

fn rules(chmod: Option<u32>, fchmod: u32, fchmodat: u32, xattr: [u32; 3]) -> Vec<(u32, Rule)> {
    let mut r = Vec::new();
    if let Some(chmod) = chmod {
        r.push((chmod, Rule::ModeArg(1)));
    }
    r.push((fchmod, Rule::ModeArg(1)));
    r.push((fchmodat, Rule::ModeArg(2)));
    r.push((452, Rule::ModeArg(2))); // fchmodat2, same number everywhere
    r.extend(xattr.map(|nr| (nr, Rule::Errno(ENOTSUP))));
    r
}

fn arches() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        let native = rules(Some(90), 91, 268, [188, 189, 190]);
        let x32: Vec<_> = native
            .iter()
            .map(|&(nr, rule)| (nr | 0x4000_0000, rule))
            .collect();
        vec![
            Arch {
                audit_arch: 0xc000_003e, // AUDIT_ARCH_X86_64
                rules: native.into_iter().chain(x32).collect(),
            },
            Arch {
                audit_arch: 0x4000_0003, // AUDIT_ARCH_I386
                rules: rules(Some(15), 94, 306, [226, 227, 228]),
            },
        ]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch {
            audit_arch: 0xc000_00b7, // AUDIT_ARCH_AARCH64
            rules: rules(None, 52, 53, [5, 6, 7]),
        }]
    } else {
        Vec::new()
    }
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter for this architecture, or `None` where we have no syscall
/// table.
pub(crate) fn program() -> Option<Vec<libc::sock_filter>> {
    let arches = arches();
    if arches.is_empty() {
        return None;
    }
    let blocks: Vec<Vec<libc::sock_filter>> = arches.iter().map(arch_block).collect();

    // Dispatch: for each arch "jeq arch, 0, 1; ja block", then kill.
    let mut prog = vec![stmt(BPF_LD_W_ABS, OFFSET_ARCH)];
    let dispatch_len = 2 * arches.len() + 1;
    let mut block_start = 0usize; // relative to the end of the dispatch
    for (i, arch) in arches.iter().enumerate() {
        prog.push(jump(BPF_JEQ_K, arch.audit_arch, 0, 1));
        // `ja` jumps relative to the next instruction.
        let here = 2 * i + 2; // index within dispatch of the instruction after this ja
        let target = dispatch_len + block_start;
        prog.push(stmt(BPF_JA, (target - here) as u32));
        block_start += blocks[i].len();
    }
    prog.push(stmt(BPF_RET_K, SECCOMP_RET_KILL_THREAD));
    for b in blocks {
        prog.extend(b);
    }
    Some(prog)
}

fn arch_block(arch: &Arch) -> Vec<libc::sock_filter> {
    let mut b = vec![stmt(BPF_LD_W_ABS, OFFSET_NR)];
    for &(nr, rule) in &arch.rules {
        let body = match rule {
            Rule::ModeArg(n) => vec![
                stmt(BPF_LD_W_ABS, offset_arg_low(n)),
                jump(BPF_JSET_K, S_ISUID_OR_ISGID, 0, 1),
                stmt(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM),
                stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
            ],
            Rule::Errno(e) => vec![stmt(BPF_RET_K, SECCOMP_RET_ERRNO | e)],
        };
        b.push(jump(BPF_JEQ_K, nr, 0, body.len() as u8));
        b.extend(body);
    }
    b.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions we emit.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend_from_slice(&nr.to_le_bytes());
        data.extend_from_slice(&arch.to_le_bytes());
        data.extend_from_slice(&0u64.to_le_bytes());
        for a in args {
            data.extend_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    let o = i.k as usize;
                    let mut w = [0u8; 4];
                    w.copy_from_slice(&data[o..o + 4]);
                    acc = u32::from_le_bytes(w);
                }
                BPF_JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_JSET_K => pc += usize::from(if acc & i.k != 0 { i.jt } else { i.jf }),
                BPF_JA => pc += i.k as usize,
                BPF_RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn filter_matches_nixs_rules() {
        let Some(prog) = program() else { return };
        let arch = arches()[0].audit_arch;
        let (chmod, setxattr) = if cfg!(target_arch = "x86_64") {
            (90, 188)
        } else {
            (53, 5)
        };
        let mode_arg = if cfg!(target_arch = "x86_64") { 1 } else { 2 };
        let mut args = [0u64; 6];
        args[mode_arg] = 0o4755;
        assert_eq!(run(&prog, arch, chmod, args), SECCOMP_RET_ERRNO | EPERM);
        args[mode_arg] = 0o2755;
        assert_eq!(run(&prog, arch, chmod, args), SECCOMP_RET_ERRNO | EPERM);
        args[mode_arg] = 0o1777;
        assert_eq!(run(&prog, arch, chmod, args), SECCOMP_RET_ALLOW);
        assert_eq!(
            run(&prog, arch, setxattr, [0; 6]),
            SECCOMP_RET_ERRNO | ENOTSUP
        );
        assert_eq!(run(&prog, arch, 0, [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(run(&prog, 0x1234, 0, [0; 6]), SECCOMP_RET_KILL_THREAD);
        if cfg!(target_arch = "x86_64") {
            // i386 chmod (15) and x32 fchmod.
            let i386 = arches()[1].audit_arch;
            let mut a = [0u64; 6];
            a[1] = 0o4000;
            assert_eq!(run(&prog, i386, 15, a), SECCOMP_RET_ERRNO | EPERM);
            assert_eq!(
                run(&prog, arch, 91 | 0x4000_0000, a),
                SECCOMP_RET_ERRNO | EPERM
            );
            assert_eq!(run(&prog, i386, 90, a), SECCOMP_RET_ALLOW);
        }
    }
}
