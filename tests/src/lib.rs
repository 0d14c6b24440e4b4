//! Shared support for eplink integration tests: running code inside a namespace.

use std::thread;

use eplink_dataplane::fixture::Netns;

/// Runs `f` on a new thread that lives in namespace `ns`, and returns its result.
pub fn in_ns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> thread::JoinHandle<T> {
    let name = ns.name.clone();
    thread::spawn(move || {
        let target = std::fs::File::open(format!("/var/run/netns/{name}")).expect("open netns");
        // SAFETY: setns on a namespace fd we own; only this (fresh) thread moves.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&target), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
}
