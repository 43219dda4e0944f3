//! `multipart/form-data` bodies for the few Falcon uploads that need them (RTR put-files).
//!
//! The WIT request carries no headers, so the boundary is fixed and shared with the host through
//! the catalogue's `content-type` entry of the operation.

use crate::error::ToolError;

/// The boundary the host announces in `Content-Type` for multipart operations.
pub const BOUNDARY: &str = "aerie-form-boundary-3f6c1b9e";

/// A multipart body under construction.
#[derive(Debug, Default)]
pub struct Multipart {
    body: Vec<u8>,
    /// A part contained the boundary; `finish` refuses.
    poisoned: bool,
}

impl Multipart {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a text field.
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.head(name, None);
        self.check(value.as_bytes());
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// Add a file field.
    pub fn file(mut self, name: &str, filename: &str, contents: &[u8]) -> Self {
        self.head(name, Some(filename));
        self.check(contents);
        self.body.extend_from_slice(contents);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    fn check(&mut self, content: &[u8]) {
        let b = BOUNDARY.as_bytes();
        if content.windows(b.len()).any(|w| w == b) {
            self.poisoned = true;
        }
    }

    fn head(&mut self, name: &str, filename: Option<&str>) {
        let clean = |s: &str| s.replace(['"', '\r', '\n'], "_");
        self.body
            .extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match filename {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                clean(name),
                clean(f)
            ),
            None => format!(
                "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                clean(name)
            ),
        };
        self.body.extend_from_slice(disposition.as_bytes());
    }

    /// The finished body; fails if a part contains the boundary (it would end the part early).
    pub fn finish(mut self) -> Result<Vec<u8>, ToolError> {
        if self.poisoned {
            return Err(ToolError::invalid(
                "the file contains aerie's multipart boundary and cannot be uploaded",
            ));
        }
        self.body
            .extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        Ok(self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_parts() {
        let b = Multipart::new()
            .text("description", "tool")
            .file("file", "a.exe", b"MZ\x00")
            .finish()
            .unwrap();
        let s = String::from_utf8_lossy(&b);
        assert!(s.starts_with(&format!("--{BOUNDARY}\r\n")));
        assert!(s.contains("name=\"file\"; filename=\"a.exe\""));
        assert!(s.ends_with(&format!("--{BOUNDARY}--\r\n")));
    }

    #[test]
    fn rejects_boundary_in_content() {
        let evil = format!("x--{BOUNDARY}y");
        assert!(
            Multipart::new()
                .file("file", "f", evil.as_bytes())
                .finish()
                .is_err()
        );
    }
}
