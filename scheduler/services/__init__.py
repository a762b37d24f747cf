"""SmartFlow: scheduler.services."""
