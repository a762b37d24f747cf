"""The TaskReader on an OpenAI-compatible chat completions API: one structured-output call inside a time
budget, never raising (None on any failure, so the bot reads the words itself)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat

from llm.client import LLMConfig, LLMSettings
from prompts.render import fence_data, render

log = logging.getLogger(__name__)

PROMPT_VERSION = "capture_task.v1"
TEXT_LIMIT = 500

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["is_task", "title", "estimate_minutes", "deadline_local", "important"],
    "properties": {
        "is_task": {"type": "boolean"},
        "title": {"type": "string", "maxLength": 100},
        "estimate_minutes": {"type": ["integer", "null"]},
        "deadline_local": {"type": ["string", "null"]},
        "important": {"type": "boolean"},
    },
}


class LLMTaskReader:
    """Fills the capture schema for one message; every field is checked by scheduler.services.capture."""

    def __init__(self, config: LLMConfig, *, http_client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "unused",
            max_retries=0,
            timeout=config.budget_seconds,
            http_client=http_client,
        )
        self._json_mode = False  # the provider refused json_schema once: ask for a JSON object instead

    async def aclose(self) -> None:
        await self._client.close()

    async def read_task(
        self, text: str, now_local: str, weekday: str, timezone: str
    ) -> Mapping[str, Any] | None:
        try:
            async with asyncio.timeout(self._config.budget_seconds):
                return await self._read(text, now_local, weekday, timezone)
        except TimeoutError:
            log.info("llm capture timed out")
        except Exception:
            log.exception("llm capture failed unexpectedly")
        return None

    def _messages(
        self, text: str, now_local: str, weekday: str, timezone: str
    ) -> list[ChatCompletionMessageParam]:
        zh = any("\u4e00" <= ch <= "\u9fff" for ch in text)
        system = render(
            f"{PROMPT_VERSION}.system.{'zh' if zh else 'en'}",
            timezone=timezone,
            now_local=now_local,
            weekday=weekday,
        )
        user = render(f"{PROMPT_VERSION}.user", text=fence_data(text, limit=TEXT_LIMIT))
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    async def _read(self, text: str, now_local: str, weekday: str, timezone: str) -> Mapping[str, Any] | None:
        messages = self._messages(text, now_local, weekday, timezone)
        for _ in range(2):  # once more in JSON mode when the provider refuses structured outputs
            response_format: ResponseFormat = (
                {"type": "json_object"}
                if self._json_mode
                else {
                    "type": "json_schema",
                    "json_schema": {"name": "task_draft", "strict": True, "schema": SCHEMA},
                }
            )
            try:
                response = await self._client.chat.completions.create(
                    model=self._config.model,
                    messages=messages,
                    response_format=response_format,
                    temperature=0,
                    max_tokens=200,
                )
            except openai.BadRequestError as exc:
                if not self._json_mode and "response_format" in f"{exc.param} {exc.message}".lower():
                    self._json_mode = True
                    continue
                log.info("llm capture refused: %s", exc.status_code)
                return None
            except (openai.APIError, ValueError) as exc:
                log.info("llm capture failed: %s", type(exc).__name__)
                return None
            return _answer(response)
        return None


def _answer(response: object) -> Mapping[str, Any] | None:
    if not isinstance(response, ChatCompletion) or not response.choices:
        return None
    content = response.choices[0].message.content or ""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def make_task_reader(settings: LLMSettings) -> LLMTaskReader | None:
    """The model's reader when an LLM is configured, else None (the deterministic parser reads alone)."""
    if not settings.llm_configured:
        return None
    return LLMTaskReader(
        LLMConfig(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            budget_seconds=settings.llm_budget_seconds,
        )
    )
