//! The SNS message: a one-line subject, a plain-text body with the per-phase
//! summary and the run's URL, and `stack` / `status` message attributes so
//! subscribers can filter.

use anyhow::Result;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::model::report::Report;

/// SNS subjects must be shorter than 100 characters, with no line breaks.
pub const SUBJECT_LIMIT: usize = 99;
/// SNS messages, attributes included, are at most 256 KiB.
pub const MESSAGE_LIMIT: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    pub stack: String,
    pub status: String,
}

impl Message {
    pub fn for_teardown(report: &Report, run_url: Option<&str>) -> Message {
        let mut body = report.render_human();
        if let Some(url) = run_url {
            body.push_str(&format!("\nRun: {url}\n"));
        }
        Message::new(&report.stack, "teardown", report.result.name(), body)
    }

    /// The alert of a failed `schedule stop|start`: what failed and why, first, then the whole outcome.
    pub fn for_schedule(outcome: &crate::schedule::Outcome, run_url: Option<&str>) -> Message {
        let mut body = format!(
            "sundown schedule {} of {} failed; the stack is not as the schedule wants it:\n",
            outcome.action.name(),
            outcome.stack
        );
        for e in &outcome.errors {
            body.push_str(&format!("- {e}\n"));
        }
        body.push('\n');
        body.push_str(&outcome.render_human());
        if let Some(url) = run_url {
            body.push_str(&format!("\nRun: {url}\n"));
        }
        Message::new(
            &outcome.stack,
            &format!("schedule {}", outcome.action.name()),
            "failed",
            body,
        )
    }

    /// Builds a message held to SNS's limits: the subject cut to one line of
    /// 99 characters, the body cut so body and attributes fit 256 KiB.
    pub fn new(stack: &str, command: &str, status: &str, body: String) -> Message {
        let subject: String = format!("sundown: {stack} {command} {status}")
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(SUBJECT_LIMIT)
            .collect();
        let attributes = ["stack", stack, "String", "status", status, "String"]
            .iter()
            .map(|s| s.len())
            .sum::<usize>();
        let body = crate::text::truncate(
            &body,
            MESSAGE_LIMIT - attributes,
            "\n[truncated: the full report is in the run's job summary]\n",
        );
        Message {
            subject,
            body,
            stack: stack.to_string(),
            status: status.to_string(),
        }
    }
}

/// The region of an SNS topic, the fourth field of its ARN (`arn:aws:sns:REGION:…`).
pub fn topic_region(topic_arn: &str) -> &str {
    topic_arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .unwrap_or("us-east-1")
}

/// Publishes `message`; returns the SNS message id.
pub async fn publish(client: &aws_sdk_sns::Client, topic_arn: &str, message: &Message) -> Result<String> {
    let attribute = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
    };
    let out = client
        .publish()
        .topic_arn(topic_arn)
        .subject(&message.subject)
        .message(&message.body)
        .message_attributes("stack", attribute(&message.stack)?)
        .message_attributes("status", attribute(&message.status)?)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("publishing to {topic_arn}: {}", crate::aws::describe(&e)))?;
    Ok(out.message_id.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_one_short_line_and_body_fits_the_limit() {
        let stack = "s\n".repeat(80);
        let m = Message::new(&stack, "teardown", "failed", "x".repeat(MESSAGE_LIMIT * 2));
        assert!(m.subject.chars().count() <= SUBJECT_LIMIT, "{}", m.subject.len());
        assert!(!m.subject.contains('\n'));
        assert!(m.body.len() + m.stack.len() + m.status.len() + "stackStringstatusString".len() <= MESSAGE_LIMIT);
        assert!(m.body.ends_with("job summary]\n"));

        let m = Message::new("retail-forecast", "teardown", "succeeded", "ok".into());
        assert_eq!(m.subject, "sundown: retail-forecast teardown succeeded");
        assert_eq!(m.body, "ok");
    }
}
