"""SmartFlow: scheduler."""
