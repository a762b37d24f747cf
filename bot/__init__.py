"""SmartFlow: bot."""
