"""SmartFlow: tests.fakes."""
