"""The use cases: jobs, triggers, the pipeline to previews, preview views, apply / ignore / undo / expire."""

from __future__ import annotations

from scheduler.services.context import context_for_trigger, load_context
from scheduler.services.dryrun import DryRunReport, dry_run_json, dry_run_text
from scheduler.services.errors import ErrorCode, ServiceError, message
from scheduler.services.jobs import process_due_jobs, promote_urgency, sync_job
from scheduler.services.pipeline import READY_TOPIC, Pipeline, PipelineOutcome
from scheduler.services.triggers import TriggerOutcome, create_trigger
from scheduler.services.views import ChoiceView, OptionView, PreviewView, preview_view

__all__ = [
    "READY_TOPIC",
    "ChoiceView",
    "DryRunReport",
    "ErrorCode",
    "OptionView",
    "Pipeline",
    "PipelineOutcome",
    "PreviewView",
    "ServiceError",
    "TriggerOutcome",
    "context_for_trigger",
    "create_trigger",
    "dry_run_json",
    "dry_run_text",
    "load_context",
    "message",
    "preview_view",
    "process_due_jobs",
    "promote_urgency",
    "sync_job",
]
