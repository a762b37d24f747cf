"""The Chooser on an OpenAI-compatible chat completions API, inside a total time budget, never raising."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat

from llm.api import CandidateView, Choice, ChoiceRequest, Chooser, FallbackChooser, fallback_choice
from llm.messages import reask_prompt, response_schema, system_prompt, user_prompt
from llm.reasons import Reason
from llm.validate import AnswerError, Problem, check_answer, compatible, parse_answer, problem_messages

logger = logging.getLogger(__name__)

# What each provider (base URL and model) rejected in this process, so later calls go right the first time:
# "json_mode" (no response_format json_schema), "no_temperature", "max_completion_tokens" (reasoning models).
_QUIRKS: dict[str, set[str]] = {}
_MIN_REQUEST_TIMEOUT = 0.05


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    api_key: str
    model: str
    budget_seconds: float = 8.0
    temperature: float = 0.2
    max_tokens: int = 400


class LLMSettings(Protocol):
    """The part of app.settings.Settings the chooser needs."""

    @property
    def llm_base_url(self) -> str: ...
    @property
    def llm_api_key(self) -> str: ...
    @property
    def llm_model(self) -> str: ...
    @property
    def llm_budget_seconds(self) -> float: ...
    @property
    def llm_configured(self) -> bool: ...


@dataclass
class _Spent:
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _quirk_for(exc: openai.BadRequestError, known: set[str]) -> str | None:
    """The adaptation a 400 asks for, if it names a parameter we can do without and is not yet adapted."""
    text = f"{exc.param or ''} {exc.message} {exc.body!r}".lower()
    if "response_format" in text or "json_schema" in text or "response format" in text:
        quirk = "json_mode"
    elif "max_tokens" in text:
        quirk = "max_completion_tokens"
    elif "temperature" in text:
        quirk = "no_temperature"
    else:
        return None
    return None if quirk in known else quirk


class LLMChooser:
    """Asks the model to choose among the live candidates; any failure returns the fallback choice."""

    def __init__(self, config: LLMConfig, *, http_client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._key = f"{config.base_url}|{config.model}"
        # max_retries=0: the budget is too short for the SDK's backoff; we re-ask at most once ourselves.
        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "unused",  # local providers need none; the SDK insists on one
            max_retries=0,
            timeout=config.budget_seconds,
            http_client=http_client,
        )

    @property
    def quirks(self) -> frozenset[str]:
        return frozenset(_QUIRKS.get(self._key, ()))

    @property
    def json_mode_only(self) -> bool:
        return "json_mode" in self.quirks

    async def aclose(self) -> None:
        await self._client.close()

    async def choose(self, request: ChoiceRequest) -> Choice:
        started = time.monotonic()
        spent = _Spent(model=self._config.model)
        try:
            async with asyncio.timeout(self._config.budget_seconds):
                return await self._choose(request, started, spent)
        except TimeoutError:
            return self._fallback(request, Reason.TIMEOUT, started, spent)
        except Exception:
            # The contract is "never raises": a bug here must not cost the user the card.
            logger.exception("llm choice failed unexpectedly")
            return self._fallback(request, Reason.INTERNAL_ERROR, started, spent)

    async def _choose(self, request: ChoiceRequest, started: float, spent: _Spent) -> Choice:
        candidates = compatible(request)
        if not candidates:
            return self._fallback(request, Reason.NO_CANDIDATES, started, spent)
        deadline = started + self._config.budget_seconds
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system_prompt(request)},
            {"role": "user", "content": user_prompt(request, candidates)},
        ]
        problems: list[Problem] = []
        for attempt in range(2):  # the first answer and at most one re-ask
            outcome = await self._complete(messages, candidates, deadline, spent)
            if isinstance(outcome, Reason):
                return self._fallback(request, outcome, started, spent)
            content, finish_reason = outcome
            problems = self._problems(request, content, finish_reason)
            if not problems:
                answer = parse_answer(content)
                return Choice(
                    selected_candidate_id=answer.selected_candidate_id,
                    explanation=answer.explanation,
                    notification_summary=answer.notification_summary,
                    ask_user_question=answer.ask_user_question,
                    source="llm",
                    model=spent.model,
                    latency_ms=_ms_since(started),
                    prompt_tokens=spent.prompt_tokens,
                    completion_tokens=spent.completion_tokens,
                )
            logger.info("llm answer rejected attempt=%d codes=%s", attempt, [str(p.code) for p in problems])
            messages.append({"role": "assistant", "content": content})
            messages.append({"role": "user", "content": reask_prompt(request, problem_messages(problems))})
        return self._fallback(request, problems[0].code, started, spent)

    @staticmethod
    def _problems(request: ChoiceRequest, content: str, finish_reason: str) -> list[Problem]:
        if finish_reason == "length":
            return [Problem(Reason.TRUNCATED, "the answer was cut off; keep every field shorter")]
        try:
            answer = parse_answer(content)
        except AnswerError as exc:
            return [exc.problem]
        return check_answer(answer, request)

    async def _complete(
        self,
        messages: Sequence[ChatCompletionMessageParam],
        candidates: Sequence[CandidateView],
        deadline: float,
        spent: _Spent,
    ) -> tuple[str, str] | Reason:
        """One completion: (content, finish_reason). A 400 naming a parameter we can drop costs one more."""
        while True:
            quirks = self.quirks
            json_mode = "json_mode" in quirks
            response_format: ResponseFormat = (
                {"type": "json_object"}
                if json_mode
                else {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "candidate_choice",
                        "strict": True,
                        "schema": response_schema(candidates),
                    },
                }
            )
            options: dict[str, Any] = {}
            if "no_temperature" not in quirks:
                options["temperature"] = self._config.temperature
            if "max_completion_tokens" in quirks:
                options["max_completion_tokens"] = self._config.max_tokens
            else:
                options["max_tokens"] = self._config.max_tokens
            remaining = deadline - time.monotonic()
            if remaining <= _MIN_REQUEST_TIMEOUT:
                raise TimeoutError
            sent = time.monotonic()
            try:
                response = await self._client.chat.completions.create(
                    model=self._config.model,
                    messages=messages,
                    response_format=response_format,
                    timeout=remaining,
                    **options,
                )
            except openai.BadRequestError as exc:
                logger.info("llm call status=400 elapsed_ms=%d json_mode=%s", _ms_since(sent), json_mode)
                quirk = _quirk_for(exc, set(quirks))
                if quirk is None:
                    return Reason.HTTP_ERROR
                logger.warning("llm provider rejected a parameter; adapting for this process: %s", quirk)
                _QUIRKS.setdefault(self._key, set()).add(quirk)
                continue
            except openai.RateLimitError:
                logger.info("llm call status=429 elapsed_ms=%d", _ms_since(sent))
                return Reason.RATE_LIMITED
            except openai.APIStatusError as exc:
                logger.info("llm call status=%d elapsed_ms=%d", exc.status_code, _ms_since(sent))
                return Reason.HTTP_ERROR
            except openai.APITimeoutError:
                logger.info("llm call timed out elapsed_ms=%d", _ms_since(sent))
                return Reason.TIMEOUT
            except openai.APIConnectionError as exc:
                logger.info(
                    "llm call failed to connect elapsed_ms=%d: %s", _ms_since(sent), type(exc).__name__
                )
                return Reason.CONNECTION_ERROR
            except (openai.APIError, ValueError) as exc:  # e.g. a 200 whose body is not a completion
                logger.info("llm call bad response elapsed_ms=%d: %s", _ms_since(sent), type(exc).__name__)
                return Reason.BAD_RESPONSE
            logger.info("llm call status=200 elapsed_ms=%d json_mode=%s", _ms_since(sent), json_mode)
            return _read(response, spent)

    def _fallback(self, request: ChoiceRequest, reason: Reason, started: float, spent: _Spent) -> Choice:
        logger.info("llm fallback reason=%s", reason)
        return dataclasses.replace(
            fallback_choice(request, str(reason), latency_ms=_ms_since(started)),
            model=spent.model,
            prompt_tokens=spent.prompt_tokens,
            completion_tokens=spent.completion_tokens,
        )


def _read(response: ChatCompletion, spent: _Spent) -> tuple[str, str] | Reason:
    if not isinstance(response, ChatCompletion):
        # A 200 that is not JSON (a proxy's HTML page): the SDK hands back the text as it is.
        return Reason.BAD_RESPONSE
    spent.model = response.model or spent.model
    if response.usage is not None:
        spent.prompt_tokens += response.usage.prompt_tokens or 0
        spent.completion_tokens += response.usage.completion_tokens or 0
    if not response.choices:
        return Reason.INVALID_JSON
    first = response.choices[0]
    if first.message.refusal:
        return Reason.REFUSAL
    return first.message.content or "", first.finish_reason or ""


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def make_chooser(settings: LLMSettings) -> Chooser:
    """The LLM chooser when one is configured, else the deterministic fallback (quietly)."""
    if not settings.llm_configured:
        return FallbackChooser(str(Reason.NOT_CONFIGURED))
    return LLMChooser(
        LLMConfig(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            budget_seconds=settings.llm_budget_seconds,
        )
    )
