//! Name lookups in the statically linked build.
//!
//! glibc resolves `getpwnam`, `getgrouplist` and `getaddrinfo` through the
//! services that `/etc/nsswitch.conf` lists. Only `files` and `dns` are
//! part of libc itself; any other service (`systemd`, `mdns4_minimal`,
//! `ldap`) is a shared library that glibc loads at run time. A statically
//! linked phpeek-pm carries its own copy of glibc, which may be older or
//! newer than the image's, and loading the image's modules into it can
//! fail or crash. So the static build pins users and groups to
//! `/etc/passwd` and `/etc/group`, and host names to `/etc/hosts` and DNS,
//! whatever `nsswitch.conf` says. That is what containers use anyway, and
//! the same as container runtimes do when they resolve a `user:`.
//!
//! The dynamically linked build uses the image's glibc and follows
//! `nsswitch.conf` unchanged.

/// Restricts glibc's lookups to the services built into libc. Call it
/// before the first lookup.
#[cfg(all(target_env = "gnu", target_feature = "crt-static"))]
pub(crate) fn pin_to_builtin_services() {
    use std::ffi::{c_char, c_int, CStr};

    extern "C" {
        // Declared in glibc's <nss.h>.
        fn __nss_configure_lookup(database: *const c_char, services: *const c_char) -> c_int;
    }

    let databases: [(&CStr, &CStr); 4] = [
        (c"passwd", c"files"),
        (c"group", c"files"),
        (c"initgroups", c"files"),
        (c"hosts", c"files dns"),
    ];
    for (database, services) in databases {
        // SAFETY: both arguments are NUL-terminated strings that live for
        // the whole program, and no other thread exists yet.
        let status = unsafe { __nss_configure_lookup(database.as_ptr(), services.as_ptr()) };
        if status != 0 {
            eprintln!(
                "phpeek-pm: warning: could not limit {} lookups to {}; \
                 /etc/nsswitch.conf applies",
                database.to_string_lossy(),
                services.to_string_lossy()
            );
        }
    }
}

/// Nothing to do: the dynamically linked build follows `nsswitch.conf`.
#[cfg(not(all(target_env = "gnu", target_feature = "crt-static")))]
pub(crate) fn pin_to_builtin_services() {}

/// Whether this build carries its own copy of libc.
pub(crate) const STATIC_LIBC: bool = cfg!(target_feature = "crt-static");
