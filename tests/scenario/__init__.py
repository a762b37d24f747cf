"""SmartFlow: tests.scenario."""
