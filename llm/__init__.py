"""SmartFlow: llm."""
