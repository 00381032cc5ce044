//! relayd's error page for `return error [style "css"]`: a small HTML
//! document naming the status and the rule's label, sent with
//! `Connection: close` because the session ends after it. Answers are
//! raw bytes: they go out on the client socket as they are.

use http::StatusCode;
use std::net::SocketAddr;
use std::time::SystemTime;

/// What relayd puts in `Server:` and the page's address line.
pub const SERVER_NAME: &str = "relayd";

/// relayd's default style: white on dark red.
const DEFAULT_STYLE: &str = "body { background-color: #a00000; color: white; font-family: \
     'Comic Sans MS', 'Chalkboard SE', 'Comic Neue', sans-serif; }\n\
     hr { border: 0; border-bottom: 1px dashed; }\n";

/// The whole answer for `status`: the page with `message` (hidden for 500
/// as relayd does) and the label of the rule that blocked the request.
pub fn page(
    status: StatusCode,
    message: &str,
    label: Option<&str>,
    style: Option<&str>,
    listen: SocketAddr,
) -> Vec<u8> {
    let body = html(status, message, label, style, listen);
    let mut answer = head(status, Some(("text/html", body.len())));
    answer.extend_from_slice(body.as_bytes());
    answer
}

/// A plain answer without a page, for protocol errors (400, 431, 502)
/// that are not the rules' doing.
pub fn bare(status: StatusCode) -> Vec<u8> {
    head(status, None)
}

fn head(status: StatusCode, content: Option<(&str, usize)>) -> Vec<u8> {
    let (kind, length) = match content {
        Some((kind, length)) => (format!("Content-Type: {kind}\r\n"), length),
        None => (String::new(), 0),
    };
    format!(
        "HTTP/1.0 {} {}\r\nDate: {}\r\nServer: {SERVER_NAME}\r\nConnection: close\r\n\
         {kind}Content-Length: {length}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Unknown Error"),
        http_date(SystemTime::now()),
    )
    .into_bytes()
}

fn html(
    status: StatusCode,
    message: &str,
    label: Option<&str>,
    style: Option<&str>,
    listen: SocketAddr,
) -> String {
    let reason = status.canonical_reason().unwrap_or("Unknown Error");
    let text = if status == StatusCode::INTERNAL_SERVER_ERROR {
        ""
    } else {
        message
    };
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<title>{code:03} {reason}</title>\n\
         <style type=\"text/css\"><!--\n{style}\n--></style>\n</head>\n<body>\n\
         <h1>{reason}</h1>\n<div id='m'>{text}</div>\n<div id='l'>{label}</div>\n\
         <hr><address>{SERVER_NAME} at {host} port {port}</address>\n</body>\n</html>\n",
        code = status.as_u16(),
        style = style.unwrap_or(DEFAULT_STYLE),
        text = escape_html(text),
        label = escape_html(label.unwrap_or("")),
        host = listen.ip(),
        port = listen.port(),
    )
}

/// Labels and messages come from the configuration and the request: they
/// must not become markup.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_imf_fixdate() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn labels_cannot_inject_markup() {
        assert_eq!(
            escape_html("<b>\"x\" & 'y'"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
    }
}
