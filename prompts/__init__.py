"""SmartFlow: prompts."""
