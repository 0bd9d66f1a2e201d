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


def test_dpo_on_a_local_clone_of_a_hub_preference_repo_trains_on_its_train_split_only(alignlab_home, tmp_path):
    """The ultrafeedback_binarized layout: README.md at the root, data/{train,test}_{prefs,gen}-NNNNN-of-NNNNN.parquet."""
    from datasets import Dataset
    from tests.smoke.test_cli_dpo import DPO_FAST

    repo = tmp_path / "ultrafeedback"
    (repo / "data").mkdir(parents=True)
    (repo / "README.md").write_text("# dataset card\n")
    for split, n in (("train_prefs", 40), ("test_prefs", 8), ("train_gen", 30), ("test_gen", 6)):
        rows = [{"prompt": f"{split} film {i} was", "chosen": " wonderful.", "rejected": " dull."} for i in range(n)]
        Dataset.from_list(rows).to_parquet(str(repo / "data" / f"{split}-00000-of-00001.parquet"))
    run = tmp_path / "dpo"
    run_cli("train", "dpo", *DPO_FAST, f"data.dataset={repo}", "data.train_split=train_prefs",
            "data.eval_split=test_prefs", "data.max_train_samples=null", "train.max_steps=1",
            "eval.in_training_prompts=0", f"run_dir={run}")
    data_event = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert data_event["split"] == "data" and data_event["train_pairs"] == 40 and data_event["eval_pairs"] == 8
    proc = run_cli("train", "dpo", *DPO_FAST, f"data.dataset={repo}", "data.train_split=train_prefs",
                   "train.max_steps=1", check=False)
    assert proc.returncode == 2 and "no split 'validation' (data.eval_split); it has:" in proc.stderr
