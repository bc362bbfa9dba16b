//! `bench-upstream stdio`: newline-delimited JSON-RPC on stdin and stdout, answered in order on
//! the calling thread with blocking IO. Output is flushed when no more input is already buffered,
//! so a burst of requests is answered with one write.

use std::io::{self, BufRead, BufWriter, Write};

use super::{Reply, Responder};

/// Serves stdin until EOF.
pub fn serve() -> io::Result<()> {
    let responder = Responder::new();
    let stdin = io::stdin();
    let mut input = io::BufReader::with_capacity(64 * 1024, stdin.lock());
    let mut output = BufWriter::with_capacity(256 * 1024, io::stdout().lock());
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            output.flush()?;
            return Ok(());
        }
        let msg = line.trim_ascii();
        if !msg.is_empty()
            && let Reply::Message { head, tail, .. } = responder.handle(msg)
        {
            output.write_all(&head)?;
            output.write_all(&tail)?;
            output.write_all(b"\n")?;
        }
        if input.buffer().is_empty() {
            output.flush()?;
        }
    }
}
