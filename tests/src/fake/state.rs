//! Shared state of a fake server: its models, script, the record of
//! requests and the in-flight counters.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::reply::{Api, FakeRequest, Script};

/// One generation request received by the fake server.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// API the request came in on.
    pub api: Api,
    /// Model name as sent.
    pub model: String,
    /// Prompt text: the `prompt` field, or the content of the last user message.
    pub prompt: String,
    /// The whole JSON body as received.
    pub body: Value,
    /// Temperature the server would use: `options.temperature` for Ollama,
    /// `temperature` for OpenAI.
    pub temperature: Option<f64>,
    /// Top-level `temperature` of the body, which Ollama ignores. For the
    /// OpenAI APIs it equals `temperature`.
    pub top_level_temperature: Option<f64>,
    /// Seed as sent: `options.seed` for Ollama, `seed` for OpenAI.
    pub seed: Option<u64>,
    /// Attempt number for this (model, prompt, temperature, seed) key, counting from 1.
    pub attempt: u32,
    /// Whether the model was in the server's model list.
    pub known_model: bool,
    /// Time of arrival.
    pub received_at: Instant,
}

/// The fields of a request that [`State::admit`] records.
pub(crate) struct Incoming {
    pub api: Api,
    pub model: String,
    pub prompt: String,
    pub body: Value,
    pub temperature: Option<f64>,
    pub top_level_temperature: Option<f64>,
    pub seed: Option<u64>,
    pub known_model: bool,
}

/// Requests that share a key count as attempts of the same work item.
type AttemptKey = (String, String, Option<u64>, Option<u64>);

#[derive(Default)]
struct Counters {
    records: Vec<RecordedRequest>,
    attempts: HashMap<AttemptKey, u32>,
    per_model: BTreeMap<String, u64>,
    in_flight: BTreeMap<String, usize>,
    total_in_flight: usize,
    max_in_flight: usize,
    max_per_model: BTreeMap<String, usize>,
    max_models: usize,
    overlaps: BTreeSet<(String, String)>,
}

/// State shared by all handlers of one fake server.
pub(crate) struct State {
    models: RwLock<Vec<String>>,
    pub script: Script,
    delay_ms: AtomicU64,
    pub shutdown: CancellationToken,
    counters: Mutex<Counters>,
}

impl State {
    pub fn new(models: Vec<String>, script: Script, delay: Duration) -> State {
        State {
            models: RwLock::new(models),
            script,
            delay_ms: AtomicU64::new(duration_ms(delay)),
            shutdown: CancellationToken::new(),
            counters: Mutex::new(Counters::default()),
        }
    }

    pub fn models(&self) -> Vec<String> {
        self.models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_models(&self, models: Vec<String>) {
        *self.models.write().unwrap_or_else(|e| e.into_inner()) = models;
    }

    /// Returns the listed name that `model` refers to. As in Ollama, a name
    /// without a tag also matches the same name with `:latest`.
    pub fn resolve_model(&self, model: &str) -> Option<String> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        let latest = format!("{model}:latest");
        models
            .iter()
            .find(|name| name.as_str() == model || **name == latest)
            .cloned()
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(duration_ms(delay), Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Counters> {
        // A panicking script must not hide the record from the test.
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a request, counts its attempt and marks it in flight until the
    /// returned guard is dropped.
    pub fn admit(self: &Arc<Self>, incoming: Incoming) -> (FakeRequest, InFlight) {
        let mut counters = self.lock();
        let key = (
            incoming.model.clone(),
            incoming.prompt.clone(),
            incoming.temperature.map(f64::to_bits),
            incoming.seed,
        );
        let attempt = counters.attempts.entry(key).or_insert(0);
        *attempt += 1;
        let attempt = *attempt;

        let model = incoming.model.clone();
        *counters.per_model.entry(model.clone()).or_insert(0) += 1;
        counters.records.push(RecordedRequest {
            api: incoming.api,
            model: incoming.model,
            prompt: incoming.prompt.clone(),
            body: incoming.body,
            temperature: incoming.temperature,
            top_level_temperature: incoming.top_level_temperature,
            seed: incoming.seed,
            attempt,
            known_model: incoming.known_model,
            received_at: Instant::now(),
        });

        enter(&mut counters, &model);
        let request = FakeRequest {
            api: incoming.api,
            model: model.clone(),
            prompt: incoming.prompt,
            temperature: incoming.temperature,
            seed: incoming.seed,
            attempt,
        };
        let guard = InFlight {
            state: Arc::clone(self),
            model,
        };
        (request, guard)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().records.clone()
    }

    pub fn requests_per_model(&self) -> BTreeMap<String, u64> {
        self.lock().per_model.clone()
    }

    pub fn in_flight(&self) -> usize {
        self.lock().total_in_flight
    }

    pub fn in_flight_per_model(&self) -> BTreeMap<String, usize> {
        let counters = self.lock();
        counters
            .in_flight
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(model, count)| (model.clone(), *count))
            .collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    pub fn max_in_flight_per_model(&self) -> BTreeMap<String, usize> {
        self.lock().max_per_model.clone()
    }

    pub fn max_models_in_flight(&self) -> usize {
        self.lock().max_models
    }

    pub fn models_in_flight_together(&self) -> BTreeSet<(String, String)> {
        self.lock().overlaps.clone()
    }
}

/// Marks one request in flight and updates the maxima.
fn enter(counters: &mut Counters, model: &str) {
    let count = counters.in_flight.entry(model.to_owned()).or_insert(0);
    *count += 1;
    let count = *count;
    counters.total_in_flight += 1;
    counters.max_in_flight = counters.max_in_flight.max(counters.total_in_flight);

    let model_max = counters.max_per_model.entry(model.to_owned()).or_insert(0);
    *model_max = (*model_max).max(count);

    let active: Vec<String> = counters
        .in_flight
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(name, _)| name.clone())
        .collect();
    counters.max_models = counters.max_models.max(active.len());
    for other in active.into_iter().filter(|name| name != model) {
        let pair = if other.as_str() < model {
            (other, model.to_owned())
        } else {
            (model.to_owned(), other)
        };
        counters.overlaps.insert(pair);
    }
}

/// Keeps one request counted as in flight while it lives.
pub(crate) struct InFlight {
    state: Arc<State>,
    model: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counters = self.state.lock();
        if let Some(count) = counters.in_flight.get_mut(&self.model) {
            *count = count.saturating_sub(1);
        }
        counters.total_in_flight = counters.total_in_flight.saturating_sub(1);
    }
}

fn duration_ms(delay: Duration) -> u64 {
    u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
}
