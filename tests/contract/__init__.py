"""SmartFlow: tests.contract."""
