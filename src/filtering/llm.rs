//! LLM categorization: one request asks for the categories of several tools; the
//! answer is validated tool by tool; failures are retried with backoff and trip a
//! circuit breaker.
