"""SmartFlow: tests.unit."""
