//! Errors of kernel writes: which operation failed and what the kernel said.

use std::fmt;
use std::io;

/// Why the kernel (or the path to it) refused an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// An errno from the kernel (netlink NACK or a failed sysctl write) with the
    /// extended-ack text when the kernel gave one.
    Errno { errno: i32, extack: Option<String> },
    /// Everything else: the netlink connection went away, no reply, a bad argument caught
    /// before it reached the kernel.
    Other(String),
}

impl Cause {
    pub fn errno(errno: i32) -> Cause {
        Cause::Errno {
            errno,
            extack: None,
        }
    }

    pub(crate) fn from_io(err: &io::Error) -> Cause {
        match err.raw_os_error() {
            Some(errno) => Cause::errno(errno),
            None => Cause::Other(err.to_string()),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // io::Error renders the libc text plus "(os error N)", the form people grep for.
            Cause::Errno { errno, extack } => {
                write!(f, "{}", io::Error::from_raw_os_error(*errno))?;
                if let Some(text) = extack {
                    write!(f, " (kernel: {text})")?;
                }
                Ok(())
            }
            Cause::Other(text) => f.write_str(text),
        }
    }
}

/// A kernel write that failed, e.g.
/// `add address 10.0.0.1/24 dev vrrp4-3-5: File exists (os error 17)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {cause}")]
pub struct KernelError {
    /// The operation as text ([`super::Op`]'s `Display`, or a by-index description).
    pub op: String,
    pub cause: Cause,
}

impl KernelError {
    pub fn new(op: impl Into<String>, cause: Cause) -> KernelError {
        KernelError {
            op: op.into(),
            cause,
        }
    }

    /// The kernel's errno, if the kernel is who refused.
    pub fn errno(&self) -> Option<i32> {
        match self.cause {
            Cause::Errno { errno, .. } => Some(errno),
            Cause::Other(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_op_and_errno() {
        let e = KernelError::new("add address 10.0.0.1/24 dev vrrp4-3-5", Cause::errno(17));
        assert_eq!(
            e.to_string(),
            "add address 10.0.0.1/24 dev vrrp4-3-5: File exists (os error 17)"
        );
        assert_eq!(e.errno(), Some(17));
        let e = KernelError::new(
            "set x up",
            Cause::Errno {
                errno: 22,
                extack: Some("bad thing".into()),
            },
        );
        assert_eq!(
            e.to_string(),
            "set x up: Invalid argument (os error 22) (kernel: bad thing)"
        );
    }
}
