"""Agent workflows (CoT, ReAct, Reflexion, LATS, LLMCompiler) built from tagged prompt segments."""
