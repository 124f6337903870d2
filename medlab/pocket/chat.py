"""The pocket model's chat format: system/user/assistant turns and think/answer tags.

Hub models bring their own chat template; the pocket model gets this one, written in the
same Jinja dialect, so every notebook calls `tokenizer.apply_chat_template` the same way.

Introduced in notebooks/00_setup.ipynb.
"""

ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
"""Turn markers: special tokens, removed by `decode(..., skip_special_tokens=True)`."""

REASONING_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
"""Ordinary tokens that survive decoding, so answer parsers and format rewards can see them."""

END_OF_TURN = "<|end|>"

EMPTY_THINK_BLOCK = "<think>\n\n</think>\n"
"""What "thinking off" pre-fills after the generation prompt: the reply starts past its reasoning."""

# `enable_thinking=False` pre-fills an empty think block, as Qwen3-style templates do, so the
# evaluation harness can compare thinking on and off with one switch.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for message in messages %}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('roles are system, user and assistant; got ' + message['role']) }}"
    "{%- endif %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{ '<|assistant|>\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{ '" + EMPTY_THINK_BLOCK + "' }}"
    "{%- endif %}"
    "{%- endif %}"
)


def render_chat(messages: list[dict]) -> str:
    """`messages` as the template writes them, without the leading `<s>`: for text that is
    tokenized as plain documents, like the pocket model's pretraining corpus.

    >>> render_chat([{"role": "user", "content": "Hi"}])
    '<|user|>\\nHi<|end|>\\n'
    """
    return "".join(f"<|{m['role']}|>\n{m['content']}{END_OF_TURN}\n" for m in messages)
