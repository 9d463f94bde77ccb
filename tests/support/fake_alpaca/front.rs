//! The connection front: a raw TCP listener before the HTTP server, so the fake can drop a
//! connection without replying (something an HTTP framework will not do), log every request, and
//! pick each request's fault in one place.

use std::net::SocketAddr;
use std::time::Instant;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::routes::{FAULT_HEADER, Shared};
use super::state::{Fault, LoggedRequest};

/// Accepts connections until the task is aborted.
pub async fn run(listener: TcpListener, inner: SocketAddr, state: Shared) {
    while let Ok((client, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let _ = serve(client, inner, state).await;
        });
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

async fn serve(mut client: TcpStream, inner: SocketAddr, state: Shared) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if client.read_buf(&mut buffer).await? == 0 {
            return Ok(());
        }
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default().to_owned();
    let content_length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + content_length {
        if client.read_buf(&mut buffer).await? == 0 {
            return Ok(());
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let client_order_id = serde_json::from_slice::<Value>(&buffer[head_end..])
        .ok()
        .and_then(|body| body.get("client_order_id")?.as_str().map(str::to_owned))
        .or_else(|| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("client_order_id="))
                .map(str::to_owned)
        });
    let fault = {
        let mut state = state.lock().expect("fake state");
        let fault = state.take_fault(&method, path);
        state.log.push(LoggedRequest {
            method: method.clone(),
            path: path.to_owned(),
            query: query.to_owned(),
            client_order_id,
            fault: fault.clone(),
            at: Instant::now(),
        });
        fault
    };
    match fault {
        // Hang up without a word: the request never reached Alpaca.
        Some(Fault::Drop) => Ok(()),
        Some(Fault::DropAfterProcessing) => {
            let mut upstream = TcpStream::connect(inner).await?;
            upstream.write_all(&buffer).await?;
            // Let Alpaca process it, then hang up on the client instead of passing the reply on.
            let mut reply = Vec::new();
            upstream.read_to_end(&mut reply).await?;
            Ok(())
        }
        fault => {
            if let Some(fault) = fault {
                let id = state.lock().expect("fake state").park(fault);
                let line_end = find(&buffer, b"\r\n").expect("a request line") + 2;
                let header = format!("{FAULT_HEADER}: {id}\r\n");
                buffer.splice(line_end..line_end, header.into_bytes());
            }
            let mut upstream = TcpStream::connect(inner).await?;
            upstream.write_all(&buffer).await?;
            tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
            Ok(())
        }
    }
}
