//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout, one message per line, answered in
//! order. Blocking IO on purpose: one client, no runtime needed.

use std::io::{self, BufRead, BufWriter, Write};

use crate::TwentyServer;

/// Serves until stdin closes.
pub fn serve(server: &TwentyServer) -> io::Result<()> {
    let stdin = io::stdin().lock();
    let mut stdout = BufWriter::new(io::stdout().lock());
    for line in stdin.split(b'\n') {
        let line = line?;
        let message = line.trim_ascii();
        if message.is_empty() {
            continue;
        }
        if let Some(reply) = server.handle(message).reply {
            stdout.write_all(reply.as_bytes())?;
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        }
    }
    Ok(())
}
