//! The app's log file: `logs/wzp-desktop.log` in the app data folder, rotated by size
//! (`wzp-desktop.log.1`, `.2`, ... up to a fixed count), so a long-running app never
//! fills the disk and a bug report can attach the recent history. Written through
//! `tracing` like everything else; secrets are never logged.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A size-rotated log file, shared by every thread that logs.
pub struct RotatingLog {
    state: Mutex<State>,
}

struct State {
    path: PathBuf,
    file: Option<File>,
    written: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingLog {
    /// Opens (appends to) `dir/name`, rotating once it exceeds `max_bytes` and keeping
    /// `keep` old files.
    pub fn open(dir: &Path, name: &str, max_bytes: u64, keep: usize) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(name);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            state: Mutex::new(State {
                path,
                file: Some(file),
                written,
                max_bytes: max_bytes.max(1024),
                keep: keep.max(1),
            }),
        })
    }
}

impl State {
    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let _ = std::fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        self.written = 0;
        Ok(())
    }
}

impl Write for &RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| io::Error::other("log lock poisoned"))?;
        if st.written > 0 && st.written + buf.len() as u64 > st.max_bytes {
            st.rotate()?;
        }
        let n = match st.file.as_mut() {
            Some(f) => f.write(buf)?,
            None => return Err(io::Error::other("log file closed")),
        };
        st.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| io::Error::other("log lock poisoned"))?;
        match st.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let dir = std::env::temp_dir().join(format!(
            "wzp-desktop-log-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let log = RotatingLog::open(&dir, "app.log", 1024, 2);
        let Ok(log) = log else {
            panic!("cannot open the log: {:?}", log.err());
        };
        let line = [b'x'; 100];
        for _ in 0..50 {
            assert!((&log).write_all(&line).is_ok());
        }
        assert!((&log).flush().is_ok());
        let size = |p: &str| std::fs::metadata(dir.join(p)).map(|m| m.len()).ok();
        assert!(size("app.log").is_some_and(|s| s <= 1024));
        assert_eq!(size("app.log.1"), Some(1000));
        assert_eq!(size("app.log.2"), Some(1000));
        assert_eq!(size("app.log.3"), None, "only two old files are kept");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
