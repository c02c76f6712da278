//! Dropping root after the sockets are open, keeping the right to set the clock.
//!
//! Owns looking up the `user` directive's account (getpwnam_r) and the switch:
//! PR_SET_KEEPCAPS, supplementary groups, gid, uid, then capset(2) so that only
//! CAP_SYS_TIME stays permitted and effective. capset has no glibc wrapper, so it is
//! made with syscall(2); it is not a clock, socket or wait call, so an LD_PRELOAD
//! simulator has no need to see it.

use super::check;
use std::ffi::CString;
use std::io;

/// CAP_SYS_TIME's bit number.
pub const CAP_SYS_TIME: u32 = 25;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapabilityHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapabilityData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The ids of an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// Look `name` up in the system's user database.
pub fn lookup_user(name: &str) -> io::Result<Account> {
    let c_name = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name with NUL"))?;
    // SAFETY: zeroed passwd is a valid out-parameter; buffer outlives the call.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16_384];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live memory of the sizes passed.
    let code = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if code != 0 {
        return Err(io::Error::from_raw_os_error(code));
    }
    if result.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no user named {name:?}"),
        ));
    }
    Ok(Account {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

/// Become `account`, keeping only CAP_SYS_TIME. Call after every privileged socket
/// is open. Fails (and changes nothing further) if any step fails.
pub fn drop_to(account: Account) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) })?;
    // SAFETY: one gid from a live local.
    check(unsafe { libc::setgroups(1, &account.gid) })?;
    // SAFETY: plain id changes.
    check(unsafe { libc::setgid(account.gid) })?;
    // SAFETY: as above.
    check(unsafe { libc::setuid(account.uid) })?;
    let header = CapabilityHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapabilityData::default(); 2];
    data[0].effective = 1 << CAP_SYS_TIME;
    data[0].permitted = 1 << CAP_SYS_TIME;
    // SAFETY: header and data are live, correctly laid out for version 3 (two data words).
    let result = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &header as *const CapabilityHeader,
            data.as_ptr(),
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) })?;
    Ok(())
}

/// The effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}
