"""SmartFlow: bot.feishu."""
