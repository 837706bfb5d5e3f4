//! The file-serving checks of stages 12 and 13: port 2 sends `public/sample.txt` and closes;
//! port 3 refuses a file outside `public/` by closing without a byte.

use std::fs;
use std::time::Duration;

use super::wire::{connect, read_to_close, show, End};
use super::Verdict;
use crate::runner::StageRun;

/// How long the whole file may take (the grader allows 30 s for the first chunk).
const FILE_TIMEOUT: Duration = Duration::from_secs(10);

/// prematureFileServerTest, stricter: the client sends nothing and must receive exactly the
/// file, then the close.
pub fn serves_sample(run: &mut StageRun, port: u16) -> Verdict {
    let path = run.sample_file();
    let expected = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut stream = connect(port).map_err(|e| format!("cannot connect to port {port}: {e}"))?;
    let (got, end) = read_to_close(&mut stream, expected.len() + (1 << 20), FILE_TIMEOUT);
    if got != expected {
        return Err(format!(
            "received {} bytes {} ({}), expected the {} bytes of sample.txt",
            got.len(),
            show(&got),
            end.describe(),
            expected.len()
        ));
    }
    match end {
        End::Closed => Ok(format!(
            "received the {} bytes of sample.txt, then the close",
            got.len()
        )),
        other => Err(format!(
            "received the whole file, but then: {}",
            other.describe()
        )),
    }
}

/// fileAccessRestrictionTest: the refused file must produce a close with zero bytes.
pub fn refuses(port: u16) -> Verdict {
    let mut stream = connect(port).map_err(|e| format!("cannot connect to port {port}: {e}"))?;
    let (got, end) = read_to_close(&mut stream, 1 << 20, Duration::from_secs(5));
    let closed = matches!(end, End::Closed | End::Failed(_));
    if got.is_empty() && closed {
        Ok(format!("closed with 0 bytes ({})", end.describe()))
    } else if !got.is_empty() {
        Err(format!(
            "the server sent {} instead of refusing",
            show(&got)
        ))
    } else {
        Err(format!("the connection stayed open: {}", end.describe()))
    }
}
