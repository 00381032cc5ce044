//! What relayctl does with each reply to its request: which rows to print,
//! when the answer is complete, and whether the command failed. Output is
//! returned as text, so the whole conversation is testable without sockets.

use crate::format::{self, View};
use crate::json;
use relayd_proto::control::{ControlReply, ControlRequest};
use relayd_proto::frame::Header;

/// The kind of answer a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Rows until `End`, filtered for a view.
    Rows(View),
    /// Session rows until `End`.
    Sessions,
    /// One `Ok`/`Failed`, printed as "command succeeded/failed".
    Command,
    /// One `Ok`/`Failed`; only failure is printed (reload, load, log).
    Quiet,
    /// Events until the connection ends.
    Monitor,
    /// The Prometheus text, then `End`; printed as it is in either format.
    Metrics,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// What to do after a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Print `output`, wait for more.
    More { output: String },
    /// Print `output` and exit with `success`.
    Finish { output: String, success: bool },
}

/// Follows the conversation for one request.
pub struct Conversation {
    answer: Answer,
    format: Format,
    is_log_request: bool,
}

impl Conversation {
    pub fn new(request: &ControlRequest, format: Format) -> Self {
        use ControlRequest as R;
        let answer = match request {
            R::ShowSummary => Answer::Rows(View::Summary),
            R::ShowHosts => Answer::Rows(View::Hosts),
            R::ShowRedirects => Answer::Rows(View::Redirects),
            R::ShowRelays => Answer::Rows(View::Relays),
            R::ShowRouters => Answer::Rows(View::Routers),
            R::ShowSessions => Answer::Sessions,
            R::HostEnable(_)
            | R::HostDisable(_)
            | R::TableEnable(_)
            | R::TableDisable(_)
            | R::RedirectEnable(_)
            | R::RedirectDisable(_)
            | R::RouterEnable(_)
            | R::RouterDisable(_)
            | R::Poll
            | R::Shutdown
            | R::Drain { .. }
            | R::TableAdd { .. }
            | R::TableRemove { .. }
            | R::Hello { .. } => Answer::Command,
            R::Reload | R::Load(_) | R::LogBrief | R::LogVerbose => Answer::Quiet,
            R::Monitor => Answer::Monitor,
            R::ShowMetrics => Answer::Metrics,
        };
        Conversation {
            answer,
            format,
            is_log_request: matches!(request, R::LogBrief | R::LogVerbose),
        }
    }

    /// Whether a refused connection should be retried (monitor waits for
    /// the daemon to come up, as relayctl does).
    pub fn retries_connect(&self) -> bool {
        self.answer == Answer::Monitor
    }

    /// Whether the answer is a stream with no end (`monitor`): no timeout
    /// after the greeting.
    pub fn streams(&self) -> bool {
        self.answer == Answer::Monitor
    }

    /// Printed once the request is sent.
    pub fn preamble(&self) -> String {
        match (self.format, self.answer) {
            (Format::Text, Answer::Rows(_)) => format::summary_header(),
            (Format::Text, _) if self.is_log_request => "logging request sent.\n".into(),
            _ => String::new(),
        }
    }

    /// Handles one reply; `Err` means the daemon said something that makes
    /// no sense for this request.
    pub fn handle(
        &mut self,
        header: &Header,
        reply: &ControlReply,
        now: i64,
    ) -> Result<Step, String> {
        if let ControlReply::Failed(why) = reply {
            return Ok(Step::Finish {
                output: self.render_result(reply, why),
                success: false,
            });
        }
        let more = |output: String| Ok(Step::More { output });
        let done = |output: String| {
            Ok(Step::Finish {
                output,
                success: true,
            })
        };
        match (self.answer, reply) {
            (Answer::Rows(_) | Answer::Sessions | Answer::Metrics, ControlReply::End) => {
                done(String::new())
            }
            (Answer::Metrics, ControlReply::Metrics(text)) => more(text.clone()),
            (Answer::Rows(view), row) if self.is_row(row) => more(self.render_row(view, row, now)),
            (Answer::Sessions, ControlReply::Session(_)) => {
                more(self.render_row(View::Summary, reply, now))
            }
            (Answer::Command | Answer::Quiet, ControlReply::Ok) => {
                done(self.render_result(reply, ""))
            }
            (Answer::Monitor, ControlReply::Event(event)) => more(match self.format {
                Format::Text => format::monitor_event(header, event, now),
                Format::Json => line(json::reply(reply, now)),
            }),
            (answer, _) => Err(format!(
                "wrong message in {}: {}",
                answer_name(answer),
                header.kind
            )),
        }
    }

    /// What a closed connection means at this point.
    pub fn on_eof(&self) -> Result<bool, String> {
        match self.answer {
            // The daemon may restart or exit before answering these.
            Answer::Quiet | Answer::Monitor => Ok(true),
            _ => Err("pipe closed".into()),
        }
    }

    fn is_row(&self, reply: &ControlReply) -> bool {
        matches!(
            reply,
            ControlReply::Redirect(_)
                | ControlReply::Table(_)
                | ControlReply::Host(_)
                | ControlReply::Relay(_)
                | ControlReply::Router(_)
        )
    }

    fn render_row(&self, view: View, reply: &ControlReply, now: i64) -> String {
        if self.format == Format::Json {
            let wanted = match reply {
                ControlReply::Session(_) => true,
                other => !self.render_text(view, other).is_empty(),
            };
            return if wanted {
                line(json::reply(reply, now))
            } else {
                String::new()
            };
        }
        self.render_text(view, reply)
    }

    fn render_text(&self, view: View, reply: &ControlReply) -> String {
        match reply {
            ControlReply::Redirect(row) => format::redirect(view, row),
            ControlReply::Table(row) => format::table(view, row),
            ControlReply::Host(row) => format::host(view, row),
            ControlReply::Relay(row) => format::relay(view, row),
            ControlReply::Router(row) => format::router(view, row),
            ControlReply::Session(row) => format::session(row),
            _ => String::new(),
        }
    }

    fn render_result(&self, reply: &ControlReply, why: &str) -> String {
        match self.format {
            Format::Json => line(json::reply(reply, 0)),
            Format::Text => match reply {
                ControlReply::Ok if self.answer == Answer::Command => "command succeeded\n".into(),
                ControlReply::Ok => String::new(),
                _ if why.is_empty() => "command failed\n".into(),
                _ => format!("command failed: {why}\n"),
            },
        }
    }
}

fn line(text: Option<String>) -> String {
    text.map(|t| t + "\n").unwrap_or_default()
}

fn answer_name(answer: Answer) -> &'static str {
    match answer {
        Answer::Rows(_) => "summary",
        Answer::Sessions => "session",
        Answer::Command | Answer::Quiet => "command output",
        Answer::Monitor => "monitor",
        Answer::Metrics => "metrics",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_proto::control::{MonitorEvent, Target};
    use relayd_proto::status::{HostRow, RedirectRow, RelayRow, TableRow};

    fn talk(
        request: ControlRequest,
        format: Format,
        replies: &[ControlReply],
    ) -> (String, Option<bool>) {
        let mut conversation = Conversation::new(&request, format);
        let mut out = conversation.preamble();
        for reply in replies {
            match conversation.handle(&Header::default(), reply, 0).unwrap() {
                Step::More { output } => out += &output,
                Step::Finish { output, success } => return (out + &output, Some(success)),
            }
        }
        (out, None)
    }

    fn summary_stream() -> Vec<ControlReply> {
        vec![
            ControlReply::Redirect(RedirectRow {
                id: 1,
                name: "www".into(),
                ..RedirectRow::default()
            }),
            ControlReply::Table(TableRow {
                id: 1,
                name: "web".into(),
                disabled: false,
                up_hosts: 0,
            }),
            ControlReply::Host(HostRow {
                name: "10.0.0.1".into(),
                ..HostRow::default()
            }),
            ControlReply::Relay(RelayRow {
                id: 1,
                name: "proxy".into(),
                ..RelayRow::default()
            }),
            ControlReply::End,
        ]
    }

    #[test]
    fn summary_prints_every_row_under_the_header() {
        let (out, result) = talk(ControlRequest::ShowSummary, Format::Text, &summary_stream());
        assert_eq!(result, Some(true));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert!(lines[0].starts_with("Id  \tType"));
        assert!(lines[1].contains("redirect"));
        assert!(lines[4].contains("relay"));
    }

    #[test]
    fn show_hosts_keeps_only_tables_and_hosts() {
        let (out, result) = talk(ControlRequest::ShowHosts, Format::Text, &summary_stream());
        assert_eq!(result, Some(true));
        let kinds: Vec<&str> = out
            .lines()
            .skip(1)
            .map(|l| l.split('\t').nth(1).unwrap().trim())
            .collect();
        assert_eq!(kinds, ["table", "host"]);
    }

    #[test]
    fn json_rows_are_filtered_the_same_way() {
        let (out, _) = talk(ControlRequest::ShowRelays, Format::Json, &summary_stream());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let row: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(row["type"], "relay", "{out}");
    }

    #[test]
    fn commands_report_success_and_failure() {
        let request = ControlRequest::HostDisable(Target::Id(1));
        assert_eq!(
            talk(request.clone(), Format::Text, &[ControlReply::Ok]),
            ("command succeeded\n".into(), Some(true))
        );
        assert_eq!(
            talk(
                request.clone(),
                Format::Text,
                &[ControlReply::Failed(String::new())]
            ),
            ("command failed\n".into(), Some(false))
        );
        assert_eq!(
            talk(
                request,
                Format::Text,
                &[ControlReply::Failed("no such host".into())]
            ),
            ("command failed: no such host\n".into(), Some(false))
        );
    }

    #[test]
    fn reload_and_log_are_quiet_on_success() {
        assert_eq!(
            talk(ControlRequest::Reload, Format::Text, &[ControlReply::Ok]),
            (String::new(), Some(true))
        );
        assert_eq!(
            talk(
                ControlRequest::LogVerbose,
                Format::Text,
                &[ControlReply::Ok]
            ),
            ("logging request sent.\n".into(), Some(true))
        );
        let (out, result) = talk(
            ControlRequest::Load("/nonexistent".into()),
            Format::Text,
            &[ControlReply::Failed("/nonexistent: no such file".into())],
        );
        assert_eq!(result, Some(false));
        assert!(out.starts_with("command failed"));
        let conversation = Conversation::new(&ControlRequest::Reload, Format::Text);
        assert_eq!(conversation.on_eof(), Ok(true));
        let conversation = Conversation::new(&ControlRequest::ShowSummary, Format::Text);
        assert!(conversation.on_eof().is_err());
    }

    #[test]
    fn unexpected_replies_are_errors() {
        let mut conversation = Conversation::new(&ControlRequest::ShowSummary, Format::Text);
        let header = Header {
            kind: 6,
            ..Header::default()
        };
        assert_eq!(
            conversation.handle(&header, &ControlReply::Ok, 0),
            Err("wrong message in summary: 6".into())
        );
        let mut conversation = Conversation::new(&ControlRequest::Poll, Format::Text);
        assert!(conversation
            .handle(&header, &ControlReply::Event(MonitorEvent::Sync), 0)
            .is_err());
    }

    #[test]
    fn metrics_are_printed_as_they_came_in_either_format() {
        let text = "# HELP relayd_host_up x\n# TYPE relayd_host_up gauge\nrelayd_host_up 1\n";
        let replies = [ControlReply::Metrics(text.into()), ControlReply::End];
        for format in [Format::Text, Format::Json] {
            let (out, result) = talk(ControlRequest::ShowMetrics, format, &replies);
            assert_eq!((out.as_str(), result), (text, Some(true)));
        }
    }

    #[test]
    fn monitor_streams_events() {
        let mut conversation = Conversation::new(&ControlRequest::Monitor, Format::Json);
        assert!(conversation.retries_connect());
        let step = conversation
            .handle(
                &Header::default(),
                &ControlReply::Event(MonitorEvent::Sync),
                7,
            )
            .unwrap();
        assert_eq!(
            step,
            Step::More {
                output: "{\"event\":\"sync\",\"timestamp\":7}\n".into()
            }
        );
    }
}
