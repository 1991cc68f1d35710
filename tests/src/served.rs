//! An axum router served on a random loopback port for as long as its handle lives: what every
//! fake peer (and the harness's worker) needs, so each of them only builds its router.

use std::net::SocketAddr;

use tokio::task::JoinHandle;

/// A running server; aborted when dropped, so a test's peers never outlive it.
pub struct Served {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Served {
    /// Serves `router` on `127.0.0.1:0`. `what` names the server in panics (`bind {what}`), e.g.
    /// `"fake github"`.
    pub async fn start(what: &str, router: axum::Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind {what}: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{what} address: {e}"));
        let what = what.to_owned();
        let task = tokio::spawn(async move {
            // Only reached if accepting fails for good; a silent stop would show up later as
            // puzzling connection errors in the test.
            if let Err(e) = axum::serve(listener, router).await {
                panic!("serve {what}: {e}");
            }
        });
        Served { addr, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`; `path` is empty or starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}
