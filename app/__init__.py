"""SmartFlow: app."""
