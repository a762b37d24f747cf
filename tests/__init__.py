"""SmartFlow: tests."""
