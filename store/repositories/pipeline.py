"""Repositories for the pipeline: jobs, triggers, previews, change sets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select

from store.enums import TRIGGER_FINAL, JobStatus, PreviewStatus, TriggerStatus
from store.models import ChangeSet, Job, Preview, Trigger
from store.repositories.base import Repository
from store.repositories.lease import claim


class JobRepository(Repository[Job]):
    model = Job

    async def get_by_task(self, task_id: str, *, for_update: bool = False) -> Job | None:
        stmt = select(Job).where(Job.task_id == task_id)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).one_or_none()

    async def claim_due(self, worker_id: str, now: datetime, lease_seconds: float, limit: int) -> list[Job]:
        """Pending jobs whose trigger_at has passed, leased to `worker_id` (commit to keep the lease)."""
        return await claim(
            self.session,
            Job,
            worker_id,
            now,
            lease_seconds,
            limit,
            where=[Job.status == JobStatus.PENDING, Job.trigger_at <= now],
            order_by=[Job.trigger_at, Job.id],
        )


class TriggerRepository(Repository[Trigger]):
    model = Trigger

    async def find_by_dedupe(self, dedupe_key: str) -> Trigger | None:
        """The live (pending/processing/preview_generated) trigger holding this dedupe key, if any."""
        stmt = select(Trigger).where(Trigger.dedupe_key == dedupe_key)
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_idempotency(self, idempotency_key: str) -> Trigger | None:
        stmt = select(Trigger).where(Trigger.idempotency_key == idempotency_key)
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_message(self, source_message_id: str) -> Trigger | None:
        stmt = select(Trigger).where(Trigger.source_message_id == source_message_id)
        return (await self.session.scalars(stmt)).one_or_none()

    def transition(
        self,
        trigger: Trigger,
        status: TriggerStatus,
        now: datetime,
        *,
        error_code: str | None = None,
        error_detail: str | None = None,
    ) -> None:
        """Move the trigger to `status`; a final status releases its dedupe_key for a new trigger."""
        trigger.status = status
        trigger.updated_at = now
        if status in TRIGGER_FINAL:
            trigger.dedupe_key = None
        if error_code is not None:
            trigger.error_code = error_code
        if error_detail is not None:
            trigger.error_detail = error_detail

    async def recent_for_user(self, user_id: str, limit: int = 20) -> Sequence[Trigger]:
        stmt = (
            select(Trigger)
            .where(Trigger.user_id == user_id)
            .order_by(Trigger.created_at.desc(), Trigger.id)
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()


class PreviewRepository(Repository[Preview]):
    model = Preview

    async def get_by_trigger(self, trigger_id: str) -> Preview | None:
        stmt = select(Preview).where(Preview.trigger_id == trigger_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_apply_key(self, apply_idempotency_key: str) -> Preview | None:
        stmt = select(Preview).where(Preview.apply_idempotency_key == apply_idempotency_key)
        return (await self.session.scalars(stmt)).one_or_none()

    async def expiring(self, now: datetime, limit: int = 100) -> Sequence[Preview]:
        """Ready previews whose expires_at has passed."""
        stmt = (
            select(Preview)
            .where(Preview.status == PreviewStatus.READY, Preview.expires_at <= now)
            .order_by(Preview.expires_at, Preview.id)
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def recent(self, user_id: str | None = None, limit: int = 20) -> Sequence[Preview]:
        stmt = select(Preview)
        if user_id is not None:
            stmt = stmt.where(Preview.user_id == user_id)
        stmt = stmt.order_by(Preview.created_at.desc(), Preview.id).limit(limit)
        return (await self.session.scalars(stmt)).all()


class ChangeSetRepository(Repository[ChangeSet]):
    model = ChangeSet

    async def get_by_preview(self, preview_id: str) -> ChangeSet | None:
        stmt = select(ChangeSet).where(ChangeSet.preview_id == preview_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_previews(self, preview_ids: Iterable[str]) -> Sequence[ChangeSet]:
        wanted = sorted(set(preview_ids))
        if not wanted:
            return []
        return (await self.session.scalars(select(ChangeSet).where(ChangeSet.preview_id.in_(wanted)))).all()

    async def applied_since(self, user_ids: Iterable[str], since: datetime) -> Sequence[ChangeSet]:
        """The users' change sets applied at or after `since` and not undone (the moves made today)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return []
        stmt = select(ChangeSet).where(
            ChangeSet.user_id.in_(wanted), ChangeSet.applied_at >= since, ChangeSet.undone_at.is_(None)
        )
        return (await self.session.scalars(stmt)).all()
