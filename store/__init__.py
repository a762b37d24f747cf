"""SmartFlow: store."""
