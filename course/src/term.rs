//! The terminal, one key at a time, and put back as it was.
//!
//! A terminal normally hands a program whole lines (canonical mode), echoes
//! what is typed, and turns Ctrl-C into SIGINT. Watch mode wants single
//! keys (`h`, `l`, `n`, `q`) as they are pressed, so [`KeyMode::enter`]
//! switches the terminal with POSIX termios (`tcgetattr`/`tcsetattr`
//! through `libc`, which the workspace already builds) to:
//!
//! - no canonical mode, no echo (`ICANON`, `ECHO` off), one byte per read;
//! - no signal keys (`ISIG` off): Ctrl-C arrives as the byte 3 and watch
//!   mode quits through the same path as `q`, killing its grading run and
//!   restoring the terminal, instead of dying half-way with the terminal
//!   left silent;
//! - output processing left on (`OPOST`), so `\n` still starts a new line
//!   and plain `println!` output looks right: this is not a full-screen
//!   program.
//!
//! The saved settings are restored when the [`KeyMode`] is dropped, which
//! also happens when the program unwinds from a panic. A full terminal
//! crate (crossterm) would do the same with more machinery (an event
//! system, its own signal handling, mio) than four flags need.
//!
//! When standard input is not a terminal (a pipe, CI), nothing is switched
//! and keys are still read, a line at a time.

use std::io::{self, Read};
use std::sync::mpsc::Sender;

/// The terminal in key-at-a-time mode; restores the old mode on drop.
pub struct KeyMode {
    saved: Option<libc::termios>,
}

impl KeyMode {
    /// Switches standard input to key-at-a-time mode if it is a terminal.
    pub fn enter() -> io::Result<KeyMode> {
        // SAFETY: isatty only inspects the descriptor number.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } != 1 {
            return Ok(KeyMode { saved: None });
        }
        // SAFETY: termios is a plain C struct for which all-zero is a valid
        // value; tcgetattr fills it in before it is read.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `saved` is a valid, writable termios for the call.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut keys = saved;
        keys.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        keys.c_cc[libc::VMIN] = 1;
        keys.c_cc[libc::VTIME] = 0;
        // SAFETY: `keys` is a valid termios derived from the current one.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &keys) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(KeyMode { saved: Some(saved) })
    }

    /// True if the terminal was switched (standard input is a terminal).
    pub fn is_terminal(&self) -> bool {
        self.saved.is_some()
    }
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: `saved` is the termios tcgetattr returned for this
            // descriptor; restoring it is what the caller asked for.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
            }
        }
    }
}

/// A key the watch loop acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character (already lower-cased).
    Char(char),
    /// Ctrl-C (byte 3) or Ctrl-D (byte 4, or end of input).
    Interrupt,
}

/// Decodes one input byte; `None` for bytes the loop ignores.
///
/// ```
/// use course::term::{decode, Key};
/// assert_eq!(decode(b'Q'), Some(Key::Char('q')));
/// assert_eq!(decode(3), Some(Key::Interrupt));
/// assert_eq!(decode(b'\n'), None);
/// ```
pub fn decode(byte: u8) -> Option<Key> {
    match byte {
        3 | 4 => Some(Key::Interrupt),
        b if b.is_ascii_graphic() => Some(Key::Char(b.to_ascii_lowercase() as char)),
        _ => None,
    }
}

/// Reads standard input on a thread of its own and sends each key, mapped
/// by `wrap`, to `tx`. At the end of input (a pipe that closed) it stops
/// reading; the program goes on without keys.
pub fn spawn_key_reader<E: Send + 'static>(tx: Sender<E>, wrap: fn(Key) -> E) {
    std::thread::Builder::new()
        .name("course-keys".into())
        .spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut byte = [0_u8; 1];
            loop {
                let key = match stdin.read(&mut byte) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => match decode(byte[0]) {
                        Some(k) => k,
                        None => continue,
                    },
                };
                if tx.send(wrap(key)).is_err() || key == Key::Interrupt {
                    return;
                }
            }
        })
        .expect("could not start the key reader thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_case_blind_and_control_bytes_quit_or_are_ignored() {
        assert_eq!(decode(b'h'), Some(Key::Char('h')));
        assert_eq!(decode(b'L'), Some(Key::Char('l')));
        assert_eq!(decode(3), Some(Key::Interrupt));
        assert_eq!(decode(4), Some(Key::Interrupt));
        assert_eq!(decode(b' '), None);
        assert_eq!(decode(27), None);
    }
}
