//! Running a grading command so that it can be stopped.
//!
//! A grading run is `cargo test`, which starts the test binary as a child
//! of its own, and a learner's test binary may be stuck until its time
//! limit. Watch mode must be able to drop such a run at once (the learner
//! pressed `n` or `q`, or saved again), and killing `cargo` alone would
//! leave the test binary running, holding the output pipes open. So each
//! command is started as the leader of a new process group, and
//! [`Cancel::cancel`] kills the whole group. The group also keeps the
//! command away from the terminal: its input is `/dev/null` and its output
//! is captured, so it can never fight watch mode for the keyboard.
//!
//! ```
//! use course::run::{run, Cancel};
//! let out = run(std::process::Command::new("true"), &Cancel::default()).unwrap();
//! assert!(out.status.success());
//! ```

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// A handle to stop the command [`run`] is running, from another thread.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Mutex<Slot>>);

#[derive(Debug, Default)]
struct Slot {
    /// The process group of the running command, if one is running.
    group: Option<i32>,
    cancelled: bool,
}

impl Cancel {
    /// Kills the running command and everything it started; a command
    /// started after this call is killed as soon as it starts.
    pub fn cancel(&self) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.cancelled = true;
        if let Some(group) = slot.group {
            kill_group(group);
        }
    }

    /// True once [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).cancelled
    }
}

fn kill_group(group: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; it takes
    // no pointers and at worst fails with ESRCH if the group is gone.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// Runs `cmd` to completion in a process group of its own and returns its
/// output, or an `Interrupted` error if `cancel` stopped it.
pub fn run(mut cmd: Command, cancel: &Cancel) -> io::Result<Output> {
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = {
        let mut slot = cancel.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.cancelled {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let child = cmd.spawn()?;
        slot.group = Some(child.id() as i32);
        child
    };
    let output = child.wait_with_output();
    let mut slot = cancel.0.lock().unwrap_or_else(|e| e.into_inner());
    slot.group = None;
    if slot.cancelled {
        return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn output_is_captured() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2; exit 3"]);
        let o = run(c, &Cancel::default()).unwrap();
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    }

    #[test]
    fn cancel_kills_the_command_and_its_children() {
        let cancel = Cancel::default();
        let c2 = cancel.clone();
        let started = Instant::now();
        let t = std::thread::spawn(move || {
            // The grandchild `sleep` holds stdout open: only a group kill ends the run.
            let mut c = Command::new("sh");
            c.args(["-c", "sleep 60 & sleep 60; echo never"]);
            run(c, &c2)
        });
        // Wait until the command is registered, then cancel it.
        while cancel.0.lock().unwrap().group.is_none() {
            std::thread::yield_now();
            assert!(started.elapsed() < Duration::from_secs(20), "never started");
        }
        cancel.cancel();
        let e = t.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run should end when cancelled, not after the sleeps"
        );
        assert!(cancel.is_cancelled());
        let again = run(Command::new("true"), &cancel).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::Interrupted);
    }
}
