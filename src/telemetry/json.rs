//! The JSON log line: one flat object per event in which each key appears
//! once. `target` is the publishing target (from the run's span or the
//! event), never the code's module, which is `module`: tools that keep the
//! last of two equal keys (jq) would otherwise lose one of them.

use std::fmt::{Debug, Write as _};

use chrono::SecondsFormat;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats an event as one line: `timestamp`, `level`, `message`, the
/// fields of every span it happened in (outermost first, so an inner
/// span's value wins), the event's own fields (which win over the spans'),
/// then `module`.
pub(super) struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut own = Fields::default();
        event.record(&mut own);
        let mut line = Fields::default();
        let now = chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        line.set("timestamp", now.into());
        line.set("level", meta.level().as_str().into());
        if let Some(message) = own.take("message") {
            line.set("message", message);
        }
        for span in ctx.event_scope().into_iter().flat_map(|s| s.from_root()) {
            let extensions = span.extensions();
            let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                continue;
            };
            if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&fields.fields) {
                for (key, value) in map {
                    line.set(&key, value);
                }
            }
        }
        for (key, value) in own.0 {
            line.set(&key, value);
        }
        line.set("module", meta.target().into());
        writeln!(writer, "{}", line.render())
    }
}

/// Keys in the order they were first set, each once.
#[derive(Default)]
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, slot)) => *slot = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    fn render(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Strings and JSON values always serialize.
            let _ = write!(out, "{}:{value}", Value::from(key.as_str()));
        }
        out.push('}');
        out
    }
}

/// Numbers and booleans stay typed; `%` and `?` fields become strings.
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.set(field.name(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), value.to_string().into());
    }
}
