"""SmartFlow: scheduler.planning."""
