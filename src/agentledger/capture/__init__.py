"""Capture: the engine, the instrumented LLM client, tool instrumentation, samplers and run orchestration."""
