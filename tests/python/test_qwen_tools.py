"""test_qwen_tools.py - tool calling through the official Python SDK's pydantic helper on a real
tool-trained model, Qwen2.5-Coder-0.5B-Instruct, with its shipped drafter: the model chooses to
call get_weather for Paris (tool_choice auto), the result goes back through Qwen's template, and
a named call under the grammar parses into the pydantic model. Skipped unless the GGUF is already
on this machine: `redrafter pull qwen2.5-coder`."""
from pathlib import Path
from typing import Literal, Optional

import openai
import pydantic
import pytest

from rd_server import serve

MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
FILE = next((p for p in [Path.home() / ".cache" / "redrafter" / "models" / f"{MODEL}.gguf",
                         Path("/tmp/rd-bi-models") / f"{MODEL}.gguf"] if p.exists()), None)

pytestmark = pytest.mark.skipif(FILE is None, reason=f"{MODEL}.gguf is not cached (redrafter pull qwen2.5-coder)")


class get_weather(pydantic.BaseModel):  # the class name is the tool's name
    """Get the current weather in a given city"""

    city: str = pydantic.Field(description="The city name")
    # With the unit offered, this 0.5B model answers in its <tool_call> format; with the city
    # alone it writes a markdown JSON block as text (greedy). The SDK flow is what is tested.
    unit: Optional[Literal["celsius", "fahrenheit"]] = None


@pytest.fixture(scope="module")
def client():
    with serve(FILE, "--threads", "1", start_timeout_s=600) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=600)


QUESTION = {"role": "user", "content": "What is the weather like in Paris today?"}


def test_auto_call_parsed_then_the_result_fed_back(client):
    tool = openai.pydantic_function_tool(get_weather)
    r = client.chat.completions.parse(model=MODEL, messages=[QUESTION], tools=[tool], temperature=0, max_tokens=64)
    ch = r.choices[0]
    assert ch.finish_reason == "tool_calls"
    call = ch.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(call.function.parsed_arguments, get_weather) and call.function.parsed_arguments.city == "Paris"

    # create, not parse: parse refuses an answer cut by max_tokens, and the model's choice after
    # the result (it may call again, or answer) is not what is tested
    answer = client.chat.completions.create(
        model=MODEL, tools=[tool], temperature=0, max_tokens=48,
        messages=[QUESTION, ch.message.model_dump(exclude_none=True, exclude={"parsed"}),
                  {"role": "tool", "tool_call_id": call.id, "content": "It is 21 degrees Celsius and sunny in Paris."}])
    # the call, the result and the turns' markers went into the prompt; whatever comes back parses
    assert answer.usage.prompt_tokens > r.usage.prompt_tokens + 30
    for c in answer.choices[0].message.tool_calls or []:
        assert c.function.name == "get_weather" and get_weather.model_validate_json(c.function.arguments).city


def test_named_call_under_the_grammar(client):
    tool = openai.pydantic_function_tool(get_weather)
    r = client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "Is it cold in Oslo?"}], tools=[tool], temperature=0,
        max_tokens=64, tool_choice={"type": "function", "function": {"name": "get_weather"}})
    ch = r.choices[0]
    assert ch.finish_reason == "tool_calls"
    assert ch.message.tool_calls[0].function.parsed_arguments.city == "Oslo"
