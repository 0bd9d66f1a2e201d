import pytest
from datasets import Dataset

from alignlab.config.data import DataConfig
from alignlab.data.sft import IGNORE, tokenize_rows
from alignlab.data.sources import DataError


@pytest.fixture(scope="module")
def tok():
    from alignlab.data.reviews.corpus import CorpusSpec, pretrain_texts
    from alignlab.data.tokenizer import train_bpe

    return train_bpe(pretrain_texts(CorpusSpec(pretrain_docs=300)), 400)


def _targets(tok, ex):
    return tok.decode([t for t in ex["labels"] if t != IGNORE])


def test_completion_only_masks_the_prompt(tok):
    rows = Dataset.from_list([{"prompt": "I watched it and", "response": " it was great."}])
    (ex,), stats = tokenize_rows(rows, tok, DataConfig())
    n_prompt = len(tok("I watched it and", add_special_tokens=False)["input_ids"])
    assert ex["labels"][:n_prompt] == [IGNORE] * n_prompt
    assert ex["labels"][n_prompt:] == ex["input_ids"][n_prompt:]
    assert ex["input_ids"][-1] == tok.eos_token_id
    assert _targets(tok, ex) == " it was great.<|endoftext|>"
    (full,), _ = tokenize_rows(rows, tok, DataConfig(completion_only=False))
    assert IGNORE not in full["labels"]


def test_chat_masks_everything_but_assistant_turns(tok):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"},
            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "More?"},
            {"role": "assistant", "content": "No."}]
    (ex,), _ = tokenize_rows(Dataset.from_list([{"messages": msgs}]), tok, DataConfig())
    assert _targets(tok, ex) == "Hello.<|im_end|>\nNo.<|im_end|>\n"


def test_truncation_and_drops_are_counted(tok):
    rows = Dataset.from_list([
        {"prompt": "short", "response": " fine."},
        {"prompt": "a " * 40, "response": " lost."},       # prompt fills max_length: nothing to train on
        {"prompt": "x", "response": " very long " * 30},    # truncated
    ])
    examples, stats = tokenize_rows(rows, tok, DataConfig(max_length=20))
    assert (stats.rows, stats.kept, stats.truncated, stats.dropped_no_target) == (3, 2, 2, 1)
    assert all(len(e["input_ids"]) <= 20 for e in examples)


@pytest.mark.parametrize("row, message", [
    ({"prompt": "p", "response": None}, "row 1: field 'response' is missing"),
    ({"prompt": None, "response": "r"}, "row 1: field 'prompt' is missing"),
])
def test_bad_rows_name_index_and_field(tok, row, message):
    rows = Dataset.from_list([{"prompt": "ok", "response": "fine"}, row])
    with pytest.raises(DataError, match=message):
        tokenize_rows(rows, tok, DataConfig(format="prompt_response"))


def test_custom_jinja_template_file(tok, tmp_path):
    tpl = tmp_path / "t.jinja"
    tpl.write_text("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                   "{% if add_generation_prompt %}[assistant] {% endif %}")
    rows = Dataset.from_list([{"prompt": "Q", "response": "A!"}])
    (ex,), _ = tokenize_rows(rows, tok, DataConfig(chat_template=str(tpl)))
    assert tok.decode(ex["input_ids"]) == "[user] Q\n[assistant] A!\n"
    assert _targets(tok, ex) == "A!\n"


def test_sampling_renders_prompts_with_the_configured_template(tok, tmp_path):
    from alignlab.config.data import DataConfig
    from alignlab.data.sft import chat_template_for, sampling_chat
    from alignlab.generation.sample import format_prompts

    jinja = tmp_path / "t.jinja"
    jinja.write_text("{% for m in messages %}<<{{ m['content'] }}>>{% endfor %}{% if add_generation_prompt %}=>"
                     "{% endif %}")
    assert sampling_chat(DataConfig(chat=False, chat_template=str(jinja))) is False
    assert sampling_chat(DataConfig(chat=True)) is True
    custom = sampling_chat(DataConfig(chat=True, chat_template=str(jinja)))
    assert format_prompts(["Hi"], tok, custom) == ["<<Hi>>=>"]  # sampling uses the training template
    assert format_prompts(["Hi"], tok, False) == ["Hi"]
    assert format_prompts(["Hi"], tok, True)[0].startswith("<|im_start|>user")
    assert chat_template_for(DataConfig(chat=True, chat_template=str(jinja)), tok) == jinja.read_text()
    assert chat_template_for(DataConfig(chat=False), tok) is None
