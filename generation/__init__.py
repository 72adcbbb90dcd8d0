"""Generation: relation-aware prompts and LLM backends that explain behaviour pairs."""
