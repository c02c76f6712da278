//! The time daemons doctor knows: packages, binary paths, systemd units, process names,
//! and whether each steers the system clock.
//!
//! Owns this table only (data, no logic); [`super::daemons`] gathers the evidence. It
//! must not look at the host.

/// A time daemon doctor knows.
#[derive(Debug)]
pub struct DaemonKind {
    /// The name doctor prints.
    pub name: &'static str,
    /// Package names (Debian and RPM).
    pub packages: &'static [&'static str],
    /// Where its binary is installed.
    pub binaries: &'static [&'static str],
    /// systemd units that run it.
    pub units: &'static [&'static str],
    /// Process names (argv[0]'s file name, or comm, which the kernel cuts at 15 bytes).
    pub programs: &'static [&'static str],
    /// True if, when running, it adjusts CLOCK_REALTIME.
    pub steers_system_clock: bool,
    /// The command-line flag with which it leaves the clock alone (`chronyd -x`).
    pub no_clock_flag: Option<&'static str>,
    /// How to remove it, for remedies.
    pub remove_hint: &'static str,
}

/// Every daemon doctor looks for, in report order.
pub const KNOWN_DAEMONS: &[DaemonKind] = &[
    DaemonKind {
        name: "gnomond",
        packages: &["gnomon"],
        binaries: &["/usr/sbin/gnomond", "/usr/local/sbin/gnomond"],
        units: &["gnomond.service"],
        programs: &["gnomond"],
        steers_system_clock: true,
        no_clock_flag: Some("-x"),
        remove_hint: "apt-get remove gnomon",
    },
    DaemonKind {
        name: "ntpd",
        packages: &["ntp"],
        binaries: &["/usr/sbin/ntpd"],
        units: &["ntp.service", "ntpd.service"],
        programs: &["ntpd"],
        steers_system_clock: true,
        no_clock_flag: None,
        remove_hint: "systemctl disable --now ntp; apt-get remove ntp (dnf remove ntp)",
    },
    DaemonKind {
        name: "ntpsec",
        packages: &["ntpsec"],
        binaries: &[],
        units: &["ntpsec.service"],
        programs: &["ntpd"],
        steers_system_clock: true,
        no_clock_flag: None,
        remove_hint: "systemctl disable --now ntpsec; apt-get remove ntpsec",
    },
    DaemonKind {
        name: "chronyd",
        packages: &["chrony"],
        binaries: &["/usr/sbin/chronyd"],
        units: &["chrony.service", "chronyd.service"],
        programs: &["chronyd"],
        steers_system_clock: true,
        no_clock_flag: Some("-x"),
        remove_hint: "systemctl disable --now chrony; apt-get remove chrony (dnf remove chrony)",
    },
    DaemonKind {
        name: "systemd-timesyncd",
        packages: &["systemd-timesyncd"],
        binaries: &[
            "/lib/systemd/systemd-timesyncd",
            "/usr/lib/systemd/systemd-timesyncd",
        ],
        units: &["systemd-timesyncd.service"],
        programs: &["systemd-timesyncd", "systemd-timesyn"],
        steers_system_clock: true,
        no_clock_flag: None,
        remove_hint: "systemctl disable --now systemd-timesyncd; systemctl mask systemd-timesyncd",
    },
    DaemonKind {
        name: "openntpd",
        packages: &["openntpd"],
        binaries: &["/usr/sbin/openntpd"],
        units: &["openntpd.service"],
        programs: &["openntpd"],
        steers_system_clock: true,
        no_clock_flag: None,
        remove_hint: "systemctl disable --now openntpd; apt-get remove openntpd",
    },
    DaemonKind {
        name: "ptp4l",
        packages: &["linuxptp"],
        binaries: &["/usr/sbin/ptp4l"],
        units: &["ptp4l.service"],
        programs: &["ptp4l"],
        // It disciplines a PTP hardware clock; phc2sys copies that to the system clock.
        steers_system_clock: false,
        no_clock_flag: None,
        remove_hint: "systemctl disable --now ptp4l",
    },
    DaemonKind {
        name: "phc2sys",
        packages: &["linuxptp"],
        binaries: &["/usr/sbin/phc2sys"],
        units: &["phc2sys.service"],
        programs: &["phc2sys"],
        steers_system_clock: true,
        no_clock_flag: None,
        remove_hint: "systemctl disable --now phc2sys",
    },
    DaemonKind {
        name: "ntpd-rs",
        packages: &["ntpd-rs"],
        binaries: &["/usr/bin/ntp-daemon"],
        units: &["ntpd-rs.service"],
        programs: &["ntp-daemon"],
        steers_system_clock: true,
        no_clock_flag: None,
        remove_hint: "systemctl disable --now ntpd-rs; apt-get remove ntpd-rs",
    },
];
