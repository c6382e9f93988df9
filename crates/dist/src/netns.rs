//! Network namespaces for tests and benchmarks (Linux, root): each
//! [`Netns`] is a namespace joined to the calling one by a veth pair, so
//! traffic to a server inside it crosses a real network stack (two
//! interfaces, routing, optionally `netem` delay) instead of loopback.
//! Everything is made with `ip` and `tc` (iproute2) and removed on drop.

use std::process::{Command, Stdio};

use crate::{Error, Result};

/// A network namespace with a veth link to the calling namespace.
#[derive(Debug)]
pub struct Netns {
    name: String,
    host_if: String,
    host_ip: String,
    ns_ip: String,
}

fn ip(args: &[&str]) -> Result<()> {
    run("ip", args)
}

fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Io { what: format!("running `{cmd} {}` (is iproute2 installed?)", args.join(" ")), source: e })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Config(format!("`{cmd} {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

impl Netns {
    /// Creates namespace `fg<tag>` and the veth pair `fg<tag>h` (here,
    /// `10.<a>.<b>.1/30`) – `fg<tag>n` (inside, `10.<a>.<b>.2/30`), with
    /// `subnet = (a, b)`; with `delay_ms > 0`, both ends delay every packet
    /// by that much (`tc qdisc … netem`), so a round trip costs twice it.
    /// Needs root (CAP_NET_ADMIN); `tag` must be short enough for a 15-byte
    /// interface name.
    pub fn create(tag: &str, subnet: (u8, u8), delay_ms: u32) -> Result<Netns> {
        if tag.len() > 12 || !tag.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::Config(format!("namespace tag `{tag}`: at most 12 letters and digits")));
        }
        let name = format!("fg{tag}");
        let (host_if, ns_if) = (format!("fg{tag}h"), format!("fg{tag}n"));
        let (host_ip, ns_ip) = (format!("10.{}.{}.1", subnet.0, subnet.1), format!("10.{}.{}.2", subnet.0, subnet.1));
        // Leftovers of a killed run with the same tag.
        let _ = ip(&["netns", "del", &name]);
        let _ = ip(&["link", "del", &host_if]);
        ip(&["netns", "add", &name])?;
        let ns = Netns { name, host_if, host_ip, ns_ip };
        ip(&["link", "add", &ns.host_if, "type", "veth", "peer", "name", &ns_if])?;
        ip(&["link", "set", &ns_if, "netns", &ns.name])?;
        ip(&["addr", "add", &format!("{}/30", ns.host_ip), "dev", &ns.host_if])?;
        ip(&["link", "set", &ns.host_if, "up"])?;
        ns.exec_ok("ip", &["addr", "add", &format!("{}/30", ns.ns_ip), "dev", &ns_if])?;
        ns.exec_ok("ip", &["link", "set", &ns_if, "up"])?;
        ns.exec_ok("ip", &["link", "set", "lo", "up"])?;
        if delay_ms > 0 {
            let d = format!("{delay_ms}ms");
            run("tc", &["qdisc", "add", "dev", &ns.host_if, "root", "netem", "delay", &d])?;
            ns.exec_ok("tc", &["qdisc", "add", "dev", &ns_if, "root", "netem", "delay", &d])?;
        }
        Ok(ns)
    }

    fn exec_ok(&self, cmd: &str, args: &[&str]) -> Result<()> {
        let mut all = vec!["netns", "exec", self.name.as_str(), cmd];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the namespace's end of the link (where a server in it
    /// listens).
    pub fn inside_ip(&self) -> &str {
        &self.ns_ip
    }

    /// The calling namespace's end of the veth pair.
    pub fn outside_if(&self) -> &str {
        &self.host_if
    }

    /// The address of the calling namespace's end.
    pub fn outside_ip(&self) -> &str {
        &self.host_ip
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the pair.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}
