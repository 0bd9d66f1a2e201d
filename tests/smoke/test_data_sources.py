"""Local datasets (jsonl, csv) and the errors a user sees for bad rows."""

import json

from tests.conftest import FAST, run_cli


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_local_jsonl_with_field_mapping_and_messages(alignlab_home, tmp_path):
    data = tmp_path / "qa.jsonl"
    _write_jsonl(data, [{"question": f"Is film {i} good?", "answer": " Yes, it is wonderful."} for i in range(40)])
    run_cli("train", "sft", *FAST, f"data.dataset={data}", "data.prompt_field=question", "data.response_field=answer",
            "train.max_steps=3", f"run_dir={tmp_path / 'a'}")
    chat = tmp_path / "chat"
    chat.mkdir()
    msgs = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there."}]}]
    _write_jsonl(chat / "train.jsonl", msgs * 20)
    _write_jsonl(chat / "validation.jsonl", msgs * 4)
    run_cli("train", "sft", *FAST, f"data.dataset={chat}", "train.max_steps=3", f"run_dir={tmp_path / 'b'}")
    data_event = json.loads((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()[0])
    assert data_event["split"] == "data" and data_event["eval_rows"] == 4


def test_csv_and_bad_row(alignlab_home, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("prompt,response\n" + "".join(f"p{i},r{i}\n" for i in range(30)) + "p_last,\n")
    proc = run_cli("train", "sft", *FAST, f"data.dataset={csv}", "data.eval_split=null",
                   "data.max_train_samples=null", "train.max_steps=2", check=False, cwd=tmp_path)
    assert proc.returncode == 2
    assert "row 30: field 'response' is missing" in proc.stderr  # the source row, though training shuffles
    assert not (tmp_path / "runs").exists()  # data is checked before the run directory is created


def test_save_to_disk_folder_and_parquet(alignlab_home, tmp_path):
    from datasets import Dataset, DatasetDict

    rows = [{"prompt": f"Film {i} was", "response": " lovely."} for i in range(24)]
    DatasetDict({"train": Dataset.from_list(rows), "validation": Dataset.from_list(rows[:4])}).save_to_disk(
        str(tmp_path / "disk"))
    run_cli("train", "sft", *FAST, f"data.dataset={tmp_path / 'disk'}", "train.max_steps=2", f"run_dir={tmp_path / 'a'}")
    Dataset.from_list(rows).to_parquet(str(tmp_path / "rows.parquet"))
    run_cli("train", "sft", *FAST, f"data.dataset={tmp_path / 'rows.parquet'}", "train.max_steps=2",
            f"run_dir={tmp_path / 'b'}")
    data_event = json.loads((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()[0])
    assert data_event["train_rows"] + data_event["eval_rows"] == 24  # eval_fraction carved out of train
