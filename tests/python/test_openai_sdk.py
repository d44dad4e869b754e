"""test_openai_sdk.py - the official Python `openai` SDK against a real `redrafter serve` on a
tiny random GGUF made by native/build/make-tiny-model: streamed and whole chat, usage, errors,
tool calls through the SDK's pydantic helper (a forced call, the result fed back)."""
import subprocess
import tempfile
from pathlib import Path

import openai
import pydantic
import pytest
from typing import Literal

from rd_server import ROOT, serve

MAKE_TINY = ROOT / "native" / "build" / "make-tiny-model"


@pytest.fixture(scope="module")
def base_url():
    if not MAKE_TINY.exists():
        subprocess.run(["node", str(ROOT / "scripts" / "build-native.js")], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="rd-py-") as tmp:
        model = Path(tmp) / "tiny-model.gguf"
        subprocess.run([str(MAKE_TINY), str(model), "--seed", "3"], check=True, capture_output=True)
        with serve(model, "--threads", "1", "--flash-attn", "off") as url:
            yield url


@pytest.fixture(scope="module")
def client(base_url):
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)


MESSAGES = [{"role": "user", "content": "Tell me about llamas."}]


def test_streamed_chat_matches_whole(client):
    # a random model may sample EOS first: keep it generating so there is text to compare
    more = {"ignore_eos": True}
    whole = client.chat.completions.create(model="tiny-model", messages=MESSAGES, max_tokens=12, temperature=0, extra_body=more)
    assert whole.usage.completion_tokens == 12
    stream = client.chat.completions.create(
        model="tiny-model", messages=MESSAGES, max_tokens=12, temperature=0,
        stream=True, stream_options={"include_usage": True}, extra_body=more,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content and text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_extension_fields_survive_the_sdk(client):
    r = client.chat.completions.create(model="tiny-model", messages=MESSAGES, max_tokens=4, temperature=0,
                                       extra_body={"top_k": 5, "redrafter": {"draft": False}})
    stats = r.model_extra["redrafter"]
    assert stats["drafted_tokens"] == 0
    assert stats["target_calls"] >= 1
    assert set(stats["timings"]) >= {"prompt_ms", "generation_ms", "tokens_per_s", "ttft_ms"}


def test_errors_map_to_sdk_exceptions(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny-model", messages=MESSAGES, temperature=5)
    assert e.value.body["param"] == "temperature"


def test_models_list(client):
    assert [m.id for m in client.models.list()] == ["tiny-model"]


class GetWeather(pydantic.BaseModel):
    """Current weather in a city."""

    city: str = pydantic.Field(max_length=6)  # bounded: a random model may never close a string
    unit: Literal["celsius", "fahrenheit"]


def test_tool_call_parsed_by_the_pydantic_helper(client):
    tool = openai.pydantic_function_tool(GetWeather)
    choice = {"type": "function", "function": {"name": "GetWeather"}}
    r = client.chat.completions.parse(model="tiny-model", messages=MESSAGES, tools=[tool], tool_choice=choice,
                                      temperature=0, max_tokens=200)
    ch = r.choices[0]
    assert ch.finish_reason == "tool_calls"
    call = ch.message.tool_calls[0]
    assert call.id.startswith("call_") and call.function.name == "GetWeather"
    args = call.function.parsed_arguments  # validated by pydantic against the model
    assert isinstance(args, GetWeather) and len(args.city) <= 6

    # the result fed back: the history renders and the model answers
    r2 = client.chat.completions.create(
        model="tiny-model", tools=[tool], tool_choice="none", max_tokens=4, extra_body={"ignore_eos": True},
        messages=[*MESSAGES, ch.message.model_dump(exclude_none=True, exclude={"parsed"}),
                  {"role": "tool", "tool_call_id": call.id, "content": "21 C, sunny"}])
    assert r2.choices[0].finish_reason == "length" and r2.choices[0].message.tool_calls is None
