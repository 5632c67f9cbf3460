//! `wfm-publisher health`: asks the daemon's `/healthz`, where the
//! configuration's `admin.listen` says (environment overrides included, as
//! the daemon reads them), so a container's HEALTHCHECK names no address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

/// GET `url`, or the configured endpoint's `/healthz`: exit 0 on a 2xx.
pub(super) async fn check(config: &Path, url: Option<String>) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => match super::load_settings(config) {
            Ok(settings) => healthz_url(settings.admin.listen),
            Err(_) => return ExitCode::FAILURE,
        },
    };
    let shown = crate::api::url::shown_text(&url);
    let answer = reqwest::Client::new()
        .get(&url)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("wfm-publisher: {shown} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "wfm-publisher: {shown}: {}",
                crate::api::classify::transport_reason(&e)
            );
            ExitCode::FAILURE
        }
    }
}

/// The `/healthz` of an endpoint listening on `listen`: an unspecified
/// address (all interfaces, as in a container) is asked on loopback.
fn healthz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(ip) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::healthz_url;

    #[test]
    fn all_interfaces_are_asked_on_loopback() {
        let url = |s: &str| healthz_url(s.parse().unwrap());
        assert_eq!(url("0.0.0.0:9464"), "http://127.0.0.1:9464/healthz");
        assert_eq!(url("[::]:9464"), "http://[::1]:9464/healthz");
        assert_eq!(url("127.0.0.1:8080"), "http://127.0.0.1:8080/healthz");
        assert_eq!(url("10.1.2.3:9464"), "http://10.1.2.3:9464/healthz");
    }
}
