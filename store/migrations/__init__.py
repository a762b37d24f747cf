"""SmartFlow: store.migrations."""
