//! Behaviour tests of the clients against the fake inference server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heatmap_proto::types::{BackendKind, PromptMode};
use heatmap_tests::fake::{Api, FakeConfig, FakeReply, FakeRequest, FakeServer};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::*;

const KINDS: [BackendKind; 2] = [BackendKind::Ollama, BackendKind::OpenAi];

async fn serve<F>(script: F) -> FakeServer
where
    F: Fn(&FakeRequest) -> FakeReply + Send + Sync + 'static,
{
    FakeServer::start(FakeConfig::new(["tiny", "gemma3:1b"], script)).await
}

fn client(kind: BackendKind, server: &FakeServer) -> Client {
    Client::new(kind, server.url()).unwrap()
}

fn quick_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

/// Waits until the fake has no request in flight, for at most two seconds.
async fn wait_until_idle(server: &FakeServer) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.in_flight()
}

#[tokio::test]
async fn ollama_generate_streams_and_sends_options() {
    let server = serve(|_| FakeReply::text("Paris").chunks(3).thinking("capital?")).await;
    let mut request = GenerateRequest::new("tiny", "Capital of France?", PromptMode::Chat, 0.3);
    request.seed = Some(7);
    request.max_tokens = Some(16);
    request.stop = vec!["\n".to_owned()];

    let cancel = CancellationToken::new();
    let answer = client(BackendKind::Ollama, &server)
        .generate(&request, &cancel)
        .await
        .unwrap();
    assert_eq!(answer.text, "Paris");
    assert_eq!(answer.thinking.as_deref(), Some("capital?"));
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    assert_eq!(answer.prompt_tokens, Some(3));
    assert_eq!(answer.completion_tokens, Some(3));
    assert!(answer.server_durations.total.is_some());
    assert_eq!(
        answer.server_durations.eval,
        Some(Duration::from_nanos(3_000))
    );
    assert!(answer.latency > Duration::ZERO);
    assert!(answer.sent.get("prompt").is_none(), "{}", answer.sent);
    assert_eq!(answer.sent["options"]["temperature"], json!(0.3));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let got = &requests[0];
    assert_eq!(got.api, Api::OllamaGenerate);
    assert_eq!(got.prompt, "Capital of France?");
    assert_eq!(got.temperature, Some(0.3));
    assert_eq!(got.top_level_temperature, None);
    assert_eq!(got.seed, Some(7));
    assert_eq!(got.body["options"]["num_predict"], json!(16));
    assert_eq!(got.body["options"]["stop"], json!(["\n"]));
    assert!(got.body.get("raw").is_none());
}

#[tokio::test]
async fn ollama_completion_sends_raw_and_json_format() {
    let server = serve(|_| FakeReply::text("{\"a\": 1}")).await;
    let mut request = GenerateRequest::new("tiny", "Q: x\nA:", PromptMode::Completion, 0.0);
    request.json_output = true;
    let answer = client(BackendKind::Ollama, &server)
        .generate(&request, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(answer.text, "{\"a\": 1}");
    let got = &server.requests()[0];
    assert_eq!(got.body["raw"], json!(true));
    assert_eq!(got.body["format"], json!("json"));
    assert_eq!(got.temperature, Some(0.0));
}

#[tokio::test]
async fn openai_chat_streams_usage_and_timings() {
    let server = serve(|_| {
        FakeReply::text("Zürich is in Switzerland")
            .chunks(4)
            .thinking("where?")
            .finish_reason("length")
            .split_lines()
            .crlf()
    })
    .await;
    let mut request = GenerateRequest::new("tiny", "Where is Zürich?", PromptMode::Chat, 0.7);
    request.seed = Some(1);
    let answer = client(BackendKind::OpenAi, &server)
        .generate(&request, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(answer.text, "Zürich is in Switzerland");
    assert_eq!(answer.thinking.as_deref(), Some("where?"));
    assert_eq!(answer.finish_reason.as_deref(), Some("length"));
    assert_eq!(answer.prompt_tokens, Some(3));
    assert_eq!(answer.completion_tokens, Some(4));
    assert_eq!(answer.server_durations.eval, Some(Duration::from_millis(3)));
    assert!(answer.timings.is_some());
    assert!(answer.sent.get("messages").is_none(), "{}", answer.sent);
    assert_eq!(
        answer.sent["stream_options"],
        json!({"include_usage": true})
    );

    let got = &server.requests()[0];
    assert_eq!(got.api, Api::OpenAiChat);
    assert_eq!(got.prompt, "Where is Zürich?");
    assert_eq!(got.temperature, Some(0.7));
    assert_eq!(got.seed, Some(1));
}

#[tokio::test]
async fn openai_completion_streams_text() {
    let server = serve(|_| FakeReply::text(" 4").chunks(2)).await;
    let request = GenerateRequest::new("tiny", "2+2=", PromptMode::Completion, 1.0);
    let answer = client(BackendKind::OpenAi, &server)
        .generate(&request, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(answer.text, " 4");
    assert_eq!(answer.completion_tokens, Some(2));
    let got = &server.requests()[0];
    assert_eq!(got.api, Api::OpenAiCompletion);
    assert_eq!(got.prompt, "2+2=");
}

#[tokio::test]
async fn error_in_200_stream_is_transient() {
    let server = serve(|_| FakeReply::error_after("Par", "runner crashed")).await;
    for kind in KINDS {
        let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
        let error = client(kind, &server)
            .generate(&request, &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                BackendError::Transient {
                    kind: TransientKind::StreamError,
                    ..
                }
            ),
            "{kind}: {error}"
        );
        assert!(error.to_string().contains("runner crashed"), "{error}");
    }
}

#[tokio::test]
async fn stream_cut_short_is_transient() {
    for reply in [
        FakeReply::cut_short("Par"),
        FakeReply::disconnect_after("Par"),
    ] {
        let server = serve(move |_| reply.clone()).await;
        for kind in KINDS {
            let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
            let error = client(kind, &server)
                .generate(&request, &CancellationToken::new())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    error,
                    BackendError::Transient {
                        kind: TransientKind::CutShort,
                        ..
                    }
                ),
                "{kind}: {error}"
            );
        }
    }
}

#[tokio::test]
async fn busy_status_is_transient_with_retry_after() {
    let server = serve(|_| {
        FakeReply::status(503)
            .retry_after(4)
            .message("loading model")
    })
    .await;
    for kind in KINDS {
        let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
        let error = client(kind, &server)
            .generate(&request, &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{kind}: {error}");
        assert_eq!(error.status(), Some(503));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(4)));
        assert!(error.to_string().contains("loading model"), "{error}");
    }
}

#[tokio::test]
async fn bad_request_is_permanent() {
    let server = serve(|_| FakeReply::status(400).message("invalid stop")).await;
    let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
    let outcome = generate_with_retry(
        &client(BackendKind::OpenAi, &server),
        &request,
        &quick_policy(5),
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(outcome.attempts, 1);
    let error = outcome.result.unwrap_err();
    assert!(
        matches!(
            error,
            BackendError::Permanent {
                status: Some(400),
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn unknown_model_fails_at_once_with_list() {
    let server = serve(|_| FakeReply::text("never")).await;
    for kind in KINDS {
        let request = GenerateRequest::new("llama9", "q", PromptMode::Chat, 0.5);
        let outcome = generate_with_retry(
            &client(kind, &server),
            &request,
            &quick_policy(5),
            &CancellationToken::new(),
            |_| {},
        )
        .await;
        assert_eq!(outcome.attempts, 1, "{kind}");
        let error = outcome.result.unwrap_err();
        let BackendError::ModelNotFound {
            models, available, ..
        } = &error
        else {
            panic!("{kind}: expected model not found, got {error}");
        };
        assert_eq!(models, &["llama9"]);
        assert_eq!(
            available.as_deref(),
            Some(&["tiny".to_owned(), "gemma3:1b".to_owned()][..])
        );
        assert!(
            error.to_string().contains("available: tiny, gemma3:1b"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn retry_recovers_after_transient_failures() {
    let server = serve(|request| match request.attempt {
        1 => FakeReply::status(503),
        2 => FakeReply::error_after("Pa", "out of memory"),
        3 => FakeReply::cut_short("Pa"),
        _ => FakeReply::text("Paris"),
    })
    .await;
    for kind in KINDS {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        // Each kind gets its own key, so the attempt counter starts again.
        let request =
            GenerateRequest::new("tiny", format!("capital {kind}"), PromptMode::Chat, 0.2);
        let outcome = generate_with_retry(
            &client(kind, &server),
            &request,
            &quick_policy(5),
            &CancellationToken::new(),
            move |retry| {
                record
                    .lock()
                    .unwrap()
                    .push((retry.attempt, retry.error.status()))
            },
        )
        .await;
        assert_eq!(outcome.attempts, 4, "{kind}");
        assert_eq!(outcome.result.unwrap().text, "Paris");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [(1, Some(503)), (2, Some(200)), (3, Some(200))],
            "{kind}"
        );
    }
    assert_eq!(server.requests().len(), 8);
}

#[tokio::test]
async fn retry_gives_up_after_max_attempts() {
    let server = serve(|_| FakeReply::status(500)).await;
    let mut retries = 0;
    let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
    let outcome = generate_with_retry(
        &client(BackendKind::Ollama, &server),
        &request,
        &quick_policy(3),
        &CancellationToken::new(),
        |_| retries += 1,
    )
    .await;
    assert_eq!(outcome.attempts, 3);
    assert_eq!(retries, 2);
    assert_eq!(outcome.result.unwrap_err().status(), Some(500));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn retry_waits_for_retry_after() {
    let server = serve(|request| {
        if request.attempt == 1 {
            FakeReply::status(429).retry_after(1)
        } else {
            FakeReply::text("ok")
        }
    })
    .await;
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(5),
    };

    let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
    let mut delays = Vec::new();
    let started = Instant::now();
    let outcome = generate_with_retry(
        &client(BackendKind::OpenAi, &server),
        &request,
        &policy,
        &CancellationToken::new(),
        |retry| delays.push(retry.delay),
    )
    .await;
    assert_eq!(outcome.result.unwrap().text, "ok");
    assert_eq!(delays, [Duration::from_secs(1)]);

    let requests = server.requests();
    let gap = requests[1].received_at - requests[0].received_at;
    assert!(
        gap >= Duration::from_secs(1),
        "second attempt came after {gap:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn cancel_aborts_hanging_request() {
    let server = serve(|_| FakeReply::hang()).await;
    for kind in KINDS {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.cancel();
        });
        let started = Instant::now();
        let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
        let outcome = generate_with_retry(
            &client(kind, &server),
            &request,
            &quick_policy(5),
            &cancel,
            |_| {},
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{kind}: {:?}",
            started.elapsed()
        );
        assert_eq!(outcome.attempts, 1);
        let error = outcome.result.unwrap_err();
        assert!(error.is_cancelled(), "{kind}: {error}");
        assert_eq!(
            wait_until_idle(&server).await,
            0,
            "{kind}: the server still streams"
        );
    }
}

#[tokio::test]
async fn cancel_before_first_byte_is_prompt() {
    let server = FakeServer::start(
        FakeConfig::new(["tiny"], |_| FakeReply::text("late")).delay(Duration::from_secs(30)),
    )
    .await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
    let error = client(BackendKind::Ollama, &server)
        .generate(&request, &cancel)
        .await
        .unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn cancel_during_backoff_stops_retrying() {
    let server = serve(|_| FakeReply::status(503).retry_after(30)).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let policy = RetryPolicy {
        max_delay: Duration::from_secs(60),
        ..RetryPolicy::default()
    };
    let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
    let started = Instant::now();
    let outcome = generate_with_retry(
        &client(BackendKind::Ollama, &server),
        &request,
        &policy,
        &cancel,
        move |_| trigger.cancel(),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(outcome.attempts, 1);
    assert!(outcome.result.unwrap_err().is_cancelled());
}

#[tokio::test]
async fn read_timeout_turns_hang_into_transient() {
    let server = serve(|_| FakeReply::hang()).await;
    let options = ClientOptions {
        read_timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    };
    for kind in KINDS {
        let client = Client::with_options(kind, server.url(), options.clone()).unwrap();
        let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
        let error = client
            .generate(&request, &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                BackendError::Transient {
                    kind: TransientKind::Timeout,
                    ..
                }
            ),
            "{kind}: {error}"
        );
    }
}

#[tokio::test]
async fn refused_connection_is_transient() {
    let server = serve(|_| FakeReply::text("x")).await;
    let url = server.url().to_owned();
    server.shutdown();
    let client = Client::new(BackendKind::Ollama, &url).unwrap();
    let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
    let error = client
        .generate(&request, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            BackendError::Transient {
                kind: TransientKind::Connection,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains(&url), "{error}");
}

#[tokio::test]
async fn list_and_check_models() {
    let server = serve(|_| FakeReply::text("x")).await;
    server.set_models(["tiny:latest", "gemma3:1b"]);
    for kind in KINDS {
        let client = client(kind, &server);
        let models = client.list_models().await.unwrap();
        let names: Vec<&str> = models.iter().map(|model| model.name.as_str()).collect();
        assert_eq!(names, ["tiny:latest", "gemma3:1b"], "{kind}");
        client
            .check_models(&["gemma3:1b".to_owned()])
            .await
            .unwrap();

        let expected = [
            "gemma3:1b".to_owned(),
            "llama9".to_owned(),
            "qwen9".to_owned(),
        ];
        let error = client.check_models(&expected).await.unwrap_err();
        let BackendError::ModelNotFound {
            models, available, ..
        } = &error
        else {
            panic!("{kind}: expected model not found, got {error}");
        };
        assert_eq!(models, &["llama9", "qwen9"], "{kind}");
        assert_eq!(available.as_ref().map(Vec::len), Some(2), "{kind}");
    }
    let ollama = client(BackendKind::Ollama, &server);
    let tags = ollama.list_models().await.unwrap();
    assert_eq!(tags[0].family.as_deref(), Some("fake"));
    assert_eq!(tags[0].quantization.as_deref(), Some("Q4_0"));
    ollama.check_models(&["tiny".to_owned()]).await.unwrap();
    let openai = client(BackendKind::OpenAi, &server);
    openai.check_models(&["tiny".to_owned()]).await.unwrap();
    assert!(openai.check_models(&["gemma3".to_owned()]).await.is_err());
}

#[tokio::test]
async fn wrong_backend_kind_is_permanent() {
    let server = serve(|_| FakeReply::text("x")).await;
    let client = Client::new(BackendKind::Ollama, &format!("{}/nothing", server.url())).unwrap();
    let request = GenerateRequest::new("tiny", "q", PromptMode::Chat, 0.5);
    let error = client
        .generate(&request, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            BackendError::Permanent {
                status: Some(404),
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn parallel_requests_are_all_in_flight() {
    let server = FakeServer::start(
        FakeConfig::new(["tiny", "gemma3:1b"], |_| FakeReply::text("ok"))
            .delay(Duration::from_millis(200)),
    )
    .await;
    let client = client(BackendKind::OpenAi, &server);
    let cancel = CancellationToken::new();
    let mut tasks = Vec::new();
    for index in 0..6 {
        let client = client.clone();
        let cancel = cancel.clone();
        let model = if index % 2 == 0 { "tiny" } else { "gemma3:1b" };
        let request = GenerateRequest::new(model, format!("q{index}"), PromptMode::Chat, 0.5);
        tasks.push(tokio::spawn(async move {
            client.generate(&request, &cancel).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().text, "ok");
    }
    assert_eq!(server.max_in_flight(), 6);
    assert_eq!(server.max_in_flight_per_model().get("tiny"), Some(&3));
    assert_eq!(server.max_models_in_flight(), 2);
    assert_eq!(server.requests_per_model().get("gemma3:1b"), Some(&3));
    assert_eq!(server.in_flight(), 0);
}
