//! Logs captured as text by a process-wide subscriber, for tests that look at what is logged.

use std::sync::{Arc, Mutex, OnceLock};

/// Every event and span field, as text, from every target but the test issuer's.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<String>>);

impl CapturedLogs {
    /// The test binary's one subscriber, installed on first use. Global, because tests run on
    /// several threads and tracing caches per call site whether anyone listens: each test
    /// sees the others' logs too.
    pub fn global() -> &'static Self {
        static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = CapturedLogs::default();
            tracing::subscriber::set_global_default(logs.clone()).expect("the only subscriber");
            logs
        })
    }

    /// All text captured so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

pub(crate) struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        !metadata.target().starts_with("bearer_guard::testing")
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut text = self.0.lock().unwrap();
        text.push_str(&format!("\n{} span", span.metadata().target()));
        span.record(&mut Fields(&mut text));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.0.lock().unwrap();
        text.push_str(&format!(
            "\n{} {}",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut Fields(&mut text));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
