//! Network namespaces for the serving tests, removed on drop, and child processes
//! killed by PID on drop. Needs root (as in CI) and iproute2; a missing tool fails
//! the test with a hint instead of skipping it.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Run `ip ARGS...` and panic with its stderr when it fails.
pub fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 `ip` is required (apt-get install iproute2)");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A short unique name (interface names have at most 15 characters).
pub fn unique(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{label}{}x{}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace with its loopback up; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(label: &str) -> Netns {
        let name = unique(label);
        ip(&["netns", "add", &name]);
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// `ip -n NAME ARGS...`
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Run PROGRAM in this namespace (through `ip netns exec`, which execs it, so
    /// the child's PID is the program's).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Link two namespaces with a veth pair and address both ends (`A/len`, `B/len`).
pub fn link(a: &Netns, a_if: &str, a_cidr: &str, b: &Netns, b_if: &str, b_cidr: &str) {
    a.ip(&[
        "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.name,
    ]);
    a.ip(&["addr", "add", a_cidr, "dev", a_if]);
    b.ip(&["addr", "add", b_cidr, "dev", b_if]);
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}

/// A host-side veth (for tests that talk to a namespace from the test process);
/// deleted on drop (deleting one end removes the pair).
pub struct HostVeth {
    pub name: String,
}

impl HostVeth {
    /// veth HOST_CIDR on the host, NS_IF with NS_CIDR in `netns`.
    pub fn new(netns: &Netns, host_cidr: &str, ns_if: &str, ns_cidr: &str) -> HostVeth {
        let name = unique("gnh");
        ip(&[
            "link",
            "add",
            &name,
            "type",
            "veth",
            "peer",
            "name",
            ns_if,
            "netns",
            &netns.name,
        ]);
        let veth = HostVeth { name };
        ip(&["addr", "add", host_cidr, "dev", &veth.name]);
        ip(&["link", "set", &veth.name, "up"]);
        netns.ip(&["addr", "add", ns_cidr, "dev", ns_if]);
        netns.ip(&["link", "set", ns_if, "up"]);
        veth
    }
}

impl Drop for HostVeth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// A child process killed by PID on drop.
pub struct Process {
    pub child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
