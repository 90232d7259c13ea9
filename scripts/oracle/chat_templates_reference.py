"""
transformers' renderings of llama.cpp's shipped chat templates (models/templates/*.jinja in
llama.cpp's source, which node-llama-cpp bundles), for lowbit's chat-template test: each template
rendered by transformers' own renderer (render_jinja_template, what apply_chat_template uses)
on four conversations: a system + two-turn chat, one user message, a user message with a tool
available, and a tool call with its result. strftime_now is pinned to 2026-01-15 12:00 so
templates that print today's date render the same in the test. A template that raises (its
raise_exception, e.g. no system role) records the error instead of a text.

  python3 scripts/oracle/chat_templates_reference.py TEMPLATE_DIR OUT.json
"""
import datetime as _dt
import hashlib, json, os, sys, traceback

import transformers
import transformers.utils.chat_template_utils as ctu

FIXED = _dt.datetime(2026, 1, 15, 12, 0, 0)


class _FixedDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED


# strftime_now calls datetime.now() from this module's globals
if isinstance(getattr(ctu, "datetime", None), type):
    ctu.datetime = _FixedDatetime
else:
    import types
    ctu.datetime = types.SimpleNamespace(**{k: getattr(_dt, k) for k in dir(_dt) if not k.startswith("__")})
    ctu.datetime.datetime = _FixedDatetime
if hasattr(ctu, "_compile_jinja_template") and hasattr(ctu._compile_jinja_template, "cache_clear"):
    ctu._compile_jinja_template.cache_clear()

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
        },
    },
}]
CASES = {
    "chat": ([
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello! What is 2+2?"},
        {"role": "assistant", "content": "2+2 is 4."},
        {"role": "user", "content": "And 3+3?"},
    ], None),
    "user": ([{"role": "user", "content": "Write a haiku about the sea."}], None),
    "tools": ([{"role": "user", "content": "What's the weather in Paris?"}], TOOLS),
    "tool_call": ([
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "abc123XYZ", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "abc123XYZ", "content": "22 C, sunny"},
    ], TOOLS),
}


def main():
    src, out = sys.argv[1], sys.argv[2]
    result = {"transformers": transformers.__version__, "date": FIXED.isoformat(), "bos_token": "<s>", "eos_token": "</s>",
              "cases": {k: {"messages": v[0], "tools": v[1]} for k, v in CASES.items()}, "templates": {}}
    for name in sorted(os.listdir(src)):
        if not name.endswith(".jinja"):
            continue
        text = open(os.path.join(src, name), encoding="utf-8").read()
        entry = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "renders": {}}
        for case, (messages, tools) in CASES.items():
            try:
                rendered, _ = ctu.render_jinja_template(
                    conversations=[messages], tools=tools, chat_template=text, add_generation_prompt=True,
                    bos_token="<s>", eos_token="</s>")
                entry["renders"][case] = {"text": rendered[0]}
            except Exception as e:  # the template's own raise_exception, or a jinja error
                entry["renders"][case] = {"error": f"{type(e).__name__}: {e}"}
        result["templates"][name] = entry
        print(name, {k: ("ok" if "text" in v else v["error"][:60]) for k, v in entry["renders"].items()})
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
