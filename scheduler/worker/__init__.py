"""SmartFlow: scheduler.worker."""
