//! Clients of inference servers: Ollama and OpenAI-compatible APIs.
