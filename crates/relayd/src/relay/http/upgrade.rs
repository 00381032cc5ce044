//! After a `101 Switching Protocols` (websockets), the session is no
//! longer HTTP: both upgraded connections are joined and bytes move
//! either way until one side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

pub async fn splice(client: OnUpgrade, backend: OnUpgrade) {
    let (client, backend) = match tokio::try_join!(client, backend) {
        Ok(pair) => pair,
        Err(e) => return tracing::debug!("upgrade failed: {e}"),
    };
    let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
        tracing::debug!("upgraded connection ended: {e}");
    }
}
